"""Operator accounts: creation, invitations, password login with lockout, second factors
(TOTP, recovery codes; WebAuthn in ``webauthn_.py``), disabling, role changes.

Lockout (PCI DSS 8.3.4): 10 failed attempts (password or second factor) lock the account for
30 minutes. Every change raises an internal ``strongbox.operator.*`` event, which the audit
log records: logins, failures, lockouts, factor changes, role changes. Events never carry a
password, seed, code or token. A failed login is *recorded* and committed by the edge even
though the request fails: ``login`` returns the error instead of raising it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from strongbox.auth import operator_repository as repo
from strongbox.auth import passwords, roles, sessions, totp
from strongbox.auth.operator_models import Invitation, Operator, OperatorSession, RecoveryCode
from strongbox.core.clock import to_unix
from strongbox.core.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    ResourceMissingError,
    StrongboxError,
)
from strongbox.core.ids import new_id, random_token
from strongbox.core.sealing import Sealer
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

log = logging.getLogger(__name__)

MAX_FAILURES: Final = 10
LOCKOUT: Final = timedelta(minutes=30)
RECOVERY_CODES: Final = 10
_RECOVERY_ALPHABET: Final = (
    "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes  # pragma: allowlist secret
)


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or len(value) > 254 or any(c.isspace() for c in value):
        raise InvalidRequestError("Invalid email address.", param="email")
    return value


def render_operator(op: Operator, webauthn_count: int = 0) -> dict[str, Any]:
    return {
        "id": op.id,
        "object": "operator",
        "email": op.email,
        "role": op.role,
        "status": op.status,
        "two_factor": {"totp": op.totp_confirmed, "webauthn": webauthn_count},
        "locked": op.locked_until is not None,
        "created": to_unix(op.created),
    }


def context_for(op: Operator, actor: str | None = None, ip: str | None = None) -> RequestContext:
    return RequestContext(
        merchant_id=op.merchant_id, actor=actor or f"operator:{op.id}", source_ip=ip
    )


def event(uow: UnitOfWork, ctx: RequestContext, type_: str, op: Operator, **extra: Any) -> None:
    obj = render_operator(op)
    obj.update(extra)
    raise_event(uow, ctx, f"strongbox.operator.{type_}", "operator", op.id, obj)


def create(
    uow: UnitOfWork,
    ctx: RequestContext,
    email: str,
    role: str,
    password: Secret[str] | None,
) -> Operator:
    """An operator of ``ctx.merchant_id``: active with ``password``, else ``invited``."""
    address = normalize_email(email)
    roles.check_role(role)
    if repo.find_by_email(uow.session, address) is not None:
        raise InvalidRequestError(
            "An operator with this email exists.", code="resource_already_exists", param="email"
        )
    if password is not None:
        passwords.check_strength(password, email=address)
    now = uow.clock.now()
    op = Operator(
        id=new_id("operator"),
        merchant_id=ctx.merchant_id,
        email=address,
        role=role,
        status="active" if password is not None else "invited",
        password_hash=passwords.hash_password(password) if password is not None else None,
        failed_logins=0,
        locked_until=None,
        totp_seed_sealed=None,
        totp_confirmed=False,
        totp_last_step=None,
        created=now,
        updated=now,
    )
    uow.session.add(op)
    uow.flush()
    event(uow, ctx, "created", op)
    return op


def invite(
    uow: UnitOfWork, ctx: RequestContext, email: str, role: str, valid: timedelta
) -> tuple[Operator, Secret[str]]:
    """An invited operator and the one-time token to accept with (shown once)."""
    op = create(uow, ctx, email, role, None)
    token = random_token(43)
    uow.session.add(
        Invitation(
            id=new_id("invitation"),
            merchant_id=op.merchant_id,
            operator_id=op.id,
            token_hash=sessions.digest(token),
            expires_at=uow.clock.now() + valid,
            accepted_at=None,
            created=uow.clock.now(),
        )
    )
    uow.flush()
    event(uow, ctx, "invited", op)
    return op, Secret(token)


def accept_invitation(
    uow: UnitOfWork, token: Secret[str], password: Secret[str], ip: str | None
) -> Operator:
    inv = repo.find_invitation(uow.session, sessions.digest(token.reveal()))
    now = uow.clock.now()
    if inv is None or inv.accepted_at is not None or inv.expires_at <= now:
        raise InvalidRequestError(
            "This invitation is invalid, used or expired.", code="invitation_invalid"
        )
    op = repo.get_operator(uow.session, inv.merchant_id, inv.operator_id)
    if op is None or op.status != "invited":
        raise InvalidRequestError("This invitation is invalid.", code="invitation_invalid")
    passwords.check_strength(password, email=op.email)
    op.password_hash = passwords.hash_password(password)
    op.status = "active"
    op.updated = now
    inv.accepted_at = now
    uow.flush()
    event(uow, context_for(op, ip=ip), "invitation_accepted", op)
    return op


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A started (pending) session and its tokens, or the error to answer with once the
    recorded failure is committed."""

    session: OperatorSession | None = None
    tokens: sessions.SessionTokens | None = None
    operator: Operator | None = None
    error: StrongboxError | None = None


