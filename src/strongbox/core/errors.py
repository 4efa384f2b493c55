"""Typed errors rendered as Stripe-shaped JSON by one handler at the API edge.

Every error carries an HTTP status, a Stripe error ``type``, and optionally a ``code``,
``decline_code``, ``param`` and the related ``payment_intent`` object. Messages never contain
secrets: callers pass only safe, user-facing text.
"""

from __future__ import annotations

from typing import Any


class StrongboxError(Exception):
    """Base for all errors that reach API clients."""

    status: int = 500
    type: str = "api_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        payment_intent: dict[str, Any] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.decline_code = decline_code
        self.payment_intent = payment_intent
        self.headers = headers or {}
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        """The Stripe error envelope ``{"error": {...}}``; absent fields are omitted."""
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            err["code"] = self.code
        if self.decline_code is not None:
            err["decline_code"] = self.decline_code
        if self.param is not None:
            err["param"] = self.param
        if self.payment_intent is not None:
            err["payment_intent"] = self.payment_intent
        return {"error": err}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, type={self.type!r}, "
            f"code={self.code!r}, param={self.param!r}, message={self.message!r})"
        )


class InvalidRequestError(StrongboxError):
    status = 400
    type = "invalid_request_error"


class ParameterUnknownError(InvalidRequestError):
    default_code = "parameter_unknown"


class ParameterMissingError(InvalidRequestError):
    default_code = "parameter_missing"


class ResourceMissingError(InvalidRequestError):
    status = 404
    default_code = "resource_missing"


class UnexpectedStateError(InvalidRequestError):
    """An operation not allowed in the object's current state."""

    default_code = "payment_intent_unexpected_state"


class AuthenticationError(StrongboxError):
    status = 401
    type = "invalid_request_error"
    default_code = "api_key_invalid"


class PermissionError_(StrongboxError):
    status = 403
    type = "invalid_request_error"
    default_code = "secret_key_required"


class PermissionDeniedError(StrongboxError):
    """The caller is authenticated but lacks a permission (a restricted key, an operator's
    role, a token's scope); the message names the missing ``<resource>:<action>``."""

    status = 403
    type = "permission_error"
    default_code = "permission_denied"

    def __init__(self, missing: str, who: str = "key") -> None:
        self.missing = missing
        super().__init__(
            f"The provided {who} does not have the required permission for this request: "
            f"'{missing}'. Having the '{missing}' permission would allow this request to "
            "continue."
        )


class CardError(StrongboxError):
    """The card was declined or could not be authenticated (HTTP 402)."""

    status = 402
    type = "card_error"
    default_code = "card_declined"


class IdempotencyError(StrongboxError):
    status = 400
    type = "idempotency_error"


class IdempotencyKeyInUseError(IdempotencyError):
    status = 409
    default_code = "idempotency_key_in_use"


class RateLimitError(StrongboxError):
    status = 429
    type = "invalid_request_error"
    default_code = "rate_limit"


class ApiError(StrongboxError):
    """An error on our side or at a gateway that the client cannot fix (5xx)."""

    status = 500
    type = "api_error"


def unexpected_error() -> ApiError:
    """The one body every unexpected failure renders as (stored for idempotent replays too)."""
    return ApiError("An unexpected error occurred. Our team has been notified.")


class GatewayError(ApiError):
    status = 502
    default_code = "gateway_unavailable"


def param_path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """Render a location tuple in Stripe's bracket notation: ('metadata','k') -> 'metadata[k]'."""
    if not loc:
        return ""
    head, *rest = loc
    return str(head) + "".join(f"[{part}]" for part in rest)


class LedgerError(InvalidRequestError):
    """A transfer or account the ledger refuses; ``code`` names the rule (TigerBeetle's names:
    ``exceeds_credits``, ``pending_transfer_already_posted``, ``exists_with_different_amount``…)."""


class LedgerPermissionError(LedgerError):
    """A transfer the caller may not make: it names an account only the posting rules write
    (HTTP 403, ``invalid_request_error`` as Stripe answers a key without the permission)."""

    status = 403


class LedgerInvariantError(ApiError):
    """A posting rule could not post a payment's transfers: the payment write is aborted."""

    default_code = "ledger_posting_failed"


class ConcurrentChange(Exception):
    """A guarded write found its row changed by another transaction since it was read (a
    prebuilt UPDATE … WHERE <the values read> touched no row). The unit of work rolls back;
    the caller re-runs it, reading with locks (``db/sql.py``)."""
