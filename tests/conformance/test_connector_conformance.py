"""The shared conformance suite: every connector must behave like this.

Each test runs once per harness (see ``conftest.HARNESSES``). Over-refunds are refused with
``TerminalError`` (an invalid request as the gateway sees it), never a ``DECLINED`` result.

Asynchronous gateways (Adyen) answer captures, voids and refunds with "received" (a
``PENDING`` result) and report the outcome by webhook: the helpers here settle such answers
through the notification the gateway sends (``conformance_harness.settle``), so the same
tests check the resolved outcome; a refusal is then a failure notification instead of a
``TerminalError``. Without a status lookup, an answer lost on the way is resolved by the
notification too (``resolve``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conformance_harness import (
    MERCHANT,
    ConnectorHarness,
    authorize_request,
    make_token,
    new_key,
    notified,
    ops_for,
    settle,
    token_request,
)

from strongbox.connectors.base import (
    Capability,
    CaptureRequest,
    Connector,
    InvalidTokenError,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TerminalError,
    TokenRequest,
    UnknownOutcomeError,
    VoidRequest,
)

SUCCESS_CARDS = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
]

DECLINE_CARDS = [
    ("4000000000000002", "generic_decline"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000009987", "lost_card"),
    ("4000000000009979", "stolen_card"),
    ("4000000000000069", "expired_card"),
    ("4000000000000127", "incorrect_cvc"),
    ("4000000000000119", "processing_error"),
    ("4000000000000341", "generic_decline"),
    ("4242424242424241", "incorrect_number"),
]

THREE_DS_CARDS = ["4000002760003184", "4000002500003155"]


def require(connector: Connector, capability: Capability) -> None:
    if not connector.supports(capability):
        pytest.skip(f"{connector.name} does not support {capability}")


def authorized(connector: Connector, amount: int = 2000, *, capture: bool) -> OperationResult:
    result = connector.authorize(authorize_request(amount=amount, capture=capture))
    assert result.status is (OperationStatus.CAPTURED if capture else OperationStatus.AUTHORIZED)
    assert result.gateway_reference
    return result


def capture(
    harness: ConnectorHarness, ref: str, amount: int, key: str | None = None
) -> OperationResult:
    key = key or new_key()
    result = harness.connector.capture(
        CaptureRequest(
            idempotency_key=key,
            gateway_reference=ref,
            amount=amount,
            currency="usd",
            merchant_id=MERCHANT,
        )
    )
    return settle(harness, result, key)


def refund(
    harness: ConnectorHarness, ref: str, amount: int, key: str | None = None
) -> OperationResult:
    key = key or new_key()
    result = harness.connector.refund(
        RefundRequest(
            idempotency_key=key,
            gateway_reference=ref,
            amount=amount,
            currency="usd",
            merchant_id=MERCHANT,
        )
    )
    return settle(harness, result, key)


def void(harness: ConnectorHarness, ref: str, key: str | None = None) -> OperationResult:
    key = key or new_key()
    result = harness.connector.void(
        VoidRequest(idempotency_key=key, gateway_reference=ref, merchant_id=MERCHANT)
    )
    return settle(harness, result, key)


def refused(harness: ConnectorHarness, call: Callable[[], OperationResult]) -> None:
    """The gateway refuses the operation: a ``TerminalError`` at once, or for an
    asynchronous gateway, accepted and then reported failed by its webhook."""
    if not harness.asynchronous:
        with pytest.raises(TerminalError):
            call()
        return
    try:
        result = call()
    except TerminalError:
        return
    assert result.status is OperationStatus.DECLINED, result


def status(
    connector: Connector, kind: OperationKind, key: str, ref: str | None = None
) -> OperationResult:
    return connector.get_status(
        StatusRequest(kind=kind, idempotency_key=key, merchant_id=MERCHANT, gateway_reference=ref)
    )


def resolve(
    harness: ConnectorHarness, kind: OperationKind, key: str, ref: str | None = None
) -> OperationResult:
    """What became of an operation whose answer was lost: the status lookup; for a gateway
    without one, the webhook it sends (``NOT_FOUND`` when it sends none: it never did it),
    after checking that its ``get_status`` says "pending", never "not found"."""
    if harness.connector.supports(Capability.STATUS_LOOKUP):
        return status(harness.connector, kind, key, ref)
    assert harness.asynchronous, f"{harness.name}: no status lookup and no webhooks"
    assert status(harness.connector, kind, key, ref).status is OperationStatus.PENDING
    outcome = notified(harness, key)
    return outcome or OperationResult(status=OperationStatus.NOT_FOUND, gateway_reference=ref)


# ---------------------------------------------------------------------------- happy paths


def test_authorize_with_automatic_capture(harness: ConnectorHarness) -> None:
    request = authorize_request(amount=2000, capture=True)
    result = harness.connector.authorize(request)
    assert result.status is OperationStatus.CAPTURED
    assert result.amount == 2000
    assert result.gateway_reference
    [op] = ops_for(harness, request.idempotency_key)
    assert (op.kind, op.status, op.amount) == (
        OperationKind.AUTHORIZE,
        OperationStatus.CAPTURED,
        2000,
    )


def test_authorize_manual_then_capture(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.MANUAL_CAPTURE)
    auth = authorized(harness.connector, 2000, capture=False)
    assert auth.amount == 2000
    assert auth.gateway_reference is not None
    result = capture(harness, auth.gateway_reference, 2000)
    assert result.status is OperationStatus.CAPTURED
    assert result.amount == 2000


def test_partial_capture_releases_the_rest(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.PARTIAL_CAPTURE)
    conn = harness.connector
    ref = authorized(conn, 2000, capture=False).gateway_reference
    assert ref is not None
    result = capture(harness, ref, 1200)
    assert result.status is OperationStatus.CAPTURED
    assert result.amount == 1200
    refused(harness, lambda: capture(harness, ref, 800))  # one capture: the rest was released
    refused(harness, lambda: refund(harness, ref, 1201))  # never above what was captured
    assert refund(harness, ref, 1200).status is OperationStatus.REFUNDED


@pytest.mark.parametrize("pan", SUCCESS_CARDS)
def test_success_cards(harness: ConnectorHarness, pan: str) -> None:
    result = harness.connector.authorize(authorize_request(pan, amount=1500, capture=True))
    assert result.status is OperationStatus.CAPTURED
    assert result.amount == 1500
    assert result.decline_code is None


def test_void_authorized_payment(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.VOID)
    conn = harness.connector
    ref = authorized(conn, capture=False).gateway_reference
    assert ref is not None
    assert void(harness, ref).status is OperationStatus.VOIDED
    refused(harness, lambda: capture(harness, ref, 2000))


def test_void_of_captured_payment_is_refused(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.VOID)
    ref = authorized(harness.connector, capture=True).gateway_reference
    assert ref is not None
    refused(harness, lambda: void(harness, ref))


def test_full_refund(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.REFUND)
    ref = authorized(harness.connector, 2000, capture=True).gateway_reference
    assert ref is not None
    result = refund(harness, ref, 2000)
    assert result.status is OperationStatus.REFUNDED
    assert result.amount == 2000


def test_refund_of_uncaptured_payment_is_refused(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.REFUND)
    ref = authorized(harness.connector, capture=False).gateway_reference
    assert ref is not None
    refused(harness, lambda: refund(harness, ref, 100))


def test_partial_and_multiple_refunds(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.MULTIPLE_REFUNDS)
    conn = harness.connector
    ref = authorized(conn, 2000, capture=True).gateway_reference
    assert ref is not None
    keys = [new_key() for _ in range(3)]
    for key, amount in zip(keys, [500, 700, 800], strict=True):
        result = refund(harness, ref, amount, key)
        assert result.status is OperationStatus.REFUNDED
        assert result.amount == amount
    refused(harness, lambda: refund(harness, ref, 1))  # fully refunded now
    recorded = [op for op in harness.operations() if op.kind is OperationKind.REFUND]
    assert sorted(op.idempotency_key for op in recorded) == sorted(keys)
    assert sum(op.amount or 0 for op in recorded) == 2000


def test_over_refund_is_refused_and_changes_nothing(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.PARTIAL_REFUND)
    conn = harness.connector
    ref = authorized(conn, 2000, capture=True).gateway_reference
    assert ref is not None
    assert refund(harness, ref, 1500).status is OperationStatus.REFUNDED
    over_key = new_key()
    refused(harness, lambda: refund(harness, ref, 501, over_key))
    assert ops_for(harness, over_key) == []
    assert refund(harness, ref, 500).status is OperationStatus.REFUNDED


# ---------------------------------------------------------------------------- declines


@pytest.mark.parametrize(("pan", "decline_code"), DECLINE_CARDS)
def test_declines(harness: ConnectorHarness, pan: str, decline_code: str) -> None:
    request = authorize_request(pan, capture=True)
    result = harness.connector.authorize(request)
    assert result.status is OperationStatus.DECLINED
    assert result.decline_code == decline_code
    assert result.message
    assert pan not in repr(result)
    [op] = ops_for(harness, request.idempotency_key)
    assert op.status is OperationStatus.DECLINED


def test_past_expiry_declines_expired_card(harness: ConnectorHarness) -> None:
    result = harness.connector.authorize(authorize_request(exp_year=2020))
    assert result.status is OperationStatus.DECLINED
    assert result.decline_code == "expired_card"


# ---------------------------------------------------------------------------- 3DS


@pytest.mark.parametrize("pan", THREE_DS_CARDS)
@pytest.mark.parametrize("auto_capture", [True, False])
def test_3ds_challenge_completed(harness: ConnectorHarness, pan: str, auto_capture: bool) -> None:
    require(harness.connector, Capability.THREE_DS)
    conn = harness.connector
    request = authorize_request(pan, capture=auto_capture)
    result = conn.authorize(request)
    assert result.status is OperationStatus.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.reference
    assert result.next_action.redirect_url.startswith("http")
    pending = status(conn, OperationKind.AUTHORIZE, request.idempotency_key)
    assert pending.status is OperationStatus.REQUIRES_ACTION

    harness.complete_challenge(result.next_action.reference, True)

    final = status(conn, OperationKind.AUTHORIZE, request.idempotency_key)
    expected = OperationStatus.CAPTURED if auto_capture else OperationStatus.AUTHORIZED
    assert final.status is expected
    assert final.gateway_reference == result.gateway_reference
    assert final.amount == request.amount


def test_3ds_challenge_failed(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.THREE_DS)
    conn = harness.connector
    request = authorize_request("4000002760003184", capture=True)
    result = conn.authorize(request)
    assert result.next_action is not None
    harness.complete_challenge(result.next_action.reference, False)
    final = status(conn, OperationKind.AUTHORIZE, request.idempotency_key)
    assert final.status is OperationStatus.DECLINED
    assert final.decline_code == "payment_intent_authentication_failure"
    assert result.gateway_reference is not None
    ref = result.gateway_reference
    refused(harness, lambda: capture(harness, ref, request.amount))


# ---------------------------------------------------------------------------- faults


def test_timeout_is_unknown_and_status_resolves(harness: ConnectorHarness) -> None:
    conn = harness.connector
    request = authorize_request(amount=3100)
    harness.inject_fault("timeout", operations={OperationKind.AUTHORIZE})
    with pytest.raises(UnknownOutcomeError):
        conn.authorize(request)
    # A timeout hangs without processing: the gateway never saw the key.
    assert resolve(harness, OperationKind.AUTHORIZE, request.idempotency_key).status is (
        OperationStatus.NOT_FOUND
    )
    assert ops_for(harness, request.idempotency_key) == []
    assert conn.authorize(request).status is OperationStatus.CAPTURED
    assert len(ops_for(harness, request.idempotency_key)) == 1


def test_5xx_is_retryable_and_retry_charges_once(harness: ConnectorHarness) -> None:
    conn = harness.connector
    request = authorize_request(amount=4200)
    harness.inject_fault("error_5xx", operations={OperationKind.AUTHORIZE})
    with pytest.raises(RetryableError):
        conn.authorize(request)
    assert ops_for(harness, request.idempotency_key) == []
    result = conn.authorize(request)
    assert result.status is OperationStatus.CAPTURED
    assert conn.authorize(request).gateway_reference == result.gateway_reference
    [op] = ops_for(harness, request.idempotency_key)
    assert op.amount == 4200


def test_fault_count_and_clear(harness: ConnectorHarness) -> None:
    conn = harness.connector
    request = authorize_request()
    harness.inject_fault("error_5xx", count=2)
    for _ in range(2):
        with pytest.raises(RetryableError):
            conn.authorize(request)
    assert conn.authorize(request).status is OperationStatus.CAPTURED
    harness.inject_fault("error_5xx", count=5)
    harness.clear_faults()
    assert conn.authorize(authorize_request()).status is OperationStatus.CAPTURED


def test_faults_only_hit_the_chosen_operations(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.MANUAL_CAPTURE)
    conn = harness.connector
    harness.inject_fault("error_5xx", operations={OperationKind.CAPTURE})
    ref = authorized(conn, capture=False).gateway_reference  # not hit
    assert ref is not None
    key = new_key()
    with pytest.raises(RetryableError):
        capture(harness, ref, 2000, key)
    assert capture(harness, ref, 2000, key).status is OperationStatus.CAPTURED


def test_dropped_response_after_charge_is_unknown_and_status_shows_charge(
    harness: ConnectorHarness,
) -> None:
    conn = harness.connector
    request = authorize_request(amount=5300, capture=True)
    harness.inject_fault("drop_response", operations={OperationKind.AUTHORIZE})
    with pytest.raises(UnknownOutcomeError):
        conn.authorize(request)
    resolved = resolve(harness, OperationKind.AUTHORIZE, request.idempotency_key)
    assert resolved.status is OperationStatus.CAPTURED
    assert resolved.amount == 5300
    assert resolved.gateway_reference
    # Retrying with the same key replays; it never charges a second time.
    replay = conn.authorize(request)
    assert replay.status is OperationStatus.CAPTURED
    assert replay.gateway_reference == resolved.gateway_reference
    [op] = ops_for(harness, request.idempotency_key)
    assert op.amount == 5300


def test_dropped_refund_response_then_status(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.REFUND)
    conn = harness.connector
    ref = authorized(conn, 2000, capture=True).gateway_reference
    assert ref is not None
    key = new_key()
    harness.inject_fault("drop_response", operations={OperationKind.REFUND})
    with pytest.raises(UnknownOutcomeError):
        refund(harness, ref, 700, key)
    resolved = resolve(harness, OperationKind.REFUND, key, ref)
    assert resolved.status is OperationStatus.REFUNDED
    assert resolved.amount == 700
    assert refund(harness, ref, 700, key).status is OperationStatus.REFUNDED
    assert len(ops_for(harness, key)) == 1


def test_capture_timeout_then_status_then_retry(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.MANUAL_CAPTURE)
    conn = harness.connector
    ref = authorized(conn, capture=False).gateway_reference
    assert ref is not None
    key = new_key()
    harness.inject_fault("timeout", operations={OperationKind.CAPTURE})
    with pytest.raises(UnknownOutcomeError):
        capture(harness, ref, 2000, key)
    assert resolve(harness, OperationKind.CAPTURE, key, ref).status is OperationStatus.NOT_FOUND
    assert capture(harness, ref, 2000, key).status is OperationStatus.CAPTURED
    assert resolve(harness, OperationKind.CAPTURE, key, ref).status is OperationStatus.CAPTURED


# ---------------------------------------------------------------------------- idempotency


def test_idempotent_replay_never_double_charges(harness: ConnectorHarness) -> None:
    conn = harness.connector
    request = authorize_request(amount=2500, capture=True)
    first = conn.authorize(request)
    again = [conn.authorize(request) for _ in range(3)]
    assert all(r.status is first.status for r in again)
    assert {r.gateway_reference for r in again} == {first.gateway_reference}
    [op] = ops_for(harness, request.idempotency_key)
    assert op.amount == 2500
    charged = [
        op
        for op in harness.operations()
        if op.kind is OperationKind.AUTHORIZE and op.status is OperationStatus.CAPTURED
    ]
    assert len(charged) == 1


def test_same_key_with_different_amount_is_refused(harness: ConnectorHarness) -> None:
    conn = harness.connector
    request = authorize_request(amount=2000)
    conn.authorize(request)
    clash = authorize_request(amount=2001, key=request.idempotency_key)
    with pytest.raises(TerminalError):
        conn.authorize(clash)
    [op] = ops_for(harness, request.idempotency_key)
    assert op.amount == 2000


# ------------------------------------------------- recovery: making an outcome definitive


def test_replay_under_the_same_key_makes_an_unprocessed_request_definitive(
    harness: ConnectorHarness,
) -> None:
    """What recovery does when the gateway has no record of a request (payments/recovery.py):
    it re-sends the very request under the same key. The gateway does it now, once, and from
    then on every request under that key (a straggler of the first one included) gets that
    outcome: the key can never charge again."""
    require(harness.connector, Capability.IDEMPOTENT_REPLAY)
    conn = harness.connector
    request = authorize_request(amount=4100, capture=True)
    harness.inject_fault("timeout", operations={OperationKind.AUTHORIZE})
    with pytest.raises(UnknownOutcomeError):
        conn.authorize(request)  # hung unprocessed: nothing charged
    assert ops_for(harness, request.idempotency_key) == []
    if conn.supports(Capability.STATUS_LOOKUP):
        found = status(conn, OperationKind.AUTHORIZE, request.idempotency_key)
        assert found.status is OperationStatus.NOT_FOUND
    decided = conn.authorize(request)  # recovery's replay
    assert decided.status is OperationStatus.CAPTURED
    assert decided.amount == 4100
    straggler = conn.authorize(request)
    assert straggler.status is OperationStatus.CAPTURED
    assert straggler.gateway_reference == decided.gateway_reference
    [op] = ops_for(harness, request.idempotency_key)
    assert op.amount == 4100


def test_replay_of_a_refund_under_its_key_refunds_once(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.IDEMPOTENT_REPLAY)
    require(harness.connector, Capability.REFUND)
    conn = harness.connector
    ref = authorized(conn, 3000, capture=True).gateway_reference
    assert ref is not None
    key = new_key()
    harness.inject_fault("timeout", operations={OperationKind.REFUND})
    with pytest.raises(UnknownOutcomeError):
        refund(harness, ref, 3000, key)
    assert refund(harness, ref, 3000, key).status is OperationStatus.REFUNDED
    assert refund(harness, ref, 3000, key).status is OperationStatus.REFUNDED
    assert len(ops_for(harness, key)) == 1


def test_without_replay_the_search_by_our_key_decides(harness: ConnectorHarness) -> None:
    """A gateway without idempotency keys (Braintree) is asked by searching for our key as
    its reference: not found means not done, and a request under the key sent later is found
    by the same search, so it is never done twice. A request still in flight when recovery
    searched is the one case left, and its late success is reconciled by the payments
    domain (payments/late.py, tests/payments/test_late_success.py)."""
    conn = harness.connector
    if conn.supports(Capability.IDEMPOTENT_REPLAY):
        pytest.skip(f"{harness.name} dedupes by key (test_replay_under_the_same_key_...)")
    require(conn, Capability.STATUS_LOOKUP)
    request = authorize_request(amount=4200, capture=True)
    harness.inject_fault("timeout", operations={OperationKind.AUTHORIZE})
    with pytest.raises(UnknownOutcomeError):
        conn.authorize(request)
    found = status(conn, OperationKind.AUTHORIZE, request.idempotency_key)
    assert found.status is OperationStatus.NOT_FOUND
    late = conn.authorize(request)  # the straggler reaches the gateway after all
    assert late.status is OperationStatus.CAPTURED
    searched = status(conn, OperationKind.AUTHORIZE, request.idempotency_key)
    assert searched.status is OperationStatus.CAPTURED
    assert searched.gateway_reference == late.gateway_reference
    assert conn.authorize(request).gateway_reference == late.gateway_reference
    [op] = ops_for(harness, request.idempotency_key)
    assert op.amount == 4200


def test_status_of_unknown_key_is_not_found(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.STATUS_LOOKUP)
    for kind in OperationKind:
        assert status(harness.connector, kind, new_key()).status is OperationStatus.NOT_FOUND


def test_without_status_lookup_status_is_pending_never_not_found(
    harness: ConnectorHarness,
) -> None:
    """A gateway without a lookup cannot know "never seen": answering NOT_FOUND would let the
    payments service fail an operation the gateway may have done."""
    if harness.connector.supports(Capability.STATUS_LOOKUP):
        pytest.skip(f"{harness.name} has a status lookup (test_status_of_unknown_key_...)")
    for kind in OperationKind:
        assert status(harness.connector, kind, new_key()).status is OperationStatus.PENDING


# ---------------------------------------------------------------------------- gateway tokens


def test_token_authorize_with_automatic_capture(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    request = token_request(make_token(harness), amount=2100, capture=True)
    result = harness.connector.authorize(request)
    assert result.status is OperationStatus.CAPTURED
    assert result.amount == 2100
    assert result.gateway_reference
    [op] = ops_for(harness, request.idempotency_key)
    assert (op.kind, op.status, op.amount) == (
        OperationKind.AUTHORIZE,
        OperationStatus.CAPTURED,
        2100,
    )
    found = status(harness.connector, OperationKind.AUTHORIZE, request.idempotency_key)
    assert found.status is OperationStatus.CAPTURED
    assert found.gateway_reference == result.gateway_reference


def test_token_authorize_manual_capture_then_refund(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    require(harness.connector, Capability.MANUAL_CAPTURE)
    auth = harness.connector.authorize(token_request(make_token(harness), capture=False))
    assert auth.status is OperationStatus.AUTHORIZED
    assert auth.gateway_reference is not None
    assert capture(harness, auth.gateway_reference, 2000).status is OperationStatus.CAPTURED
    assert refund(harness, auth.gateway_reference, 500).status is OperationStatus.REFUNDED


def test_token_decline_carries_the_decline_code(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    token = make_token(harness, "4000000000009995")
    result = harness.connector.authorize(token_request(token))
    assert result.status is OperationStatus.DECLINED
    assert result.decline_code == "insufficient_funds"


def test_token_replay_with_the_same_key_charges_once(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    request = token_request(make_token(harness))
    first = harness.connector.authorize(request)
    second = harness.connector.authorize(request)
    assert first.status is second.status is OperationStatus.CAPTURED
    assert first.gateway_reference == second.gateway_reference
    assert len(ops_for(harness, request.idempotency_key)) == 1


def test_token_answer_dropped_is_unknown_then_found(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    require(harness.connector, Capability.STATUS_LOOKUP)
    request = token_request(make_token(harness))
    harness.inject_fault("drop_response", operations={OperationKind.AUTHORIZE})
    with pytest.raises(UnknownOutcomeError):
        harness.connector.authorize(request)
    harness.clear_faults()
    found = status(harness.connector, OperationKind.AUTHORIZE, request.idempotency_key)
    assert found.status is OperationStatus.CAPTURED
    assert len(ops_for(harness, request.idempotency_key)) == 1


@pytest.mark.parametrize(
    ("number", "brand", "last4"),
    [
        ("4242424242424242", "visa", "4242"),
        ("5555555555554444", "mastercard", "4444"),
        ("378282246310005", "amex", "0005"),
    ],
)
def test_describe_token_gives_the_card_without_its_number(
    harness: ConnectorHarness, number: str, brand: str, last4: str
) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    details = harness.connector.describe_token(
        TokenRequest(token=make_token(harness, number), merchant_id=MERCHANT)
    )
    assert (details.brand, details.last4, details.exp_month, details.exp_year) == (
        brand,
        last4,
        12,
        2039,
    )


def test_unknown_token_is_invalid_and_charges_nothing(harness: ConnectorHarness) -> None:
    require(harness.connector, Capability.GATEWAY_TOKEN)
    with pytest.raises(InvalidTokenError):
        harness.connector.describe_token(
            TokenRequest(token="tok_strongbox_never_made", merchant_id=MERCHANT)
        )
    request = token_request("tok_strongbox_never_made")
    with pytest.raises(TerminalError):
        harness.connector.authorize(request)
    assert ops_for(harness, request.idempotency_key) == []


def test_connector_without_tokens_refuses_one(harness: ConnectorHarness) -> None:
    if harness.connector.supports(Capability.GATEWAY_TOKEN):
        pytest.skip(f"{harness.name} accepts gateway tokens")
    request = token_request("tok_from_another_gateway")
    with pytest.raises(TerminalError):
        harness.connector.authorize(request)
    with pytest.raises(TerminalError):
        harness.connector.describe_token(TokenRequest(token="tok_x", merchant_id=MERCHANT))
    assert ops_for(harness, request.idempotency_key) == []
