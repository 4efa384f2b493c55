"""Inbound gateway webhooks: accounts (which gateway may post, with which sealed secret),
receiving (verify the raw body, store once), and processing (through the payments service).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from strongbox.core.errors import (
    AuthenticationError,
    InvalidRequestError,
    ParameterMissingError,
    ResourceMissingError,
    StrongboxError,
)
from strongbox.core.ids import new_id
from strongbox.core.sealing import Sealer
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments.reports import GatewayReport
from strongbox.webhooks import inbound_repository as repo
from strongbox.webhooks import providers
from strongbox.webhooks.models import InboundAccount, InboundEvent
from strongbox.webhooks.schemas import CreateInboundAccountParams, UpdateInboundAccountParams

SYSTEM_ACTOR = "system:webhooks-inbound"


def _aad(a: InboundAccount, purpose: str) -> bytes:
    return f"{a.merchant_id}|{a.id}|{purpose}".encode()


def _internal(
    uow: UnitOfWork, ctx: RequestContext, type_: str, a: InboundAccount, extra: dict[str, Any]
) -> None:
    obj = {"id": a.id, "connector": a.connector, **extra}
    raise_event(uow, ctx, type_, "inbound_webhook_account", a.id, obj, merchant_id=a.merchant_id)


# ---------------------------------------------------------------- accounts


_HEX_KEY = re.compile(r"(?:[0-9A-Fa-f]{2}){16,128}")


def _check_adyen(p: CreateInboundAccountParams | UpdateInboundAccountParams) -> None:
    if p.signing_secret and not _HEX_KEY.fullmatch(p.signing_secret):
        raise InvalidRequestError(
            "Adyen's HMAC key (signing_secret) is hexadecimal: 32 to 256 hex digits.",
            param="signing_secret",
        )
    if bool(p.basic_auth_username) != bool(p.basic_auth_password):
        missing = "basic_auth_password" if p.basic_auth_username else "basic_auth_username"
        raise ParameterMissingError(
            f"Basic auth needs both basic_auth_username and basic_auth_password: give {missing}.",
            param=missing,
        )


def _check_no_basic_auth(
    connector: str, p: CreateInboundAccountParams | UpdateInboundAccountParams
) -> None:
    if p.basic_auth_username or p.basic_auth_password:
        raise InvalidRequestError(
            f"{connector} accounts take no Basic auth credentials.",
            param="basic_auth_username" if p.basic_auth_username else "basic_auth_password",
        )


def create_account(
    uow: UnitOfWork, ctx: RequestContext, sealer: Sealer, p: CreateInboundAccountParams
) -> InboundAccount:
    if p.connector == "braintree":
        if not p.public_key:
            raise ParameterMissingError("Missing required param: public_key.", param="public_key")
        if not p.private_key:
            raise ParameterMissingError("Missing required param: private_key.", param="private_key")
        if p.signing_secret:
            raise InvalidRequestError(
                "Braintree accounts are verified with public_key and private_key, not "
                "signing_secret.",
                param="signing_secret",
            )
        secret = p.private_key
    else:
        if not p.signing_secret:
            raise ParameterMissingError(
                "Missing required param: signing_secret.", param="signing_secret"
            )
        if p.public_key or p.private_key:
            raise InvalidRequestError(
                f"{p.connector} accounts take signing_secret only.",
                param="public_key" if p.public_key else "private_key",
            )
        secret = p.signing_secret
    if p.connector == "adyen":
        _check_adyen(p)
    else:
        _check_no_basic_auth(p.connector, p)
    now = uow.clock.now()
    a = InboundAccount(
        id=new_id("inbound_account"),
        merchant_id=ctx.merchant_id,
        connector=p.connector,
        account=p.account,
        description=p.description or None,
        secret_sealed=b"",
        previous_secret_sealed=None,
        previous_secret_expires_at=None,
        public_key=p.public_key,
        basic_auth_username=p.basic_auth_username or None,
        basic_auth_password_sealed=None,
        created=now,
        updated=now,
    )
    a.secret_sealed = sealer.seal(secret.encode(), _aad(a, "secret"))
    if p.basic_auth_password:
        a.basic_auth_password_sealed = sealer.seal(
            p.basic_auth_password.encode(), _aad(a, "basic_auth")
        )
    uow.session.add(a)
    uow.flush()
    _internal(uow, ctx, "strongbox.inbound_webhook_account.created", a, {})
    return a


def require_account(uow: UnitOfWork, ctx: RequestContext, account_id: str) -> InboundAccount:
    a = repo.get_inbound_account(uow.session, ctx.merchant_id, account_id)
    if a is None:
        raise ResourceMissingError(f"No such inbound webhook account: '{account_id}'", param="id")
    return a


def update_account(
    uow: UnitOfWork,
    ctx: RequestContext,
    sealer: Sealer,
    account_id: str,
    p: UpdateInboundAccountParams,
) -> InboundAccount:
    """A new secret (or private key) replaces the current one, which stays valid for
    ``previous_secret_expires_in`` seconds: the gateway's own rotation overlap."""
    a = require_account(uow, ctx, account_id)
    now = uow.clock.now()
    new_secret = p.private_key if a.connector == "braintree" else p.signing_secret
    wrong = p.signing_secret if a.connector == "braintree" else p.private_key
    if wrong:
        raise InvalidRequestError(
            "This parameter does not apply to this connector.",
            param="signing_secret" if a.connector == "braintree" else "private_key",
        )
    if a.connector == "adyen":
        _check_adyen(p)
        if p.basic_auth_username and p.basic_auth_password:
            a.basic_auth_username = p.basic_auth_username
            a.basic_auth_password_sealed = sealer.seal(
                p.basic_auth_password.encode(), _aad(a, "basic_auth")
            )
    else:
        _check_no_basic_auth(a.connector, p)
    if p.public_key is not None:
        if a.connector != "braintree":
            raise InvalidRequestError(
                "This parameter does not apply to this connector.", param="public_key"
            )
        a.public_key = p.public_key
    if new_secret:
        current = sealer.unseal(a.secret_sealed, _aad(a, "secret"))
        if p.previous_secret_expires_in > 0:
            a.previous_secret_sealed = sealer.seal(current, _aad(a, "previous"))
            a.previous_secret_expires_at = now + timedelta(seconds=p.previous_secret_expires_in)
        else:
            a.previous_secret_sealed = None
            a.previous_secret_expires_at = None
        a.secret_sealed = sealer.seal(new_secret.encode(), _aad(a, "secret"))
    if p.description is not None:
        a.description = p.description or None
    a.updated = now
    uow.flush()
    _internal(
        uow,
        ctx,
        "strongbox.inbound_webhook_account.updated",
        a,
        {"secret_rotated": bool(new_secret)},
    )
    return a