def _login_failed() -> AuthenticationError:
    return AuthenticationError("Invalid email or password.", code="login_failed")


def _locked() -> AuthenticationError:
    return AuthenticationError(
        "Too many failed sign-in attempts: this account is locked for 30 minutes.",
        code="account_locked",
    )


def is_locked(uow: UnitOfWork, op: Operator) -> bool:
    return op.locked_until is not None and op.locked_until > uow.clock.now()


def record_failure(uow: UnitOfWork, op: Operator, ctx: RequestContext, factor: str) -> None:
    """One failed attempt (password or second factor); the tenth locks the account."""
    op.failed_logins += 1
    op.updated = uow.clock.now()
    event(uow, ctx, "login_failed", op, factor=factor, failures=op.failed_logins)
    if op.failed_logins >= MAX_FAILURES:
        op.locked_until = uow.clock.now() + LOCKOUT
        op.failed_logins = 0
        event(uow, ctx, "locked_out", op, until=to_unix(op.locked_until))
        log.warning("operator %s locked out after %d failed attempts", op.id, MAX_FAILURES)
    uow.flush()


def login(uow: UnitOfWork, email: str, password: Secret[str], ip: str | None) -> LoginResult:
    try:
        address = normalize_email(email)
    except InvalidRequestError:
        passwords.verify_password(None, password)
        return LoginResult(error=_login_failed())
    op = repo.find_by_email(uow.session, address)
    if op is None:
        passwords.verify_password(None, password)  # the same time as a known address
        log.info("sign-in with an unknown email from %s", ip)
        return LoginResult(error=_login_failed())
    ctx = context_for(op, ip=ip)
    if is_locked(uow, op):
        event(uow, ctx, "login_refused", op, reason="locked")
        return LoginResult(error=_locked())
    if op.status != "active":
        passwords.verify_password(None, password)
        event(uow, ctx, "login_refused", op, reason=op.status)
        return LoginResult(error=_login_failed())
    if not passwords.verify_password(op.password_hash, password):
        record_failure(uow, op, ctx, "password")
        return LoginResult(error=_locked() if is_locked(uow, op) else _login_failed())
    if op.password_hash is not None and passwords.needs_rehash(op.password_hash):
        op.password_hash = passwords.hash_password(password)
    op.failed_logins = 0
    row, tokens = sessions.start(uow, op)
    event(uow, ctx, "password_verified", op, session=row.id)
    return LoginResult(session=row, tokens=tokens, operator=op)


def has_second_factor(uow: UnitOfWork, op: Operator) -> bool:
    return op.totp_confirmed or bool(repo.webauthn_credentials(uow.session, op.id))


def complete_login(uow: UnitOfWork, op: Operator, row: OperatorSession, factor: str) -> None:
    row.second_factor_at = uow.clock.now()
    op.failed_logins = 0
    uow.flush()
    event(uow, context_for(op), "logged_in", op, factor=factor, session=row.id)


def _seed_aad(op: Operator) -> bytes:
    return f"operator:{op.merchant_id}:{op.id}:totp".encode()


def _seed(op: Operator, sealer: Sealer) -> Secret[str] | None:
    if op.totp_seed_sealed is None:
        return None
    return Secret(sealer.unseal(op.totp_seed_sealed, _seed_aad(op)).decode())


def verify_totp(
    uow: UnitOfWork, sealer: Sealer, op: Operator, row: OperatorSession, code: str
) -> bool:
    """Second step with a TOTP code; False (recorded as a failure) for a wrong or replayed
    code. The caller commits either way."""
    if is_locked(uow, op):
        raise _locked()
    step = None
    seed = _seed(op, sealer) if op.totp_confirmed else None
    if seed is not None:
        step = totp.verify(seed, code, op.totp_last_step, uow.clock.now())
    if step is None:
        record_failure(uow, op, context_for(op), "totp")
        return False
    op.totp_last_step = step
    complete_login(uow, op, row, "totp")
    return True


def _recovery_code() -> str:
    body = "".join(_RECOVERY_ALPHABET[b % len(_RECOVERY_ALPHABET)] for b in _random_bytes(16))
    return "-".join(body[i : i + 4] for i in range(0, 16, 4))


