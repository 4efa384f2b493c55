"""Inbound Adyen standard notifications: every item's HMAC verified on the raw body (our
signatures match the official ``Adyen`` library's), optional Basic auth, each item stored
once, ``[accepted]`` as the answer, translation to gateway reports."""

from __future__ import annotations

import base64
import copy
from typing import Any

import Adyen.util
import orjson
import pytest
from sqlalchemy import select

from strongbox.payments.reports import ReportKind
from strongbox.runtime import Runtime
from strongbox.webhooks import providers
from strongbox.webhooks.models import InboundEvent
from support import error_of

HMAC_KEY = "3F" * 32  # Adyen HMAC keys are 64 hex digits
NEW_KEY = "A5" * 32
PASSWORD = "pw-" * 4  # pragma: allowlist secret
STRIPE_SECRET = "whsec_" + "ab" * 8  # pragma: allowlist secret


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "additionalData": {"authCode": "058705", "cardSummary": "1111"},
        "amount": {"currency": "EUR", "value": 10150},
        "eventCode": "AUTHORISATION",
        "eventDate": "2026-12-01T11:00:00+01:00",
        "merchantAccountCode": "StrongboxECOM",
        "merchantReference": "strongbox-pa_123",
        "paymentMethod": "visa",
        "pspReference": "QFQTPCQ8HXSKGK82",
        "reason": "058705:1111:03/2030",
        "success": "true",
    }
    return base | changes


def signed(it: dict[str, Any], key: str = HMAC_KEY) -> dict[str, Any]:
    """Signed by the official Adyen library (its notification signing helper)."""
    out = copy.deepcopy(it)
    unsigned = {k: v for k, v in out.items() if k != "additionalData"}
    out["additionalData"]["hmacSignature"] = Adyen.util.generate_notification_sig(
        unsigned, key
    ).decode()
    return out


def batch(*items: dict[str, Any]) -> bytes:
    wrapped = [{"NotificationRequestItem": i} for i in items]
    return orjson.dumps({"live": "false", "notificationItems": wrapped})


def add_account(api: Any, **params: Any) -> dict[str, Any]:
    r = api.post(
        "/v1/webhooks/inbound_accounts",
        data={"connector": "adyen", "signing_secret": HMAC_KEY, **params},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def path_of(account: dict[str, Any]) -> str:
    return "/v1/webhooks/inbound/" + account["url"].split("/v1/webhooks/inbound/", 1)[1]


def stored(rt: Runtime) -> list[tuple[str, str]]:
    with rt.db.read() as s:
        rows = s.scalars(select(InboundEvent).order_by(InboundEvent.seq)).all()
        return [(e.provider_event_id, e.type) for e in rows]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "it",
    [
        item(),
        item(success="false", reason="Refused"),
        item(eventCode="CAPTURE", originalReference="QFQTPCQ8HXSKGK82", pspReference="X" * 16),
        item(merchantReference="ref:with:colons", amount={"currency": "JPY", "value": 0}),
    ],
)
def test_our_hmac_matches_the_official_library(it: dict[str, Any]) -> None:
    signature = signed(it)["additionalData"]["hmacSignature"]
    assert providers.adyen_signature(it, HMAC_KEY) == signature
    # And the library accepts what our test fake signs.
    from connectors.fakes.adyen_fake import sign_item

    ours = copy.deepcopy(it)
    ours["additionalData"]["hmacSignature"] = sign_item(it, HMAC_KEY)
    assert Adyen.util.is_valid_hmac_notification(ours, HMAC_KEY)


def test_verify_rejects_missing_wrong_and_tampered_signatures() -> None:
    good = signed(item())
    providers.verify_adyen(batch(good), {}, [HMAC_KEY], None)
    missing = copy.deepcopy(good)
    del missing["additionalData"]["hmacSignature"]
    no_data = {k: v for k, v in good.items() if k != "additionalData"}
    cases = [
        batch(missing),
        batch(no_data),
        batch(signed(item(), NEW_KEY)),  # another key
        batch(good | {"amount": {"currency": "EUR", "value": 10151}}),  # tampered amount
        batch(good | {"merchantReference": "strongbox-pa_other"}),  # tampered reference
        batch(good | {"success": "false"}),  # tampered outcome
        batch(good, signed(item(pspReference="B" * 16), NEW_KEY)),  # one bad item of two
        b"not json",
        orjson.dumps({"live": "false", "notificationItems": []}),
    ]
    for body in cases:
        with pytest.raises(providers.SignatureInvalid):
            providers.verify_adyen(body, {}, [HMAC_KEY], None)


