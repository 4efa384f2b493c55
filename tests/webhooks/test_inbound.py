"""Inbound gateway webhooks: signed by the gateways' own SDK helpers, stored once, applied
through the payments service (duplicates and out-of-order deliveries are harmless)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import braintree
import orjson
import pytest
import stripe
from sqlalchemy import select

from strongbox.connectors.base import OperationKind
from strongbox.connectors.simulator.connector import SimulatorConnector
from strongbox.payments.models import PaymentAttempt
from strongbox.runtime import Runtime
from strongbox.webhooks.models import InboundEvent
from strongbox.workers.webhooks import process_inbound
from support import error_of

STRIPE_SECRET = "whsec_test_stripe_signing_secret_1"
BT_PUBLIC, BT_PRIVATE = "bt_public_key_1", "bt_private_key_1"


@pytest.fixture
def gateway_runtime(runtime: Runtime) -> Runtime:
    """Payments routed to connectors named "stripe" and "braintree" (backed by the
    simulator), as the real connectors would be registered."""
    sim = runtime.simulator
    assert sim is not None
    runtime.connectors.register("stripe", lambda: SimulatorConnector(sim))
    runtime.connectors.register("braintree", lambda: SimulatorConnector(sim))
    return runtime


def use_connector(rt: Runtime, name: str) -> None:
    """Route payments without a routing configuration to ``name``."""
    rt.payments.config = replace(rt.payments.config, default_connector=name)
    rt.routing.default_connector = name


def add_account(api: Any, connector: str, **params: Any) -> dict[str, Any]:
    r = api.post("/v1/webhooks/inbound_accounts", data={"connector": connector, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def process(rt: Runtime) -> int:
    return process_inbound(rt)


def last_attempt(rt: Runtime, pi_id: str) -> PaymentAttempt:
    with rt.db.read() as s:
        a = s.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.payment_intent_id == pi_id)
            .order_by(PaymentAttempt.seq.desc())
        ).first()
        assert a is not None
        s.expunge(a)
        return a


def unknown_outcome_payment(api: Any, rt: Runtime, **extra: Any) -> dict[str, Any]:
    """A confirm whose gateway response is lost: the intent stays processing."""
    assert rt.simulator is not None
    rt.simulator.inject("drop_response", operations={OperationKind.AUTHORIZE})
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            **extra,
        },
    )
    assert r.status_code == 200, r.text
    pi: dict[str, Any] = r.json()
    assert pi["status"] == "processing"
    return pi


def stripe_post(
    client: Any,
    path: str,
    event: dict[str, Any],
    secret: str = STRIPE_SECRET,
    timestamp: int | None = None,
) -> Any:
    payload = orjson.dumps(event).decode()
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return client.post(path, content=payload, headers={"Stripe-Signature": header})


def stripe_event(
    type_: str, obj: dict[str, Any], key: str | None = None, event_id: str = "evt_stripe_1"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": type_,
        "data": {"object": obj},
        "request": {"id": "req_1", "idempotency_key": key},
    }


def path_of(account: dict[str, Any]) -> str:
    return "/v1/webhooks/inbound/" + account["url"].split("/v1/webhooks/inbound/", 1)[1]


# ---------------------------------------------------------------- Stripe


def test_stripe_success_completes_a_payment_with_an_unknown_outcome(
    api: Any, client: Any, gateway_runtime: Runtime
) -> None:
    rt = gateway_runtime
    use_connector(rt, "stripe")
    acct = add_account(api, "stripe", signing_secret=STRIPE_SECRET, account="acct_gw")
    assert acct["object"] == "inbound_webhook_account"
    assert "signing_secret" not in acct
    pi = unknown_outcome_payment(api, rt)
    attempt = last_attempt(rt, pi["id"])
    event = stripe_event(
        "payment_intent.succeeded",
        {"id": "pi_gateway_1", "object": "payment_intent", "amount_received": 2000},
        key=attempt.gateway_idempotency_key,
    )
    r = stripe_post(client, path_of(acct), event)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "duplicate": False}
    # Acknowledged before processing: nothing changed yet.
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "processing"
    assert process(rt) == 1
    done = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 2000
    events = api.get("/v1/events", params={"type": "payment_intent.succeeded"}).json()["data"]
    assert [e["data"]["object"]["id"] for e in events] == [pi["id"]]
    # The same event again is stored once; a late contradicting one changes nothing.
    again = stripe_post(client, path_of(acct), event)
    assert again.json() == {"received": True, "duplicate": True}
    late = stripe_event(
        "payment_intent.payment_failed",
        {"id": "pi_gateway_1"},
        key=attempt.gateway_idempotency_key,
        event_id="evt_stripe_2",
    )
    assert stripe_post(client, path_of(acct), late).status_code == 200
    assert process(rt) == 1
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"
    listed = api.get("/v1/webhooks/inbound_events").json()["data"]
    assert [(e["provider_event_id"], e["status"]) for e in listed] == [
        ("evt_stripe_2", "ignored"),
        ("evt_stripe_1", "processed"),
    ]
    # The created filter applies to the time an event was received.
    recent = api.get("/v1/webhooks/inbound_events", params={"created[gte]": "1"}).json()
    assert len(recent["data"]) == 2
    future = api.get("/v1/webhooks/inbound_events", params={"created[gt]": "4102444800"})
    assert future.status_code == 200
    assert future.json()["data"] == []


def test_stripe_failure_fails_the_payment(api: Any, client: Any, gateway_runtime: Runtime) -> None:
    rt = gateway_runtime
    use_connector(rt, "stripe")
    acct = add_account(api, "stripe", signing_secret=STRIPE_SECRET)
    pi = unknown_outcome_payment(api, rt)
    key = last_attempt(rt, pi["id"]).gateway_idempotency_key
    ev = stripe_event(
        "payment_intent.payment_failed",
        {"id": "pi_g", "last_payment_error": {"decline_code": "insufficient_funds"}},
        key=key,
    )
    assert stripe_post(client, path_of(acct), ev).status_code == 200
    process(rt)
    body = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert body["status"] == "requires_payment_method"
    assert body["last_payment_error"]["decline_code"] == "insufficient_funds"


@pytest.mark.parametrize(
    ("skew", "ok"), [(0, True), (-290, True), (290, True), (-310, False), (310, False)]
)
def test_stripe_tolerance_is_300_seconds_both_ways(
    api: Any, client: Any, runtime: Runtime, skew: int, ok: bool
) -> None:
    acct = add_account(api, "stripe", signing_secret=STRIPE_SECRET)
    ev = stripe_event("customer.created", {"id": "cus_1"}, event_id=f"evt_skew_{skew}")
    r = stripe_post(client, path_of(acct), ev, timestamp=int(time.time()) + skew)
    assert r.status_code == (200 if ok else 400), r.text


def test_invalid_signatures_get_400_an_audit_event_and_nothing_stored(
    api: Any, client: Any, runtime: Runtime
) -> None:
    acct = add_account(api, "stripe", signing_secret=STRIPE_SECRET)
    seen: list[Any] = []
    runtime.dispatcher.subscribe("strongbox.webhook.*", lambda uow, e: seen.append(e))
    ev = stripe_event("payment_intent.succeeded", {"id": "pi_x"})
    cases = [
        stripe_post(client, path_of(acct), ev, secret="whsec_wrong"),
        client.post(path_of(acct), content=orjson.dumps(ev)),  # no header
        client.post(path_of(acct), content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}),
    ]
    payload = orjson.dumps(ev).decode()
    header = stripe.WebhookSignature.generate_signature_header(payload, STRIPE_SECRET)
    cases.append(
        client.post(path_of(acct), content=payload + " ", headers={"Stripe-Signature": header})
    )  # body altered
    for r in cases:
        err = error_of(r, 400)
        assert err["code"] == "webhook_signature_invalid"
    assert [e.type for e in seen] == ["strongbox.webhook.signature_invalid"] * 4
    assert all(e.internal and e.object["outcome"] == "failure" for e in seen)
    assert STRIPE_SECRET not in repr([e.object for e in seen])
    with runtime.db.read() as s:
        assert s.scalars(select(InboundEvent)).all() == []
    assert api.get("/v1/events").json()["data"] == []  # internal: not in the outbox


def test_stripe_secret_rotation_accepts_old_and_new_during_the_overlap(
    api: Any, client: Any, runtime: Runtime
) -> None:
    acct = add_account(api, "stripe", signing_secret=STRIPE_SECRET)
    new = "whsec_rotated_secret_2"
    r = api.post(f"/v1/webhooks/inbound_accounts/{acct['id']}", data={"signing_secret": new})
    assert r.status_code == 200
    assert r.json()["secret_rotation_expires_at"] is not None
    ok_old = stripe_post(client, path_of(acct), stripe_event("x.y", {}, event_id="e1"))
    ok_new = stripe_post(client, path_of(acct), stripe_event("x.y", {}, event_id="e2"), new)
    assert ok_old.status_code == ok_new.status_code == 200
    # Several v1 values (Stripe during its own rotation): any match is enough.
    payload = orjson.dumps(stripe_event("x.y", {}, event_id="e3")).decode()
    ts = int(time.time())
    good = stripe.WebhookSignature.generate_signature_header(payload, new, ts).split("v1=")[1]
    header = f"t={ts},v1={'0' * 64},v1={good}"
    assert (
        client.post(
            path_of(acct), content=payload, headers={"Stripe-Signature": header}
        ).status_code
        == 200
    )
    api.post(
        f"/v1/webhooks/inbound_accounts/{acct['id']}",
        data={"signing_secret": "whsec_third_3", "previous_secret_expires_in": 0},
    )
    gone = stripe_post(client, path_of(acct), stripe_event("x.y", {}, event_id="e4"))
    assert gone.status_code == 400


def test_unknown_accounts_and_connectors_are_404(api: Any, client: Any, runtime: Runtime) -> None:
    acct = add_account(api, "stripe", signing_secret=STRIPE_SECRET)
    ev = stripe_event("x.y", {})
    error_of(stripe_post(client, "/v1/webhooks/inbound/stripe/iwa_nope", ev), 404)
    error_of(stripe_post(client, f"/v1/webhooks/inbound/braintree/{acct['id']}", ev), 404)
    error_of(stripe_post(client, f"/v1/webhooks/inbound/paypal/{acct['id']}", ev), 404)


def test_account_validation_and_tenancy(
    api: Any, client: Any, new_merchant: Any, runtime: Runtime
) -> None:
    err = error_of(api.post("/v1/webhooks/inbound_accounts", data={"connector": "stripe"}), 400)
    assert err["param"] == "signing_secret"
    err = error_of(
        api.post(
            "/v1/webhooks/inbound_accounts", data={"connector": "braintree", "public_key": "pk"}
        ),
        400,
    )
    assert err["param"] == "private_key"
    err = error_of(
        api.post(
            "/v1/webhooks/inbound_accounts",
            data={"connector": "paypal", "signing_secret": "x" * 10},
        ),
        400,
    )
    assert err["param"] == "connector"
    acct = add_account(api, "simulator", signing_secret="whsec_" + "A" * 40)
    other = new_merchant().headers
    error_of(client.get(f"/v1/webhooks/inbound_accounts/{acct['id']}", headers=other), 404)
    error_of(client.delete(f"/v1/webhooks/inbound_accounts/{acct['id']}", headers=other), 404)
    assert client.get("/v1/webhooks/inbound_accounts", headers=other).json()["data"] == []
    assert api.get(f"/v1/webhooks/inbound_accounts/{acct['id']}").json()["id"] == acct["id"]
    assert api.delete(f"/v1/webhooks/inbound_accounts/{acct['id']}").json()["deleted"] is True


# ---------------------------------------------------------------- Braintree


def bt_gateway() -> Any:
    return braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id="merchant_1",
            public_key=BT_PUBLIC,
            private_key=BT_PRIVATE,
        )
    )


def bt_post(client: Any, path: str, kind: str, id_: str, gateway: Any | None = None) -> Any:
    return client.post(path, data=bt_sample(kind, id_, gateway))


def bt_sample(kind: str, id_: str, gateway: Any | None = None) -> dict[str, str]:
    """The SDK's signed pair, form-encoded as Braintree posts it (the SDK gives bytes)."""
    sample = (gateway or bt_gateway()).webhook_testing.sample_notification(kind, id_)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in sample.items()}