def _random_bytes(n: int) -> bytes:
    import secrets

    # 31 symbols: reject bytes ≥ 248 (8 x 31) so every symbol is equally likely
    out = bytearray()
    while len(out) < n:
        out.extend(b for b in secrets.token_bytes(n) if b < 248)
    return bytes(out[:n])


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def new_recovery_codes(uow: UnitOfWork, op: Operator) -> list[Secret[str]]:
    """Ten fresh single-use codes (≈ 79 bits each); the previous ones stop working."""
    for old in repo.unused_recovery_codes(uow.session, op.id):
        uow.session.delete(old)
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    now = uow.clock.now()
    for code in codes:
        uow.session.add(
            RecoveryCode(
                id=new_id("recovery_code"),
                merchant_id=op.merchant_id,
                operator_id=op.id,
                code_hash=_code_digest(code),
                used_at=None,
                created=now,
            )
        )
    uow.flush()
    event(uow, context_for(op), "recovery_codes_generated", op, count=RECOVERY_CODES)
    return [Secret(c) for c in codes]


def use_recovery_code(uow: UnitOfWork, op: Operator, row: OperatorSession, code: str) -> bool:
    if is_locked(uow, op):
        raise _locked()
    wanted = _code_digest(code)
    for candidate in repo.unused_recovery_codes(uow.session, op.id):
        if hmac.compare_digest(candidate.code_hash, wanted):
            candidate.used_at = uow.clock.now()
            complete_login(uow, op, row, "recovery_code")
            return True
    record_failure(uow, op, context_for(op), "recovery_code")
    return False


def start_totp_enrollment(uow: UnitOfWork, sealer: Sealer, op: Operator) -> Secret[str]:
    """A new (unconfirmed) seed; the current factor stays until the new one is confirmed
    only if none is confirmed yet: replacing a confirmed TOTP needs ``reset_2fa``."""
    if op.totp_confirmed:
        raise InvalidRequestError(
            "TOTP is already set up; an administrator resets it (strongbox users reset-2fa).",
            code="totp_already_enrolled",
        )
    seed = totp.new_seed()
    op.totp_seed_sealed = sealer.seal(seed.reveal().encode(), _seed_aad(op))
    op.updated = uow.clock.now()
    uow.flush()
    return seed


def confirm_totp(
    uow: UnitOfWork, sealer: Sealer, op: Operator, row: OperatorSession, code: str
) -> bool:
    seed = _seed(op, sealer)
    if op.totp_confirmed or seed is None:
        raise InvalidRequestError("Start TOTP enrollment first.", code="totp_not_started")
    step = totp.verify(seed, code, op.totp_last_step, uow.clock.now())
    if step is None:
        record_failure(uow, op, context_for(op), "totp_enrollment")
        return False
    op.totp_confirmed = True
    op.totp_last_step = step
    op.updated = uow.clock.now()
    event(uow, context_for(op), "factor_added", op, factor="totp")
    if row.second_factor_at is None:
        complete_login(uow, op, row, "totp")
    return True


def get(uow: UnitOfWork, merchant_id: str, operator_id: str) -> Operator:
    op = repo.get_operator(uow.session, merchant_id, operator_id)
    if op is None:
        raise ResourceMissingError(f"No such operator: '{operator_id[:64]}'", param="id")
    return op


def by_email(uow: UnitOfWork, merchant_id: str | None, email: str) -> Operator:
    op = repo.find_by_email(uow.session, normalize_email(email))
    if op is None or (merchant_id is not None and op.merchant_id != merchant_id):
        raise ResourceMissingError(f"No such operator: '{email[:254]}'", param="email")
    return op


def disable(uow: UnitOfWork, ctx: RequestContext, op: Operator) -> None:
    op.status = "disabled"
    op.updated = uow.clock.now()
    repo.end_sessions(uow.session, op.id, uow.clock.now())
    uow.flush()
    event(uow, ctx, "disabled", op)


def reset_2fa(uow: UnitOfWork, ctx: RequestContext, op: Operator) -> None:
    """Remove every second factor and end the operator's sessions: the next sign-in enrolls."""
    op.totp_seed_sealed = None
    op.totp_confirmed = False
    op.totp_last_step = None
    op.updated = uow.clock.now()
    repo.delete_factors(uow.session, op.id)
    repo.end_sessions(uow.session, op.id, uow.clock.now())
    uow.flush()
    event(uow, ctx, "factors_reset", op)


def check_can_assign(actor_role: str | None, role: str) -> None:
    """Only an owner (or the local CLI: ``actor_role`` None) hands out the owner role."""
    roles.check_role(role)
    if actor_role is not None and actor_role != "owner" and role in roles.OWNER_ONLY:
        raise PermissionDeniedError("operators:write (only an owner makes an owner)", "role")


def change_role(
    uow: UnitOfWork, ctx: RequestContext, actor_role: str | None, op: Operator, role: str
) -> None:
    """``actor_role`` None: the local CLI (the installation's administrator)."""
    roles.check_role(role)
    if actor_role is not None and actor_role != "owner" and roles.OWNER_ONLY & {role, op.role}:
        raise PermissionDeniedError("operators:write (only an owner changes an owner)", "role")
    previous = op.role
    op.role = role
    op.updated = uow.clock.now()
    uow.flush()
    event(uow, ctx, "role_changed", op, previous_role=previous)