def test_translation_of_event_codes() -> None:
    t = providers.translate_adyen
    auth = t(item())
    assert auth is not None
    assert (auth.kind, auth.idempotency_key, auth.gateway_reference, auth.amount) == (
        ReportKind.PAYMENT_AUTHORIZED,
        "strongbox-pa_123",
        "QFQTPCQ8HXSKGK82",
        10150,
    )
    assert auth.authorization_captures
    assert auth.currency == "eur"
    refused = t(item(success="false", reason="Not enough balance"))
    assert refused is not None
    assert (refused.kind, refused.decline_code) == (ReportKind.PAYMENT_FAILED, "insufficient_funds")
    lost = t(
        item(
            success="false",
            reason="Blocked Card",
            additionalData={"refusalReasonRaw": "41 : Lost card"},
        )
    )
    assert lost is not None
    assert lost.decline_code == "lost_card"
    mods = {
        ("CAPTURE", "true"): ReportKind.PAYMENT_CAPTURED,
        ("CAPTURE", "false"): ReportKind.PAYMENT_FAILED,
        ("CAPTURE_FAILED", "true"): ReportKind.PAYMENT_FAILED,
        ("CANCELLATION", "true"): ReportKind.PAYMENT_VOIDED,
        ("CANCELLATION", "false"): ReportKind.VOID_FAILED,
        ("REFUND", "true"): ReportKind.REFUND_SUCCEEDED,
        ("REFUND", "false"): ReportKind.REFUND_FAILED,
        ("REFUND_FAILED", "true"): ReportKind.REFUND_FAILED,
        ("REFUNDED_REVERSED", "true"): ReportKind.REFUND_FAILED,
    }
    for (code, success), kind in mods.items():
        report = t(
            item(
                eventCode=code,
                success=success,
                pspReference="MODPSP0000000001",
                originalReference="QFQTPCQ8HXSKGK82",
                merchantReference="strongbox-pa_mod",
            )
        )
        assert report is not None
        assert (report.kind, report.idempotency_key, report.gateway_reference) == (
            kind,
            "strongbox-pa_mod",
            "QFQTPCQ8HXSKGK82",
        )
    dispute = t(
        item(
            eventCode="NOTIFICATION_OF_CHARGEBACK",
            pspReference="DISPUTE000000001",
            originalReference="QFQTPCQ8HXSKGK82",
            reason="Fraudulent",
        )
    )
    assert dispute is not None
    assert (dispute.kind, dispute.dispute_id, dispute.gateway_reference) == (
        ReportKind.DISPUTE_OPENED,
        "DISPUTE000000001",
        "QFQTPCQ8HXSKGK82",
    )
    assert t(item(eventCode="REPORT_AVAILABLE")) is None


# ---------------------------------------------------------------- the endpoint


def test_valid_batch_is_accepted_and_each_item_stored_once(
    api: Any, client: Any, runtime: Runtime
) -> None:
    acct = add_account(api, account="StrongboxECOM")
    assert acct["connector"] == "adyen"
    assert "signing_secret" not in acct
    assert HMAC_KEY not in str(acct)
    first = signed(item())
    r = client.post(path_of(acct), content=batch(first))
    assert r.status_code == 200, r.text
    assert r.text == "[accepted]"
    assert stored(runtime) == [("QFQTPCQ8HXSKGK82:AUTHORISATION:true", "AUTHORISATION")]
    # Adyen repeats items: the same one again, and in a batch with a new one.
    assert client.post(path_of(acct), content=batch(first)).text == "[accepted]"
    capture = signed(
        item(eventCode="CAPTURE", pspReference="MODPSP0000000001", originalReference="QFQT")
    )
    r = client.post(path_of(acct), content=batch(first, capture, capture))
    assert r.text == "[accepted]"
    assert stored(runtime) == [
        ("QFQTPCQ8HXSKGK82:AUTHORISATION:true", "AUTHORISATION"),
        ("MODPSP0000000001:CAPTURE:true", "CAPTURE"),
    ]
    with runtime.db.read() as s:
        payloads = [e.payload for e in s.scalars(select(InboundEvent)).all()]
    assert all("hmacSignature" not in p["additionalData"] for p in payloads)


