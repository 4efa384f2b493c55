"""Plaid webhooks: verified as Plaid specifies (ES256 JWT, key by kid, iat, body hash), stored
once, applied by the worker with back-off. Keys are real P-256 keys made in the test."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from banking.conftest import Bank
from banking.fakes.plaid_fake import CLIENT_ID, SECRET, PlaidFake
from strongbox.banking import tasks
from strongbox.banking.models import BankItem, BankWebhookEvent
from strongbox.banking.providers.plaid_webhooks import PlaidWebhookVerifier, WebhookRejected
from strongbox.banking.providers.registry import Banking
from strongbox.banking.refresh import REFRESH_CODE
from strongbox.core.clock import SystemClock
from strongbox.runtime import Runtime
from support import error_of

# The provider's notices (the queue also holds the refreshes merchants asked for).
NOTICES = BankWebhookEvent.webhook_code != REFRESH_CODE

HOOK = "/v1/financial_connections/webhooks/plaid"


def _verifier(banking: Banking) -> PlaidWebhookVerifier:
    v = banking.extra["plaid_verifier"]
    assert isinstance(v, PlaidWebhookVerifier)
    return v


def _body(item_id: str, code: str = "SYNC_UPDATES_AVAILABLE", **extra: Any) -> bytes:
    t = "TRANSACTIONS" if code == "SYNC_UPDATES_AVAILABLE" else "ITEM"
    payload = {"webhook_type": t, "webhook_code": code, "item_id": item_id, **extra}
    return json.dumps(payload).encode()


# ---------------------------------------------------------------- the verifier


def test_a_genuine_webhook_verifies_and_its_key_is_fetched_once(
    banking: Banking, plaid_fake: PlaidFake
) -> None:
    v = _verifier(banking)
    body = _body("item-x")
    claims = v.verify(body, plaid_fake.sign(body))
    assert claims["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    other = _body("item-y")
    v.verify(other, plaid_fake.sign(other))
    assert plaid_fake.calls["/webhook_verification_key/get"] == 1
    assert v.fetches == 1


@pytest.mark.parametrize(
    "forge",
    [
        "altered_body",
        "other_key_same_kid",
        "unknown_kid",
        "stale_iat",
        "future_iat",
        "hs256",
        "alg_none",
        "es384",
        "no_header",
        "garbage",
    ],
)
def test_forged_or_stale_webhooks_are_refused(
    banking: Banking, plaid_fake: PlaidFake, forge: str
) -> None:
    v = _verifier(banking)
    body = _body("item-x")
    now = time.time()
    header: str | None
    if forge == "altered_body":
        header = plaid_fake.sign(body)
        body = body.replace(b"item-x", b"item-z")
    elif forge == "other_key_same_kid":
        header = plaid_fake.sign(body, key=ec.generate_private_key(ec.SECP256R1()))
    elif forge == "unknown_kid":
        header = plaid_fake.sign(body, kid="kid-nobody-knows")
    elif forge == "stale_iat":
        header = plaid_fake.sign(body, iat=now - 5 * 60 - 5)
    elif forge == "future_iat":
        header = plaid_fake.sign(body, iat=now + 5 * 60 + 5)
    elif forge == "hs256":
        # The public key's bytes as an HMAC secret: the classic algorithm-confusion forgery.
        header = jwt.encode(
            {"iat": int(now), "request_body_sha256": hashlib.sha256(body).hexdigest()},
            "a-shared-secret-of-32-bytes-or-more!!",
            algorithm="HS256",
            headers={"kid": plaid_fake.kid},
        )
    elif forge == "alg_none":
        header = jwt.encode(
            {"iat": int(now), "request_body_sha256": hashlib.sha256(body).hexdigest()},
            None,
            algorithm="none",
            headers={"kid": plaid_fake.kid},
        )
    elif forge == "es384":
        header = plaid_fake.sign(body, key=ec.generate_private_key(ec.SECP384R1()), alg="ES384")
    elif forge == "no_header":
        header = None
    else:
        header = "not.a.jwt"
    with pytest.raises(WebhookRejected):
        v.verify(body, header)


def test_iat_just_inside_five_minutes_is_accepted(banking: Banking, plaid_fake: PlaidFake) -> None:
    body = _body("item-x")
    _verifier(banking).verify(body, plaid_fake.sign(body, iat=time.time() - 5 * 60 + 20))


def test_a_key_used_after_it_expired_is_refused(plaid_fake: PlaidFake) -> None:
    old = ec.generate_private_key(ec.SECP256R1())
    plaid_fake.extra_keys["kid-old"] = old

    def fetch(kid: str) -> dict[str, Any]:
        key = plaid_fake._jwk(old, kid)
        return {**key, "expired_at": int(time.time()) - 60}

    v = PlaidWebhookVerifier(fetch, SystemClock())
    body = _body("item-x")
    with pytest.raises(WebhookRejected):
        v.verify(body, plaid_fake.sign(body, key=old, kid="kid-old"))


# ---------------------------------------------------------------- over HTTP


def test_a_forged_webhook_is_refused_and_stores_nothing(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    bank.link()
    (item,) = plaid_fake.items.values()
    body = _body(item.item_id)
    forged = plaid_fake.sign(body, key=ec.generate_private_key(ec.SECP256R1()))
    r = bank.api.post(HOOK, content=body, headers={"Plaid-Verification": forged})
    assert error_of(r, 400)["code"] == "webhook_signature_invalid"
    r = bank.api.post(HOOK, content=body)
    assert error_of(r, 400)["code"] == "webhook_signature_invalid"
    with runtime.db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(BankWebhookEvent)).scalar() == 0


def test_sync_webhook_fetches_new_transactions_once(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    # The first sync (Plaid sends SYNC_UPDATES_AVAILABLE only after one).
    bank.refresh(acct, "transactions")
    assert len(bank.transactions(acct)) == 3
    (item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(
        item.item_id, [{"transaction_id": "new-1", "amount": 7.5, "name": "Coffee"}]
    )
    assert len(plaid_fake.outbox) == 1
    webhook = plaid_fake.outbox[0]
    (r,) = bank.deliver_webhooks()
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "duplicate": False}
    # Plaid retries a delivery it is unsure of: stored once.
    r = bank.api.post(HOOK, content=webhook.body, headers=webhook.headers)
    assert r.json() == {"received": True, "duplicate": True}
    syncs = plaid_fake.calls["/transactions/sync"]
    assert tasks.process_webhooks(runtime.db, banking) == 1
    assert tasks.process_webhooks(runtime.db, banking) == 0
    assert plaid_fake.calls["/transactions/sync"] == syncs + 1
    coffee = [t for t in bank.transactions(acct) if t["description"] == "Coffee"]
    assert [(t["amount"], t["status"]) for t in coffee] == [(-750, "posted")]
    r = bank.api.get(
        "/v1/events",
        params={"type": "financial_connections.account.refreshed_transactions", "limit": 100},
    )
    assert len(r.json()["data"]) == 4  # two accounts, two syncs


def test_waiting_sync_notices_for_one_item_cost_one_sync(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    bank.refresh(acct, "transactions")
    (item,) = plaid_fake.items.values()
    for i in range(3):
        plaid_fake.add_transactions(item.item_id, [{"transaction_id": f"n{i}", "amount": i + 1}])
    assert [r.status_code for r in bank.deliver_webhooks()] == [200, 200, 200]
    before = plaid_fake.calls["/transactions/sync"]
    tasks.process_webhooks(runtime.db, banking)
    assert plaid_fake.calls["/transactions/sync"] == before + 1
    assert len(bank.transactions(acct)) == 6
    with runtime.db.engine.connect() as conn:
        statuses = conn.execute(sa.select(BankWebhookEvent.status).where(NOTICES)).scalars().all()
    assert statuses == ["processed"] * 3


def test_a_failed_sync_is_retried_with_exponential_backoff(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    bank.refresh(acct, "transactions")
    (item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(item.item_id, [{"transaction_id": "late", "amount": 1}])
    bank.deliver_webhooks()
    gaps = []
    for _ in range(3):
        plaid_fake.fail(1)
        start = runtime.db.clock.now()
        assert tasks.process_webhooks(runtime.db, banking) == 1
        with runtime.db.unit_of_work() as uow:
            ev = uow.session.scalars(sa.select(BankWebhookEvent).where(NOTICES)).one()
            assert ev.status == "pending"
            assert ev.last_error == "INTERNAL_SERVER_ERROR"
            assert ev.next_attempt_at is not None
            gaps.append(ev.next_attempt_at - start)
            ev.next_attempt_at = start - timedelta(seconds=1)  # as if the wait were over
            uow.commit()
    assert gaps[0] >= timedelta(seconds=29)
    assert gaps[1] >= 2 * gaps[0] - timedelta(seconds=2)
    assert gaps[2] >= 2 * gaps[1] - timedelta(seconds=2)
    assert tasks.process_webhooks(runtime.db, banking) == 1
    assert any(t["description"] == "Purchase" for t in bank.transactions(acct))
    with runtime.db.engine.connect() as conn:
        row = conn.execute(
            sa.select(BankWebhookEvent.status, BankWebhookEvent.attempts).where(NOTICES)
        ).one()
    assert tuple(row) == ("processed", 4)


def test_login_required_webhook_deactivates_and_login_repaired_reactivates(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    accts = {a["id"] for a in done["accounts"]["data"]}
    (item,) = plaid_fake.items.values()
    # Plaid's sandbox endpoint that breaks the item's login (and sends ITEM/ERROR).
    httpx.post(
        plaid_fake.url + "/sandbox/item/reset_login",  # type: ignore[attr-defined]
        json={"client_id": CLIENT_ID, "secret": SECRET, "access_token": item.access_token},
    ).raise_for_status()
    (r1,) = bank.deliver_webhooks()
    assert r1.status_code == 200
    tasks.process_webhooks(runtime.db, banking)
    for a in accts:
        got = bank.api.get(f"/v1/financial_connections/accounts/{a}").json()
        assert (got["status"], got["relink_required"]) == ("inactive", True)
    with runtime.db.engine.connect() as conn:
        assert conn.execute(sa.select(BankItem.error_code)).scalar_one() == "ITEM_LOGIN_REQUIRED"
    s = bank.session(**{"relink_account": next(iter(accts))})
    plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    (r2,) = bank.deliver_webhooks()  # LOGIN_REPAIRED
    assert r2.status_code == 200
    tasks.process_webhooks(runtime.db, banking)
    for a in accts:
        assert bank.api.get(f"/v1/financial_connections/accounts/{a}").json()["status"] == "active"


def test_the_daily_poll_is_a_fallback(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    assert tasks.poll_once(runtime.db, banking) == 0  # not due: a day after linking
    with runtime.db.unit_of_work() as uow:
        item = uow.session.scalars(sa.select(BankItem)).one()
        item.next_poll_at = uow.clock.now() - timedelta(seconds=1)
        uow.commit()
    assert tasks.poll_once(runtime.db, banking) == 1
    assert len(bank.transactions(acct)) == 3
    assert tasks.poll_once(runtime.db, banking) == 0  # the next one is a day away


def test_a_notice_for_a_disconnected_item_is_settled(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    bank.refresh(acct, "transactions")
    (item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(item.item_id, [{"transaction_id": "after", "amount": 1}])
    bank.deliver_webhooks()
    for a in done["accounts"]["data"]:
        bank.api.post(f"/v1/financial_connections/accounts/{a['id']}/disconnect")
    before = plaid_fake.calls["/transactions/sync"]
    assert tasks.process_webhooks(runtime.db, banking) == 1
    assert tasks.process_webhooks(runtime.db, banking) == 0
    assert plaid_fake.calls["/transactions/sync"] == before
    with runtime.db.engine.connect() as conn:
        assert (
            conn.execute(sa.select(BankWebhookEvent.status).where(NOTICES)).scalar_one()
            == "processed"
        )


def test_an_event_that_cannot_be_applied_is_retried_not_stuck(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    bank.refresh(acct, "transactions")
    (item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(item.item_id, [{"transaction_id": "x1", "amount": 1}])
    bank.deliver_webhooks()
    with runtime.db.unit_of_work() as uow:  # a damaged ciphertext: it no longer opens
        row = uow.session.scalars(sa.select(BankItem)).one()
        assert row.access_token_sealed is not None
        row.access_token_sealed = row.access_token_sealed[:-1] + bytes(
            [row.access_token_sealed[-1] ^ 1]
        )
        uow.commit()
    assert tasks.process_webhooks(runtime.db, banking) == 1
    with runtime.db.engine.connect() as conn:
        ev = conn.execute(
            sa.select(
                BankWebhookEvent.status, BankWebhookEvent.attempts, BankWebhookEvent.last_error
            ).where(NOTICES)
        ).one()
    assert tuple(ev) == ("pending", 1, "internal_error")


def test_data_that_changes_under_the_paging_restarts_the_sync(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Banking
) -> None:
    from strongbox.banking.providers import plaid as plaid_module

    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    old = plaid_module.SYNC_PAGE_SIZE
    plaid_module.SYNC_PAGE_SIZE = 2  # three transactions: two pages
    try:
        plaid_fake.mutations_during_pagination = 1
        bank.refresh(acct, "transactions")
        # page 1, page 2 (refused: restart), page 1, page 2
        assert plaid_fake.calls["/transactions/sync"] == 4
        assert len(bank.transactions(acct)) == 3
        plaid_fake.mutations_during_pagination = 10  # it never settles: an error, nothing kept
        (item,) = plaid_fake.items.values()
        plaid_fake.add_transactions(
            item.item_id, [{"transaction_id": f"m{i}", "amount": 1} for i in range(3)]
        )
        r = bank.api.post(
            f"/v1/financial_connections/accounts/{acct}/refresh",
            data={"features[0]": "transactions"},
        )
        assert r.status_code == 200, r.text
        # The worker's try meets the restarts and leaves it for a retry with back-off.
        tasks.process_webhooks(runtime.db, banking)
        body = bank.api.get(f"/v1/financial_connections/accounts/{acct}").json()
        assert body["transaction_refresh"]["status"] == "pending"
        assert len(bank.transactions(acct)) == 3
    finally:
        plaid_module.SYNC_PAGE_SIZE = old
