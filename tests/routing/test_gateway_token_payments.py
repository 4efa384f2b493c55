"""Payment methods held by a gateway (card[token] + connector_account), over the HTTP API.

``sim_tokens`` (see conftest) is an in-process gateway that keeps cards behind its own tokens,
as Stripe.js or Braintree's client SDK do; the wire formats of the real ones are tested in
``tests/connectors`` and through their fakes in ``test_gateway_token_fakes.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from routing_helpers import add_account, attempts, confirm, set_routing

from routing.token_gateway import TokenGateway
from strongbox.connectors.base import (
    Capability,
    OperationKind,
    RetryableError,
    TerminalError,
    UnsupportedTokenError,
)
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.events.models import OutboxEvent
from strongbox.events.types import RequestContext
from strongbox.routing.health import BreakerSettings
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import Merchant, error_of


def setup(api: TestClient) -> tuple[str, str, str]:
    """Routing sends ordinary payments to sim_a then sim_b; sim_tokens is not in it at all."""
    a = add_account(api, "sim_a")["id"]
    b = add_account(api, "sim_b")["id"]
    tokens = add_account(api, "sim_tokens", label="token gateway")["id"]
    set_routing(api, {"default": {"connectors": [a, b]}})
    return a, b, tokens


def untouched(gateways: Any) -> None:
    """Neither routed gateway saw anything: the token's payment never left its account."""
    assert gateways.a.operations() == []
    assert gateways.b.operations() == []


def token_pm(api: TestClient, token: str, account: str, **extra: str) -> Any:
    return api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": token, "connector_account": account, **extra},
    )


def created_pm(api: TestClient, token: str, account: str) -> dict[str, Any]:
    r = token_pm(api, token, account)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def payment_method_count(api: TestClient) -> int:
    return len(api.get("/v1/payment_methods", params={"limit": 100}).json()["data"])


def test_token_payment_method_is_described_and_pinned_to_its_account(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token = token_gateway.make_token("4000056655665556")
    pm = created_pm(api, token, account)
    assert pm["object"] == "payment_method"
    assert pm["id"].startswith("pm_")
    card = pm["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "visa",
        "5556",
        11,
        2038,
    )
    assert (card["funding"], card["country"], card["fingerprint"]) == ("debit", "GB", "fp665556")
    assert card["checks"]["cvc_check"] is None
    assert token not in str(pm)
    assert token_gateway.described == [token]
    assert api.get(f"/v1/payment_methods/{pm['id']}").json() == pm

    r = confirm(api, pm["id"])
    assert r.status_code == 200, r.text
    intent = r.json()
    assert intent["status"] == "succeeded"
    assert intent["payment_method"] == pm["id"]
    [attempt] = attempts(api, intent["id"])
    assert attempt["connector_account"] == account
    assert attempt["routing"]["rule"] == "payment_method"
    assert attempt["routing"]["ranked"] == [account]
    assert "no failover" in attempt["routing_reason"]
    assert token_gateway.authorized_tokens == [token]
    [charge] = token_gateway.engine.charges()
    assert (charge.payment_id, charge.captured_amount) == (intent["id"], 2000)
    untouched(gateways)


def test_manual_capture_and_refund_go_to_the_token_account(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token(), account)
    intent = confirm(api, pm["id"], capture_method="manual").json()
    assert intent["status"] == "requires_capture"
    r = api.post(f"/v1/payment_intents/{intent['id']}/capture", data={"amount_to_capture": "1500"})
    assert r.status_code == 200, r.text
    r = api.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "700"})
    assert r.status_code == 200, r.text
    [charge] = token_gateway.engine.charges()
    assert (charge.captured_amount, charge.refunded_amount) == (1500, 700)
    untouched(gateways)


def test_a_token_never_fails_over(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token(), account)
    token_gateway.engine.inject("error_5xx", operations={OperationKind.AUTHORIZE}, count=3)
    err = error_of(confirm(api, pm["id"]), 502)
    assert err["code"] == "gateway_unavailable"
    intent = err["payment_intent"]
    assert intent["status"] == "requires_payment_method"
    [attempt] = attempts(api, intent["id"])
    assert (attempt["connector_account"], attempt["status"]) == (account, "failed")
    untouched(gateways)
    assert token_gateway.engine.charges() == []