def authorized_then_capture_lost(api: Any, rt: Runtime) -> dict[str, Any]:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": 10000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "capture_method": "manual",
        },
    )
    assert r.json()["status"] == "requires_capture", r.text
    pi: dict[str, Any] = r.json()
    assert rt.simulator is not None
    rt.simulator.inject("drop_response", operations={OperationKind.CAPTURE})
    assert api.post(f"/v1/payment_intents/{pi['id']}/capture").status_code == 502
    return pi


def test_braintree_settlement_completes_a_capture(
    api: Any, client: Any, gateway_runtime: Runtime
) -> None:
    rt = gateway_runtime
    use_connector(rt, "braintree")
    acct = add_account(api, "braintree", public_key=BT_PUBLIC, private_key=BT_PRIVATE)
    pi = authorized_then_capture_lost(api, rt)
    ref = last_attempt(rt, pi["id"]).gateway_reference
    assert ref
    kind = braintree.WebhookNotification.Kind.TransactionSettled
    sample = bt_sample(kind, ref)
    r = client.post(path_of(acct), data=sample)
    assert r.status_code == 200, r.text
    process(rt)
    done = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 10000
    # Braintree retrying the same notification is a duplicate.
    assert client.post(path_of(acct), data=sample).json()["duplicate"] is True


