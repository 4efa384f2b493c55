"""Helpers for the compliance tests: run controls against the test's runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from strongbox.compliance import service
from strongbox.compliance.controls import CheckContext, HttpProbe, registry
from strongbox.runtime import Runtime
from strongbox.workers import compliance as wiring

GOOD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def good_probe() -> HttpProbe:
    return HttpProbe(
        headers=GOOD_HEADERS,
        tls_headers={**GOOD_HEADERS, "Strict-Transport-Security": "max-age=63072000"},
        oversized_status=413,
        max_body_bytes=1024,
    )


RunControl = Callable[..., dict[str, Any]]


@pytest.fixture
def check(runtime: Runtime) -> RunControl:
    """``check("3.3.1")`` -> the control's stored result (status, summary, evidence);
    ``probe=`` replaces the in-process API probe, ``**ctx`` any context field."""

    def run(control_id: str, probe: Callable[[], HttpProbe] | None = None, **ctx: Any) -> Any:
        (c,) = [c for c in registry() if c.id == control_id]
        build = wiring.context_for(runtime, probe=False)
        with runtime.db.read() as session:
            context: CheckContext = build(session, runtime.db.clock.now())
            context.http_probe = probe or good_probe
            for k, v in ctx.items():
                setattr(context, k, v)
            (result,) = service.evaluate(context, [c])
        return result

    return run
