"""Helpers for routing tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def add_account(api: TestClient, connector: str, **params: str) -> dict[str, Any]:
    r = api.post("/v1/connector_accounts", data={"connector": connector, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def set_routing(api: TestClient, config: dict[str, Any]) -> dict[str, Any]:
    r = api.post("/v1/routing", json=config)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def confirm(api: TestClient, pm: str = "pm_card_visa", **extra: Any) -> Any:
    return api.post(
        "/v1/payment_intents",
        data={
            "amount": "2000",
            "currency": "usd",
            "payment_method": pm,
            "confirm": "true",
            **extra,
        },
    )


def attempts(api: TestClient, pi_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/v1/payment_intents/{pi_id}/history")
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["attempts"]
    return data
