"""Authentication on every endpoint, derived from the route table.

Every route of the app that is not public (marked ``@public_route``, or under
``api.security.PUBLIC_PATHS`` / ``PUBLIC_PREFIXES``) is called with no key, malformed keys, a
revoked key, a publishable key and another merchant's secret key. A route added later is
covered without touching this file; a route that must not take a key has to declare itself
with ``@public_route`` (GET only, and few of them), and a route that takes publishable keys
has to say so with ``@accepts_publishable_key``. Operator routes (``@operator_route``, session
cookies instead of keys) have their own matrix: ``test_operator_matrix.py``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.api.security import (
    PUBLIC_PATHS,
    PUBLIC_PREFIXES,
    is_operator_route,
    is_public_path,
    is_public_route,
    iter_routes,
)
from strongbox.auth.models import ApiKey
from strongbox.auth.service import create_merchant
from strongbox.runtime import Runtime
from support import Merchant, error_of, make_merchant

# Path parameters that name one of merchant A's objects (see conftest.a_objects); any other
# parameter gets an id that exists nowhere, which must still be refused before any lookup.
PARAM_OBJECTS = {
    "intent_id": "held",
    "customer_id": "customer",
    "refund_id": "refund",
    "pm_id": "payment_method",
    "event_id": "event",
}
MALFORMED = [
    "sk_test_abc",
    "Bearer",
    "Bearer ",
    "Bearer not-a-key",
    "Token sk_test_abc",
    "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"nobody:").decode(),
    "Bearer sk_test_" + "A" * 300,
    "Bearer sk_test_unknownunknownunknownunknown12",
    "Bearer whsec_abc",
]


def _routes(runtime: Runtime) -> list[tuple[str, str, Any]]:
    app = create_app(runtime, run_workers=False)
    out = []
    for path, methods, endpoint in iter_routes(app.routes):
        if not is_public_route(path, endpoint) and not is_operator_route(endpoint):
            for method in sorted(methods - {"HEAD"}):
                out.append((method, path, endpoint))
    return out


def _path(template: str, objects: dict[str, str]) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        kind = PARAM_OBJECTS.get(name)
        return objects[kind] if kind else "zz_doesnotexist"

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", fill, template)


def _call(client: TestClient, method: str, path: str, header: str | None) -> Any:
    headers = {"Authorization": header} if header is not None else {}
    # A plausible body: if authentication were skipped, the write would happen.
    data = {"name": "intruder", "metadata[x]": "y"} if method == "POST" else None
    return client.request(method, path, headers=headers, data=data)


@pytest.fixture
def routes(runtime: Runtime) -> list[tuple[str, str, Any]]:
    found = _routes(runtime)
    assert len(found) >= 15, "the route table looks empty"
    return found


def test_the_public_list_is_small_and_explicit(runtime: Runtime) -> None:
    app = create_app(runtime, run_workers=False)
    marked = {
        (path, method)
        for path, methods, endpoint in iter_routes(app.routes)
        if is_public_route(path, endpoint) and not is_public_path(path)
        for method in methods - {"HEAD"}
    }
    assert {method for _, method in marked} == {"GET"}  # read-only probes
    assert {path for path, _ in marked} >= {"/healthz", "/healthz/keys"}
    # 11: the OAuth2 server adds the /oauth/ tree (clients authenticate with their own
    # credentials) and its RFC 8414 metadata, which must live at /.well-known/ (issue 17).
    assert len(PUBLIC_PATHS) + len(PUBLIC_PREFIXES) + len(marked) <= 11


def test_no_key_and_malformed_keys_are_401_everywhere(
    client: TestClient,
    api: TestClient,
    objects: dict[str, str],
    routes: list[tuple[str, str, Any]],
    snapshot: Callable[[], Any],
) -> None:
    before = snapshot()
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    for method, template, _ in routes:
        path = _path(template, objects)
        for header in [None, *MALFORMED]:
            r = _call(anonymous, method, path, header)
            err = error_of(r, 401)
            assert err["type"] == "invalid_request_error", (method, path, header)
    assert snapshot() == before


def test_revoked_key_is_401_everywhere(
    runtime: Runtime,
    client: TestClient,
    objects: dict[str, str],
    routes: list[tuple[str, str, Any]],
    snapshot: Callable[[], Any],
    merchant: Merchant,
) -> None:
    # A second, working secret key of merchant A, then revoked.
    with runtime.db.unit_of_work() as uow:
        other = create_merchant(uow, "Revocation")
        key = other.secret_key.reveal()
        uow.commit()
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    assert anonymous.get("/v1/customers", headers={"Authorization": f"Bearer {key}"}).is_success
    with runtime.db.engine.begin() as conn:
        conn.execute(
            sa.update(ApiKey)
            .where(ApiKey.merchant_id == other.merchant.id)
            .values(revoked_at=sa.func.now())
        )
    runtime.key_cache.clear()  # revocation is visible at once here, within 30 s in general
    before = snapshot()
    for method, template, _ in routes:
        r = _call(anonymous, method, _path(template, objects), f"Bearer {key}")
        error_of(r, 401)
    assert snapshot() == before


def test_publishable_keys_are_refused_where_a_secret_key_is_required(
    client: TestClient,
    objects: dict[str, str],
    routes: list[tuple[str, str, Any]],
    snapshot: Callable[[], Any],
    merchant: Merchant,
) -> None:
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    before = snapshot()
    for method, template, endpoint in routes:
        r = _call(anonymous, method, _path(template, objects), f"Bearer {merchant.publishable_key}")
        if getattr(endpoint, "__strongbox_publishable__", False):
            assert r.status_code != 403, (method, template, "declared publishable, refused")
            assert r.status_code != 401, (method, template)
        else:
            err = error_of(r, 403)
            assert err["code"] == "secret_key_required", (method, template)
    assert snapshot() == before


def test_another_merchants_key_never_reaches_a_objects(
    runtime: Runtime,
    client: TestClient,
    objects: dict[str, str],
    routes: list[tuple[str, str, Any]],
    snapshot: Callable[[], Any],
) -> None:
    b = make_merchant(runtime, "Merchant B")
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    before = snapshot()
    for method, template, _ in routes:
        path = _path(template, objects)
        r = _call(anonymous, method, path, f"Bearer {b.secret_key}")
        if "{" in template:
            # Wrong tenant looks exactly like a missing object (or the parameters are refused
            # first); never a 2xx, never A's object.
            assert r.status_code in (400, 404), (method, path, r.status_code, r.text[:200])
            error_of(r)
        else:
            assert r.status_code < 500, (method, path, r.text[:200])
            if r.is_success and method == "GET":
                for oid in objects.values():
                    assert oid not in r.text, (method, path, "leaks", oid)
    # B's own creates are allowed; A's rows stay exactly as they were.
    after = snapshot()
    for table, rows in before.items():
        a_rows = [row for row in rows if b.id not in repr(row)]
        assert all(row in after[table] for row in a_rows), table
        b_rows = [row for row in after[table] if any(o in repr(row) for o in objects.values())]
        assert all(row in rows for row in b_rows), (table, "a row mentioning A's objects changed")