def test_braintree_dispute_opened_records_a_dispute_once(
    api: Any, client: Any, gateway_runtime: Runtime
) -> None:
    rt = gateway_runtime
    use_connector(rt, "braintree")
    acct = add_account(api, "braintree", public_key=BT_PUBLIC, private_key=BT_PRIVATE)
    pi = api.post(
        "/v1/payment_intents",
        data={
            "amount": 10000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    ).json()
    ref = last_attempt(rt, pi["id"]).gateway_reference
    assert ref
    kind = braintree.WebhookNotification.Kind.DisputeOpened
    assert bt_post(client, path_of(acct), kind, ref).status_code == 200
    process(rt)
    [ev] = api.get("/v1/events", params={"type": "charge.dispute.created"}).json()["data"]
    dispute = ev["data"]["object"]
    assert dispute["object"] == "dispute"
    assert dispute["id"].startswith("dp_")
    assert dispute["payment_intent"] == pi["id"]
    assert (dispute["amount"], dispute["currency"], dispute["reason"]) == (10000, "usd", "fraud")
    assert dispute["status"] == "needs_response"


def test_braintree_wrong_key_or_tampered_payload_is_rejected(
    api: Any, client: Any, runtime: Runtime
) -> None:
    acct = add_account(api, "braintree", public_key=BT_PUBLIC, private_key=BT_PRIVATE)
    other = braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id="m",
            public_key=BT_PUBLIC,
            private_key="another_private_key",
        )
    )
    kind = braintree.WebhookNotification.Kind.TransactionSettled
    error_of(bt_post(client, path_of(acct), kind, "tx1", other), 400)
    sample = bt_sample(kind, "tx1")
    sample["bt_payload"] = sample["bt_payload"][:-8] + "AAAAAAA="
    error_of(client.post(path_of(acct), data=sample), 400)
    error_of(client.post(path_of(acct), content=b"not a form"), 400)


