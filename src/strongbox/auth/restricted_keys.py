"""Restricted keys (``rk_test_…``/``rk_live_…``) and rolling keys, as Stripe has them.

A restricted key carries per-resource ``none``/``read``/``write`` (stored as permission
strings, ``auth/permissions.py``), an optional allowlist of client addresses or networks and
an optional expiry. A key can never create a key with more than it has itself.

Rolling a key makes a new one with the same type and limits and lets the old one work for a
chosen overlap (0 to 7 days): its ``expires_at`` is set, it is refused from then on
(``auth.service.authenticate`` checks on every use, cached or not), and ``sweep_expired``
(a worker loop) revokes it. Every change raises an internal ``strongbox.api_key.*`` event:
the audit log records it; the key itself is never in an event.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select

from strongbox.auth.models import ApiKey
from strongbox.auth.permissions import RESOURCES, allows
from strongbox.auth.service import KEY_BODY_LENGTH, hash_key, redact_key
from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError, PermissionDeniedError, ResourceMissingError
from strongbox.core.ids import new_id, random_token
from strongbox.core.secret import Secret
from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

MAX_ROLL_OVERLAP: Final = timedelta(days=7)
MAX_ALLOWED_IPS: Final = 50
LEVELS: Final = ("none", "read", "write")
_PREFIXES: Final = {
    "secret": "sk",  # pragma: allowlist secret
    "restricted": "rk",
    "publishable": "pk",
}


def parse_levels(levels: Mapping[str, str]) -> frozenset[str]:
    """``{"payment_intents": "write", "customers": "read", ...}`` → permission strings."""
    out: set[str] = set()
    for resource, level in levels.items():
        if resource not in RESOURCES:
            raise InvalidRequestError(
                f"Unknown resource in permissions: {resource[:60]!r}.",
                param=f"permissions[{resource[:60]}]",
            )
        if level not in LEVELS:
            raise InvalidRequestError(
                "A permission level is one of none, read, write.",
                param=f"permissions[{resource}]",
            )
        if level != "none":
            out.add(f"{resource}:{level}")
    return frozenset(out)


def levels_of(permissions: Iterable[str]) -> dict[str, str]:
    granted = frozenset(permissions)
    out: dict[str, str] = {}
    for resource in RESOURCES:
        if f"{resource}:write" in granted:
            out[resource] = "write"
        elif f"{resource}:read" in granted:
            out[resource] = "read"
    return out


def parse_allowed_ips(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(values):
        try:
            out.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
        except ValueError:
            raise InvalidRequestError(
                "Each allowed IP is an address or a network (203.0.113.0/24).",
                param=f"allowed_ips[{i}]",
            ) from None
    if len(out) > MAX_ALLOWED_IPS:
        raise InvalidRequestError(f"At most {MAX_ALLOWED_IPS} allowed IPs.", param="allowed_ips")
    return out


def address_allowed(allowed: Iterable[str], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in allowed)


def render_key(key: ApiKey) -> dict[str, Any]:
    """The key as the API shows it: never the key itself (only ``redacted``)."""
    limits = key.restrictions or {}
    return {
        "id": key.id,
        "object": "api_key",
        "type": key.kind,
        "name": key.name,
        "redacted": key.redacted,
        "livemode": key.livemode,
        "created": to_unix(key.created),
        "expires_at": to_unix(key.expires_at) if key.expires_at else None,
        "revoked": key.revoked_at is not None,
        "permissions": levels_of(limits["permissions"]) if key.restrictions else None,
        "allowed_ips": limits.get("allowed_ips"),
    }


def _event(uow: UnitOfWork, ctx: RequestContext, type_: str, key: ApiKey) -> None:
    raise_event(uow, ctx, type_, "api_key", key.id, render_key(key))


def _no_escalation(caller: frozenset[str] | None, wanted: frozenset[str]) -> None:
    for perm in sorted(wanted):
        resource, action = perm.split(":")
        if not allows(caller, resource, "write" if action == "write" else "read"):
            raise PermissionDeniedError(perm)


def _add_key(
    uow: UnitOfWork,
    ctx: RequestContext,
    kind: str,
    *,
    name: str | None,
    restrictions: dict[str, Any] | None,
    expires_at: datetime | None,
) -> tuple[ApiKey, Secret[str]]:
    prefix = _PREFIXES[kind]
    raw = f"{prefix}_{'live' if ctx.livemode else 'test'}_{random_token(KEY_BODY_LENGTH)}"
    key = ApiKey(
        id=new_id("api_key"),
        merchant_id=ctx.merchant_id,
        kind=kind,
        livemode=ctx.livemode,
        key_hash=hash_key(raw),
        redacted=redact_key(raw),
        created=uow.clock.now(),
        revoked_at=None,
        name=name,
        restrictions=restrictions,
        expires_at=expires_at,
    )
    uow.session.add(key)
    uow.flush()
    return key, Secret(raw)


def create_restricted_key(
    uow: UnitOfWork,
    ctx: RequestContext,
    caller_permissions: frozenset[str] | None,
    *,
    name: str,
    levels: Mapping[str, str],
    allowed_ips: Iterable[str] = (),
    expires_at: int | None = None,
) -> tuple[ApiKey, Secret[str]]:
    permissions = parse_levels(levels)
    _no_escalation(caller_permissions, permissions)
    ips = parse_allowed_ips(allowed_ips)
    expiry = None
    if expires_at is not None:
        expiry = datetime.fromtimestamp(expires_at, uow.clock.now().tzinfo)
        if expiry <= uow.clock.now():
            raise InvalidRequestError("expires_at must be in the future.", param="expires_at")
    key, raw = _add_key(
        uow,
        ctx,
        "restricted",
        name=name,
        restrictions={"permissions": sorted(permissions), "allowed_ips": ips or None},
        expires_at=expiry,
    )
    _event(uow, ctx, "strongbox.api_key.created", key)
    return key, raw


def get_key(uow: UnitOfWork, ctx: RequestContext, key_id: str) -> ApiKey:
    key = uow.session.scalars(
        select(ApiKey).where(ApiKey.merchant_id == ctx.merchant_id, ApiKey.id == key_id)
    ).first()
    if key is None:
        raise ResourceMissingError(f"No such API key: '{key_id[:64]}'", param="id")
    return key


def list_keys(uow: UnitOfWork, ctx: RequestContext, page: PageRequest) -> Page[ApiKey]:
    return paginate(
        uow.session, ApiKey, ctx.merchant_id, page, [ApiKey.revoked_at.is_(None)], noun="key"
    )


def revoke_key(uow: UnitOfWork, ctx: RequestContext, key: ApiKey) -> ApiKey:
    if key.revoked_at is not None:
        raise InvalidRequestError("This key is already revoked.", code="api_key_revoked")
    key.revoked_at = uow.clock.now()
    uow.flush()
    _event(uow, ctx, "strongbox.api_key.revoked", key)
    return key


def roll_key(
    uow: UnitOfWork,
    ctx: RequestContext,
    caller_permissions: frozenset[str] | None,
    key: ApiKey,
    overlap: timedelta,
) -> tuple[ApiKey, Secret[str]]:
    """A new key like ``key``; ``key`` keeps working for ``overlap``, then is refused."""
    if key.revoked_at is not None:
        raise InvalidRequestError("This key is already revoked.", code="api_key_revoked")
    if key.kind == "publishable":
        raise InvalidRequestError("Publishable keys are not rolled here.", param="id")
    if overlap < timedelta(0) or overlap > MAX_ROLL_OVERLAP:
        raise InvalidRequestError(
            "expires_in is between 0 and 604800 seconds (7 days).", param="expires_in"
        )
    if key.kind == "secret" and caller_permissions is not None:
        raise PermissionDeniedError(
            "api_keys:write", "restricted key (only a secret key rolls one)"
        )
    if key.restrictions is not None:
        _no_escalation(caller_permissions, frozenset(key.restrictions.get("permissions", ())))
    now = uow.clock.now()
    end = now + overlap
    new, raw = _add_key(
        uow,
        ctx,
        key.kind,
        name=key.name,
        restrictions=dict(key.restrictions) if key.restrictions is not None else None,
        expires_at=key.expires_at,
    )
    key.expires_at = end if key.expires_at is None else min(end, key.expires_at)
    if overlap == timedelta(0):
        key.revoked_at = now
    uow.flush()
    _event(uow, ctx, "strongbox.api_key.created", new)
    _event(uow, ctx, "strongbox.api_key.rolled", key)
    return new, raw


def sweep_expired(uow: UnitOfWork, limit: int = 100) -> int:
    """Revoke keys whose expiry passed (rolled keys after their overlap); one event each."""
    now = uow.clock.now()
    rows = list(
        uow.session.scalars(
            select(ApiKey)
            .where(ApiKey.revoked_at.is_(None), ApiKey.expires_at <= now)
            .order_by(ApiKey.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for key in rows:
        key.revoked_at = now
        uow.flush()
        ctx = RequestContext(merchant_id=key.merchant_id, actor="system:key_sweeper")
        _event(uow, ctx, "strongbox.api_key.expired", key)
    return len(rows)