def test_a_used_up_token_fails_the_payment_cleanly(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token(), account)
    assert confirm(api, pm["id"]).json()["status"] == "succeeded"
    err = error_of(confirm(api, pm["id"]), 400)
    assert (err["code"], err["param"]) == ("payment_method_unavailable", "payment_method")
    intent = err["payment_intent"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == "payment_method_unavailable"
    assert intent["last_payment_error"]["type"] == "invalid_request_error"
    assert intent["last_payment_error"]["param"] == "payment_method"
    assert len(token_gateway.engine.charges()) == 1
    untouched(gateways)


def test_a_decline_on_a_token_is_a_card_error(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token("4000000000009995"), account)
    err = error_of(confirm(api, pm["id"]), 402, type_="card_error")
    assert err["decline_code"] == "insufficient_funds"
    untouched(gateways)


def test_a_lost_answer_is_recovered_by_lookup_at_the_token_gateway(
    api: TestClient, runtime: Runtime, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token(), account)
    token_gateway.engine.inject("drop_response", operations={OperationKind.AUTHORIZE})
    intent = confirm(api, pm["id"]).json()
    assert intent["status"] == "processing"
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    assert api.get(f"/v1/payment_intents/{intent['id']}").json()["status"] == "succeeded"
    assert len(token_gateway.engine.charges()) == 1
    untouched(gateways)


def test_unknown_token_is_not_found_and_creates_nothing(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    err = error_of(token_pm(api, "tok_sim_never_made", account), 404)
    assert (err["code"], err["param"]) == ("resource_missing", "card[token]")
    assert payment_method_count(api) == 0


def test_gateway_down_while_describing_is_a_clean_502_and_the_key_stays_free(
    api: TestClient, runtime: Runtime, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    runtime.health.settings = BreakerSettings(fail_max=10, reset_seconds=60, min_calls=1000)
    token = token_gateway.make_token()
    token_gateway.describe_errors = [RetryableError("down")] * 3  # one call and two retries
    headers = {"Idempotency-Key": "pm-from-token-1"}
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": token, "connector_account": account},
        headers=headers,
    )
    err = error_of(r, 502)
    assert err["code"] == "gateway_unavailable"
    assert len(token_gateway.described) == 3
    assert payment_method_count(api) == 0
    # Nothing was stored on the key: the same request succeeds once the gateway is back.
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": token, "connector_account": account},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert payment_method_count(api) == 1


def test_describing_goes_through_the_accounts_circuit_breaker(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)  # the fixture's breaker opens after 3 failed calls
    token = token_gateway.make_token()
    token_gateway.describe_errors = [RetryableError("down")] * 3
    assert error_of(token_pm(api, token, account), 502)["code"] == "gateway_unavailable"
    assert len(token_gateway.described) == 3
    health = {h["target"]: h for h in api.get("/v1/routing/health").json()["data"]}
    assert health[account]["state"] == "open"
    # Open: the next request is refused at once, without reaching the gateway.
    assert error_of(token_pm(api, token, account), 502)["code"] == "gateway_unavailable"
    assert len(token_gateway.described) == 3
    assert payment_method_count(api) == 0


def test_gateway_refusing_to_describe_is_a_gateway_error(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token_gateway.describe_errors = [TerminalError("bad key", gateway_code="401")]
    err = error_of(token_pm(api, token_gateway.make_token(), account), 502)
    assert err["code"] == "gateway_error"
    assert len(token_gateway.described) == 1  # a terminal error is not retried
    assert payment_method_count(api) == 0


def test_replay_answers_from_the_key_without_asking_the_gateway(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token = token_gateway.make_token()
    data = {"type": "card", "card[token]": token, "connector_account": account}
    first = api.post("/v1/payment_methods", data=data, headers={"Idempotency-Key": "k-replay"})
    assert first.status_code == 200, first.text
    token_gateway.describe_errors = [RetryableError("down")] * 3
    again = api.post("/v1/payment_methods", data=data, headers={"Idempotency-Key": "k-replay"})
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert token_gateway.described == [token]
    assert payment_method_count(api) == 1


def test_bad_token_requests_are_refused_and_change_nothing(
    api: TestClient, merchant: Merchant, gateways: Any, token_gateway: TokenGateway
) -> None:
    a, _, account = setup(api)
    token = token_gateway.make_token()
    cases: list[tuple[dict[str, str], int, str, str | None]] = [
        ({"card[token]": token, "card[number]": "4242424242424242"}, 400, "card[number]", None),
        (
            {"card[number]": "4242424242424242", "connector_account": account},
            400,
            "connector_account",
            None,
        ),
        ({"card[token]": token}, 400, "connector_account", "parameter_missing"),
        (
            {"card[token]": "tok bad<script>", "connector_account": account},
            400,
            "card[token]",
            "parameter_invalid",
        ),
        (
            {"card[token]": "x" * 256, "connector_account": account},
            400,
            "card[token]",
            "parameter_invalid",
        ),
        (
            {"card[token]": token, "connector_account": "mca_nope"},
            404,
            "connector_account",
            "resource_missing",
        ),
        (
            {"card[token]": token, "connector_account": a},
            400,
            "connector_account",
            "parameter_invalid",
        ),
    ]
    for extra, status, param, code in cases:
        err = error_of(api.post("/v1/payment_methods", data={"type": "card", **extra}), status)
        assert err["param"] == param, (extra, err)
        if code is not None:
            assert err["code"] == code, (extra, err)
    r = api.post("/v1/payment_methods", data={"card[token]": token, "connector_account": account})
    assert error_of(r, 400)["param"] == "type"
    r = api.post(f"/v1/connector_accounts/{account}", data={"status": "disabled"})
    assert r.status_code == 200, r.text
    err = error_of(token_pm(api, token, account), 400)
    assert (err["code"], err["param"]) == ("connector_account_disabled", "connector_account")
    publishable = {"Authorization": f"Bearer {merchant.publishable_key}"}
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": token, "connector_account": account},
        headers=publishable,
    )
    assert error_of(r, 403)["type"] == "invalid_request_error"
    assert token_gateway.described == []  # none of these reached the gateway
    assert payment_method_count(api) == 0


def test_stripe_test_token_without_an_account_is_a_test_card(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    setup(api)
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": "tok_visa", "metadata[order]": "42"},
    )
    assert r.status_code == 200, r.text
    pm = r.json()
    assert (pm["card"]["brand"], pm["card"]["last4"], pm["metadata"]) == (
        "visa",
        "4242",
        {"order": "42"},
    )
    intent = confirm(api, pm["id"]).json()
    assert intent["status"] == "succeeded"
    assert len(gateways.a.charges()) == 1  # ordinary routing


def test_a_deleted_account_makes_its_tokens_unusable(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token(), account)
    assert api.delete(f"/v1/connector_accounts/{account}").status_code == 200
    err = error_of(confirm(api, pm["id"]), 400)
    assert (err["code"], err["param"]) == ("payment_method_unavailable", "payment_method")
    assert api.get("/v1/payment_intents").json()["data"] == []  # create+confirm rolled back
    assert token_gateway.engine.operations() == []
    untouched(gateways)


def test_the_event_names_the_account_and_never_the_token(
    api: TestClient, runtime: Runtime, gateways: Any, token_gateway: TokenGateway
) -> None:
    seen: list[Any] = []
    runtime.dispatcher.subscribe("*", lambda uow, event: seen.append(event))
    _, _, account = setup(api)
    token = token_gateway.make_token()
    pm = created_pm(api, token, account)
    assert confirm(api, pm["id"]).json()["status"] == "succeeded"
    [event] = [e for e in seen if e.type == "strongbox.payment_method.gateway_token"]
    assert event.internal  # audit log only
    assert event.resource_id == pm["id"]
    assert event.object["connector_account"] == account
    assert event.object["reusable"] is False
    assert all(token not in repr(e) for e in seen)
    with runtime.db.read() as session:
        assert all(token not in str(e.data) for e in session.scalars(sa.select(OutboxEvent)))


def test_idempotency_rules_hold_on_the_token_path(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token = token_gateway.make_token()
    data = {"type": "card", "card[token]": token, "connector_account": account}
    r = api.post("/v1/payment_methods", data=data, headers={"Idempotency-Key": "x" * 256})
    assert error_of(r, 400)["code"] == "idempotency_key_invalid"
    assert token_gateway.described == []  # a bad key costs no gateway read
    assert api.post("/v1/payment_methods", data=data, headers={"Idempotency-Key": "k1"}).is_success
    other = {**data, "metadata[x]": "1"}
    r = api.post("/v1/payment_methods", data=other, headers={"Idempotency-Key": "k1"})
    assert error_of(r, 400, type_="idempotency_error")
    assert payment_method_count(api) == 1


def test_an_account_disabled_while_the_gateway_answers_creates_nothing(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    gateways: Any,
    token_gateway: TokenGateway,
) -> None:
    _, _, account = setup(api)

    def disable() -> None:
        ctx = RequestContext(merchant_id=merchant.id, actor="test")
        with runtime.db.unit_of_work() as uow:
            runtime.routing.update_account(uow, ctx, account, status="disabled")
            uow.commit()

    token_gateway.on_describe = disable
    err = error_of(token_pm(api, token_gateway.make_token(), account), 400)
    assert (err["code"], err["param"]) == ("connector_account_disabled", "connector_account")
    assert payment_method_count(api) == 0


def test_an_account_disabled_later_refuses_its_tokens_payments(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    pm = created_pm(api, token_gateway.make_token(), account)
    assert api.post(f"/v1/connector_accounts/{account}", data={"status": "disabled"}).is_success
    err = error_of(confirm(api, pm["id"]), 400)
    assert (err["code"], err["param"]) == ("connector_account_disabled", "payment_method")
    assert token_gateway.engine.operations() == []
    untouched(gateways)


def test_a_token_that_is_not_a_card_and_a_connector_bug_are_clean_errors(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token_gateway.describe_errors = [UnsupportedTokenError("a PayPal nonce")]
    err = error_of(token_pm(api, token_gateway.make_token(), account), 400)
    assert (err["code"], err["param"]) == ("parameter_invalid", "card[token]")
    assert "a PayPal nonce" in err["message"]
    token_gateway.describe_errors = [ValueError("connector bug")]
    err = error_of(token_pm(api, token_gateway.make_token(), account), 502)
    assert err["code"] == "gateway_error"
    assert "connector bug" not in err["message"]
    assert payment_method_count(api) == 0


class AutomaticOnly(TokenGateway):
    capabilities = TokenGateway.capabilities & ~Capability.MANUAL_CAPTURE


def test_a_pinned_account_that_cannot_capture_later_refuses_manual_capture(
    api: TestClient, runtime: Runtime, gateways: Any
) -> None:
    gateway = AutomaticOnly(SimulatorEngine(base_url="http://sim-auto.test"))
    runtime.connectors.register("sim_auto", lambda: gateway)
    account = add_account(api, "sim_auto")["id"]
    pm = created_pm(api, gateway.make_token(), account)
    err = error_of(confirm(api, pm["id"], capture_method="manual"), 400)
    assert (err["code"], err["param"]) == ("parameter_invalid", "capture_method")
    assert gateway.engine.operations() == []
    assert confirm(api, pm["id"]).json()["status"] == "succeeded"


# ---------------------------------------------------------------- payment_method_data


def pay_with_data(api: TestClient, token: str, account: str | None, **extra: str) -> Any:
    data = {
        "amount": "2000",
        "currency": "usd",
        "confirm": "true",
        "payment_method_data[type]": "card",
        "payment_method_data[card][token]": token,
        **extra,
    }
    if account is not None:
        data["payment_method_data[connector_account]"] = account
    return api.post("/v1/payment_intents", data=data)


def test_payment_method_data_makes_the_payment_method_in_the_same_request(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token = token_gateway.make_token("5555555555554444")
    r = pay_with_data(api, token, account, **{"payment_method_data[metadata][k]": "v"})
    assert r.status_code == 200, r.text
    intent = r.json()
    assert intent["status"] == "succeeded"
    pm = api.get(f"/v1/payment_methods/{intent['payment_method']}").json()
    assert (pm["card"]["brand"], pm["card"]["last4"], pm["metadata"]) == (
        "mastercard",
        "4444",
        {"k": "v"},
    )
    [attempt] = attempts(api, intent["id"])
    assert (attempt["connector_account"], attempt["routing"]["rule"]) == (
        account,
        "payment_method",
    )
    assert token_gateway.authorized_tokens == [token]
    untouched(gateways)


def test_confirm_takes_payment_method_data_too(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    intent = api.post("/v1/payment_intents", data={"amount": "900", "currency": "eur"}).json()
    r = api.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        data={
            "payment_method_data[type]": "card",
            "payment_method_data[card][token]": token_gateway.make_token(),
            "payment_method_data[connector_account]": account,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    [charge] = token_gateway.engine.charges()
    assert (charge.amount, charge.currency) == (900, "eur")


def test_payment_method_data_errors_name_their_parameter_and_change_nothing(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token = token_gateway.make_token()
    err = error_of(pay_with_data(api, token, account, payment_method="pm_card_visa"), 400)
    assert err["param"] == "payment_method_data"
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "2000",
            "currency": "usd",
            "payment_method_data[type]": "card",
            "payment_method_data[card][token]": token,
            "payment_method_data[connector_account]": account,
        },
        headers={"Idempotency-Key": ""},
    )
    assert error_of(r, 400)["param"] == "Idempotency-Key"
    err = error_of(pay_with_data(api, "tok_sim_never_made", account), 404)
    assert err["param"] == "payment_method_data[card][token]"
    err = error_of(pay_with_data(api, token, None), 400)
    assert err["param"] == "payment_method_data[connector_account]"
    err = error_of(pay_with_data(api, token, "mca_nope"), 404)
    assert err["param"] == "payment_method_data[connector_account]"
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "2000",
            "currency": "usd",
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": "4242424242424242",
        },
    )
    assert error_of(r, 400)["param"] == "payment_method_data[card][token]"
    # The gateway described the card, then the intent was refused: no payment method either.
    described = len(token_gateway.described)
    err = error_of(pay_with_data(api, token, account, customer="cus_nope"), 404)
    assert err["param"] == "customer"
    assert len(token_gateway.described) == described + 1
    assert payment_method_count(api) == 0
    assert api.get("/v1/payment_intents").json()["data"] == []
    assert token_gateway.engine.operations() == []


def test_payment_method_data_with_a_stripe_test_token(api: TestClient, gateways: Any) -> None:
    a = add_account(api, "sim_a")["id"]
    set_routing(api, {"default": {"connectors": [a]}})
    r = pay_with_data(api, "tok_visa", None, **{"payment_method_data[metadata][k]": "v"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    pm = api.get(f"/v1/payment_methods/{r.json()['payment_method']}").json()
    assert (pm["card"]["last4"], pm["metadata"]) == ("4242", {"k": "v"})
    assert len(gateways.a.charges()) == 1
    err = error_of(
        api.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "usd", "payment_method_data[type]": "card"},
        ),
        400,
    )
    assert err["param"] == "payment_method_data[card]"
    assert "payment_method_data[card]" in err["message"]


def test_a_token_cannot_name_a_stripe_customer_itself(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    err = error_of(token_pm(api, "pm_1Abc|cus_Someone", account), 400)
    assert (err["param"], err["code"]) == ("card[token]", "parameter_invalid")
    err = error_of(pay_with_data(api, "pm_1Abc|cus_Someone", account), 400)
    assert err["param"] == "payment_method_data[card][token]"
    assert token_gateway.described == []


def test_payment_method_data_replays_without_asking_the_gateway(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    token = token_gateway.make_token()
    data = {
        "amount": "2000",
        "currency": "usd",
        "confirm": "true",
        "payment_method_data[type]": "card",
        "payment_method_data[card][token]": token,
        "payment_method_data[connector_account]": account,
    }
    first = api.post("/v1/payment_intents", data=data, headers={"Idempotency-Key": "pmd-1"})
    assert first.status_code == 200, first.text
    again = api.post("/v1/payment_intents", data=data, headers={"Idempotency-Key": "pmd-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert token_gateway.described == [token]
    assert len(token_gateway.engine.charges()) == 1


def test_confirming_an_unknown_intent_with_payment_method_data_asks_no_gateway(
    api: TestClient, gateways: Any, token_gateway: TokenGateway
) -> None:
    _, _, account = setup(api)
    r = api.post(
        "/v1/payment_intents/pi_nope/confirm",
        data={
            "payment_method_data[type]": "card",
            "payment_method_data[card][token]": token_gateway.make_token(),
            "payment_method_data[connector_account]": account,
        },
    )
    assert error_of(r, 404)["code"] == "resource_missing"
    assert token_gateway.described == []
    assert payment_method_count(api) == 0