def delete_account(uow: UnitOfWork, ctx: RequestContext, account_id: str) -> dict[str, Any]:
    a = require_account(uow, ctx, account_id)
    _internal(uow, ctx, "strongbox.inbound_webhook_account.deleted", a, {})
    uow.session.delete(a)
    uow.flush()
    return {"id": account_id, "object": "inbound_webhook_account", "deleted": True}


def list_accounts(
    uow: UnitOfWork, ctx: RequestContext, page: PageRequest, created: dict[str, int] | None
) -> Page[InboundAccount]:
    return repo.list_inbound_accounts(uow.session, ctx.merchant_id, page, created)


def list_events(
    uow: UnitOfWork,
    ctx: RequestContext,
    page: PageRequest,
    status: str | None,
    created: dict[str, int] | None,
) -> Page[InboundEvent]:
    return repo.list_inbound_events(uow.session, ctx.merchant_id, page, status, created)


def _secrets(a: InboundAccount, sealer: Sealer, now_unix: int) -> list[str]:
    out = [sealer.unseal(a.secret_sealed, _aad(a, "secret")).decode()]
    if (
        a.previous_secret_sealed is not None
        and a.previous_secret_expires_at is not None
        and a.previous_secret_expires_at.timestamp() > now_unix
    ):
        out.append(sealer.unseal(a.previous_secret_sealed, _aad(a, "previous")).decode())
    return out


# ---------------------------------------------------------------- receiving


@dataclass(frozen=True, slots=True)
class Received:
    event_id: str  # the first (or only) event of the request
    duplicate: bool  # every event of the request was already stored
    stored: int = 1  # events newly stored


@dataclass(frozen=True, slots=True)
class Rejected:
    """Verification failed: the failure is recorded in the unit of work; the edge commits
    it and answers with ``error``."""

    error: StrongboxError


