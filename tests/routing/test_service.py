"""The routing service's short cache of each merchant's routing configuration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from routing_helpers import add_account, attempts, confirm, set_routing
from sqlalchemy import event

from strongbox.routing import service as routing_service
from strongbox.routing.models import RoutingConfig
from strongbox.runtime import Runtime
from support import Merchant


def _account_of(api: TestClient) -> str | None:
    r = confirm(api)
    assert r.status_code == 200, r.text
    (attempt,) = attempts(api, r.json()["id"])
    account: str | None = attempt["connector_account"]
    return account


@contextmanager
def _config_reads(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if re.search(r"\bFROM routing_configs\b", statement):
            seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)


def test_a_change_through_this_process_applies_to_the_next_payment(
    api: TestClient, gateways: Any
) -> None:
    assert _account_of(api) is None  # no configuration: the default connector
    a = add_account(api, "sim_a")["id"]
    b = add_account(api, "sim_b")["id"]
    set_routing(api, {"default": {"connectors": [a]}})
    assert _account_of(api) == a
    set_routing(api, {"default": {"connectors": [b]}})
    assert _account_of(api) == b


def test_the_configuration_is_read_once_per_cache_period(
    api: TestClient, runtime: Runtime, gateways: Any
) -> None:
    a = add_account(api, "sim_a")["id"]
    set_routing(api, {"default": {"connectors": [a]}})
    with _config_reads(runtime) as reads:
        assert [_account_of(api) for _ in range(3)] == [a, a, a]
    assert len(reads) == 1


def test_a_change_made_by_another_process_applies_within_the_cache_period(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    gateways: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(runtime.routing, "monotonic", lambda: clock[0])
    a = add_account(api, "sim_a")["id"]
    assert _account_of(api) is None  # caches "no configuration"
    # Another process writes the configuration: this one does not hear of it.
    with runtime.db.unit_of_work() as uow:
        uow.session.add(
            RoutingConfig(
                merchant_id=merchant.id,
                config={"rules": [], "default": {"connectors": [a]}},
                version=1,
                updated=datetime.now(UTC),
            )
        )
        uow.commit()
    assert _account_of(api) is None
    clock[0] += routing_service.CONFIG_CACHE_SECONDS + 0.01
    assert _account_of(api) == a