def test_a_batch_is_deduplicated_with_one_query(api: Any, client: Any, runtime: Runtime) -> None:
    from sqlalchemy import event

    acct = add_account(api, account="StrongboxECOM")
    first = signed(item())
    assert client.post(path_of(acct), content=batch(first)).text == "[accepted]"
    items = [first] + [
        signed(item(eventCode="CAPTURE", pspReference=f"MODPSP000000000{i}")) for i in range(3)
    ]
    lookups: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            statement.lstrip().upper().startswith("SELECT")
            and "FROM inbound_webhook_events" in statement
        ):
            lookups.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        r = client.post(path_of(acct), content=batch(*items, items[1]))
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert r.text == "[accepted]"
    assert len(lookups) == 1
    assert [k for k, _ in stored(runtime)] == [
        "QFQTPCQ8HXSKGK82:AUTHORISATION:true",
        *(f"MODPSP000000000{i}:CAPTURE:true" for i in range(3)),
    ]


def test_bad_signature_gets_400_an_audit_event_and_nothing_stored(
    api: Any, client: Any, runtime: Runtime
) -> None:
    acct = add_account(api)
    seen: list[Any] = []
    runtime.dispatcher.subscribe("strongbox.webhook.*", lambda uow, e: seen.append(e))
    good = signed(item())
    bodies = [
        batch(signed(item(), NEW_KEY)),
        batch(good | {"amount": {"currency": "EUR", "value": 1}}),
        batch(good, good | {"success": "false"}),
    ]
    for body in bodies:
        err = error_of(client.post(path_of(acct), content=body), 400)
        assert err["code"] == "webhook_signature_invalid"
    assert [e.type for e in seen] == ["strongbox.webhook.signature_invalid"] * 3
    assert all(e.object["outcome"] == "failure" for e in seen)
    assert HMAC_KEY not in repr([e.object for e in seen])
    assert stored(runtime) == []


def test_basic_auth_when_configured(api: Any, client: Any, runtime: Runtime) -> None:
    acct = add_account(api, basic_auth_username="adyen-notify", basic_auth_password="s3cret-pw!")
    assert acct["basic_auth_username"] == "adyen-notify"
    assert "s3cret-pw!" not in str(acct)
    seen: list[Any] = []
    runtime.dispatcher.subscribe("strongbox.webhook.*", lambda uow, e: seen.append(e))
    body = batch(signed(item()))
    for headers in ({}, basic("adyen-notify", "wrong-pass"), basic("other", "s3cret-pw!")):
        err = error_of(client.post(path_of(acct), content=body, headers=headers), 401)
        assert err["code"] == "webhook_authentication_failed"
    assert len(seen) == 3
    assert stored(runtime) == []
    ok = client.post(path_of(acct), content=body, headers=basic("adyen-notify", "s3cret-pw!"))
    assert ok.status_code == 200
    assert ok.text == "[accepted]"
    # Basic auth does not replace the HMAC: a right password with a bad signature is refused.
    bad = batch(signed(item(pspReference="C" * 16), NEW_KEY))
    r = client.post(path_of(acct), content=bad, headers=basic("adyen-notify", "s3cret-pw!"))
    error_of(r, 400)


def test_hmac_key_rotation_accepts_both_during_the_overlap(api: Any, client: Any) -> None:
    acct = add_account(api)
    r = api.post(f"/v1/webhooks/inbound_accounts/{acct['id']}", data={"signing_secret": NEW_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["secret_rotation_expires_at"] is not None
    old = client.post(path_of(acct), content=batch(signed(item(pspReference="D" * 16))))
    new = client.post(path_of(acct), content=batch(signed(item(pspReference="E" * 16), NEW_KEY)))
    assert old.status_code == new.status_code == 200


def test_account_parameters_are_validated(api: Any) -> None:
    def create(**data: Any) -> Any:
        return api.post("/v1/webhooks/inbound_accounts", data={"connector": "adyen", **data})

    assert error_of(create(), 400)["param"] == "signing_secret"
    not_hex = "not-a-hex-key"
    assert error_of(create(signing_secret=not_hex), 400)["param"] == "signing_secret"
    assert error_of(create(signing_secret="ABC"), 400)["param"] == "signing_secret"
    err = error_of(create(signing_secret=HMAC_KEY, basic_auth_username="u"), 400)
    assert err["param"] == "basic_auth_password"
    err = error_of(
        create(signing_secret=HMAC_KEY, basic_auth_username="a:b", basic_auth_password=PASSWORD),
        400,
    )
    assert err["param"] == "basic_auth_username"
    stripe = api.post(
        "/v1/webhooks/inbound_accounts",
        data={
            "connector": "stripe",
            "signing_secret": STRIPE_SECRET,
            "basic_auth_username": "u",
            "basic_auth_password": PASSWORD,
        },
    )
    assert error_of(stripe, 400)["param"] == "basic_auth_username"