def receive(
    uow: UnitOfWork,
    sealer: Sealer,
    connector: str,
    account_id: str,
    body: bytes,
    headers: dict[str, str],
) -> Received | Rejected:
    """Verify one request on its raw body and store each event once, in ``uow``.

    A bad signature (or Adyen Basic auth) records ``strongbox.webhook.signature_invalid`` for
    the audit log and returns ``Rejected`` (400; 401 for Basic auth). Nothing is committed
    here: the edge owns the unit of work."""
    a = repo.inbound_account_for_url(uow.session, connector, account_id)
    if a is None:
        raise ResourceMissingError("No such inbound webhook endpoint.")
    now = int(uow.clock.now().timestamp())
    ctx = RequestContext(merchant_id=a.merchant_id, actor=f"gateway:{connector}:{account_id}")
    try:
        verified = _verify(a, sealer, connector, body, headers, now)
    except providers.SignatureInvalid as exc:
        _internal(
            uow,
            ctx,
            "strongbox.webhook.signature_invalid",
            a,
            {"outcome": "failure", "reason": str(exc)},
        )
        if isinstance(exc, providers.AuthenticationInvalid):
            return Rejected(
                AuthenticationError(
                    "Webhook authentication failed.", code="webhook_authentication_failed"
                )
            )
        return Rejected(
            InvalidRequestError(
                "Webhook signature verification failed.", code="webhook_signature_invalid"
            )
        )
    stored = 0
    # Already stored, or earlier in this batch: stored once, the first time.
    seen = repo.existing_inbound_events(
        uow.session, account_id, [v.provider_event_id for v in verified]
    )
    for v in verified:
        if v.provider_event_id in seen:
            continue
        seen.add(v.provider_event_id)
        uow.session.add(
            InboundEvent(
                id=new_id("inbound_event"),
                merchant_id=a.merchant_id,
                account_id=account_id,
                connector=connector,
                provider_event_id=v.provider_event_id,
                type=v.type,
                payload=v.payload,
                status="pending",
                result=None,
                attempts=0,
                claimed_until=None,
                received_at=uow.clock.now(),
                processed_at=None,
            )
        )
        stored += 1
    uow.flush()
    return Received(event_id=verified[0].provider_event_id, duplicate=stored == 0, stored=stored)


def _verify(
    a: InboundAccount,
    sealer: Sealer,
    connector: str,
    body: bytes,
    headers: dict[str, str],
    now: int,
) -> list[providers.Verified]:
    if len(body) > providers.MAX_BODY_BYTES:
        raise providers.SignatureInvalid("body too large")
    secrets = _secrets(a, sealer, now)
    if connector == "stripe":
        return [providers.verify_stripe(body, headers.get("stripe-signature"), secrets, now)]
    if connector == "braintree":
        return [_verify_braintree_any(body, a.public_key or "", secrets)]
    if connector == "adyen":
        basic = None
        if a.basic_auth_username and a.basic_auth_password_sealed is not None:
            password = sealer.unseal(a.basic_auth_password_sealed, _aad(a, "basic_auth"))
            basic = (a.basic_auth_username, password.decode())
        return providers.verify_adyen(body, headers, secrets, basic)
    return [providers.verify_simulator(body, headers, secrets, now)]


def _verify_braintree_any(
    body: bytes, public_key: str, private_keys: list[str]
) -> providers.Verified:
    last: providers.SignatureInvalid | None = None
    for key in private_keys:
        try:
            return providers.verify_braintree(body, public_key, key)
        except providers.SignatureInvalid as exc:
            last = exc
    raise last or providers.SignatureInvalid("no key")


# ---------------------------------------------------------------- processing
# Each function works inside the unit of work it is given; the worker
# (``workers/webhooks.process_inbound``) opens and commits them.

Apply = Callable[[UnitOfWork, RequestContext, GatewayReport], str]
MAX_PROCESSING_ATTEMPTS = 5


def claim_pending(uow: UnitOfWork, *, batch: int = 100) -> list[str]:
    """Claim pending events for two minutes; commit this short transaction on its own."""
    now = uow.clock.now()
    return [e.id for e in repo.claim_inbound(uow.session, now, now + timedelta(minutes=2), batch)]


def process_event(uow: UnitOfWork, apply: Apply, event_id: str) -> None:
    """Apply one claimed event through the payments service (its own transaction)."""
    ev = repo.get_inbound_event_locked(uow.session, event_id)
    if ev is None or ev.status != "pending":
        return
    ctx = RequestContext(merchant_id=ev.merchant_id, actor=SYSTEM_ACTOR)
    report = providers.translate(ev.connector, ev.payload)
    if report is None:
        ev.status, ev.result = "ignored", "ignored: not an outcome event"
    else:
        result = apply(uow, ctx, report)
        ev.status = "ignored" if result.startswith("ignored") else "processed"
        ev.result = result[:200]
    ev.attempts += 1
    ev.processed_at = uow.clock.now()
    ev.claimed_until = None
    uow.flush()


def count_failure(uow: UnitOfWork, event_id: str) -> None:
    """After ``process_event`` raised (and its transaction was rolled back)."""
    ev = repo.get_inbound_event_locked(uow.session, event_id)
    if ev is not None and ev.status == "pending":
        ev.attempts += 1
        ev.claimed_until = uow.clock.now() + timedelta(seconds=30 * ev.attempts)
        if ev.attempts >= MAX_PROCESSING_ATTEMPTS:
            ev.status, ev.result = "failed", "failed: processing raised repeatedly"
        uow.flush()