# ---------------------------------------------------------------- simulator


def test_simulator_signed_events_complete_lost_outcomes(
    api: Any, merchant: Any, runtime: Runtime, live_server: Any
) -> None:
    from standardwebhooks.webhooks import Webhook

    from strongbox.connectors.simulator.webhooks import SimulatorWebhooks, build
    from strongbox.core.secret import Secret

    secret = "whsec_" + "c2ltdWxhdG9yLXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="
    acct = add_account(api, "simulator", signing_secret=secret)
    assert runtime.simulator is not None
    # The simulator's signature is plain Standard Webhooks: the reference package verifies it.
    body, headers = build({"type": "charge.captured", "data": {}}, Secret(secret))
    assert Webhook(secret).verify(body, headers)["type"] == "charge.captured"
    hooks = SimulatorWebhooks(runtime.simulator)
    try:
        hooks.register(merchant.id, live_server.url + path_of(acct), Secret(secret))
        pi = unknown_outcome_payment(api, runtime)
        hooks.drain()
        assert hooks.sent == 1
        process(runtime)
        assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"
        # A refund whose answer is lost is settled by the simulator's refund event.
        runtime.simulator.inject("drop_response", operations={OperationKind.REFUND})
        r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": 500})
        refund = r.json()
        assert refund["status"] == "pending", r.text
        hooks.drain()
        process(runtime)
        assert api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "succeeded"
        # A dispute opened at the simulator.
        [charge] = runtime.simulator.charges()
        runtime.simulator.open_dispute(charge.reference, reason="fraudulent")
        hooks.drain()
        process(runtime)
        [ev] = api.get("/v1/events", params={"type": "charge.dispute.created"}).json()["data"]
        assert ev["data"]["object"]["payment_intent"] == pi["id"]
    finally:
        hooks.close()
