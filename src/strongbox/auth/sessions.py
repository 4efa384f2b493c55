"""Operator sessions: a random cookie token and a CSRF token, both stored as SHA-256 digests.

A session is *pending* after the password until a second factor is verified
(``second_factor_at``); it ends after ``idle`` without a request (PCI DSS 8.2.8: 15 minutes)
or at logout. The cookie is ``Secure; HttpOnly; SameSite=Strict`` (``api/operator_context``);
every state-changing request also carries the CSRF token (header ``X-CSRF-Token`` or the form
field ``csrf_token``), compared in constant time with the session's.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from strongbox.auth import operator_repository as repo
from strongbox.auth.operator_models import Operator, OperatorSession
from strongbox.core.errors import AuthenticationError, PermissionError_
from strongbox.core.ids import new_id, random_token
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork

COOKIE: Final = "strongbox_session"
TOKEN_LENGTH: Final = 43  # base62 ≈ 256 bits


@dataclass(frozen=True, slots=True)
class SessionTokens:
    token: Secret[str]
    csrf: Secret[str]


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def start(uow: UnitOfWork, op: Operator) -> tuple[OperatorSession, SessionTokens]:
    token = random_token(TOKEN_LENGTH)
    csrf = random_token(TOKEN_LENGTH)
    now = uow.clock.now()
    row = OperatorSession(
        id=new_id("operator_session"),
        merchant_id=op.merchant_id,
        operator_id=op.id,
        token_hash=digest(token),
        csrf_hash=digest(csrf),
        second_factor_at=None,
        challenge=None,
        created=now,
        last_seen=now,
        ended_at=None,
    )
    uow.session.add(row)
    uow.flush()
    return row, SessionTokens(Secret(token), Secret(csrf))


def _signed_out() -> AuthenticationError:
    return AuthenticationError(
        "You are not signed in, or your session ended. Sign in at /operator/login.",
        code="session_invalid",
    )


def resolve(
    uow: UnitOfWork, token: str | None, idle: timedelta
) -> tuple[OperatorSession, Operator]:
    """The live session of ``token`` and its operator (touched), or 401 ``session_invalid``.
    A session idle for ``idle`` is dead for good (its ``last_seen`` never moves again); a
    disabled operator's sessions are refused."""
    if not token or len(token) > 200:
        raise _signed_out()
    row = repo.find_session(uow.session, digest(token))
    if row is None:
        raise _signed_out()
    now = uow.clock.now()
    op = repo.get_operator(uow.session, row.merchant_id, row.operator_id)
    if row.last_seen + idle <= now or op is None or op.status != "active":
        raise _signed_out()
    row.last_seen = now
    return row, op


def check_csrf(row: OperatorSession, supplied: str | None) -> None:
    if not supplied or not hmac.compare_digest(digest(supplied), row.csrf_hash):
        raise PermissionError_(
            "Missing or wrong CSRF token (send the X-CSRF-Token header or csrf_token field).",
            code="csrf_token_invalid",
        )


def end(uow: UnitOfWork, row: OperatorSession) -> None:
    row.ended_at = uow.clock.now()
    uow.flush()
