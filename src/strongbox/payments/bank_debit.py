"""Confirm with a ``us_bank_account`` PaymentMethod: an ACH debit (issue 20).

The card path's phases, with three differences:

* the connector is the first of the routing's ranking that declares ``Capability.BANK_DEBIT``
  (the in-process simulator does; no other connector speaks ACH yet), or the default one;
* before the connector is called, outside any transaction, the linked account's balance is
  read from its bank-data provider (``GatewayCall.precheck``): an insufficient balance
  declines the attempt (402 ``insufficient_funds``) with nothing sent to the gateway, and a
  balance that cannot be read fails it (nothing sent either), never a pass;
* ACH settles later: the connector answers ``PENDING``, so the intent stays ``processing``
  and its attempt ``unknown``; the recovery worker's status lookups (``payments/recovery.py``)
  record ``succeeded`` (``payment_intent.succeeded``, the ledger posts) or the ACH return as
  a failure (``payment_intent.payment_failed``) once the gateway says it settled.

Only ``usd`` and automatic capture, and only for an intent whose ``payment_method_types``
include ``us_bank_account``, as Stripe's ACH Direct Debit.
"""

from __future__ import annotations

from strongbox.banking.debits import BalanceUnavailable
from strongbox.connectors.base import (
    AuthorizeRequest,
    BankAccountData,
    Capability,
    OperationKind,
    OperationResult,
    OperationStatus,
    RetryableError,
)
from strongbox.core.errors import InvalidRequestError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments.common import gateway_call, new_attempt, set_status
from strongbox.payments.deps import BankDebits, Payments
from strongbox.payments.models import PaymentAttempt, PaymentIntent, PaymentMethod
from strongbox.payments.state import Trigger
from strongbox.payments.steps import GatewayCall, GatewayOutcome, Step
from strongbox.routing.engine import PaymentFacts

INSUFFICIENT = "insufficient_funds"
BANK_DETAILS = {"payment_method_type": "us_bank_account"}


def _unsupported(message: str, param: str = "payment_method") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code="payment_method_unsupported")


def _source(deps: Payments) -> BankDebits:
    if deps.bank is None:
        raise _unsupported("This server cannot debit bank accounts (no bank-data provider).")
    return deps.bank


def account_of(pm: PaymentMethod) -> str:
    fca = (pm.bank_account or {}).get("financial_connections_account")
    if not fca:
        raise _unsupported("This PaymentMethod names no linked bank account.")
    return str(fca)


def _connector(deps: Payments, uow: UnitOfWork, pi: PaymentIntent) -> tuple[str, str | None]:
    """The connector (and connector account) that debits: the first of the routing's ranking
    that can, else the default connector if it can."""
    candidates: list[tuple[str, str | None]] = [(deps.config.default_connector, None)]
    if deps.routing is not None:
        facts = PaymentFacts(
            payment_id=pi.id,
            amount=pi.amount,
            currency=pi.currency,
            brand="us_bank_account",
            card_country="US",
            metadata={str(k): str(v) for k, v in (pi.metadata_ or {}).items()},
        )
        routes = deps.routing.route(uow.session, pi.merchant_id, facts)
        candidates = [(r.connector, r.account_id) for r in routes] + candidates
    for name, account in candidates:
        try:
            connector = deps.connectors.get(name)
        except KeyError:
            continue
        if connector.supports(Capability.BANK_DEBIT):
            return name, account
    raise _unsupported("No connector of this account can debit a bank account (ACH).")


def start(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    pi: PaymentIntent,
    pm: PaymentMethod,
    cause: str,
) -> Step:
    """Write the debit's attempt (the recovery point) and move the intent to ``processing``;
    the call the edge then makes starts with the balance check. Bad input changes nothing."""
    _source(deps)
    if "us_bank_account" not in (pi.payment_method_types or []):
        raise InvalidRequestError(
            f"The PaymentMethod provided ({pm.id}) is a us_bank_account, which this "
            "PaymentIntent does not allow: create it with "
            "payment_method_types[]=us_bank_account.",
            param="payment_method",
            code="payment_intent_incompatible_payment_method",
        )
    if pi.currency != "usd":
        raise _unsupported("A us_bank_account PaymentMethod debits usd only.", "currency")
    if pi.capture_method == "manual":
        raise _unsupported(
            "A us_bank_account debit cannot be captured manually: use capture_method=automatic.",
            "capture_method",
        )
    fca = account_of(pm)  # still debitable: debit_request reads it (400 otherwise)
    connector, account_id = _connector(deps, uow, pi)
    attempt = new_attempt(
        deps,
        uow,
        ctx,
        pi,
        OperationKind.AUTHORIZE,
        connector,
        pi.amount,
        capture=True,
        reason=f"ach debit of {fca} via {account_id or connector}"[:200],
    )
    attempt.charge_id = new_id("charge")
    attempt.connector_account_id = account_id
    attempt.routing = {"ranked": [], "connectors": [], "position": 0, "bank_debit": True}
    pi.connector = connector
    pi.connector_account_id = account_id
    pi.last_payment_error = None
    pi.next_action = None
    pi.pending_operation = OperationKind.AUTHORIZE.value
    set_status(uow, ctx, pi, Trigger.CONFIRM, cause, attempt.id)
    return Step(intent=pi, call=debit_call(deps, uow, attempt, pi, pm))


def debit_request(
    deps: Payments, uow: UnitOfWork, attempt: PaymentAttempt, pi: PaymentIntent, pm: PaymentMethod
) -> AuthorizeRequest:
    """The debit an attempt stands for (the same request whenever it is re-sent)."""
    numbers, subcategory = _source(deps).account_numbers(uow, pi.merchant_id, account_of(pm))
    return AuthorizeRequest(
        idempotency_key=attempt.gateway_idempotency_key,
        amount=attempt.amount,
        currency=attempt.currency,
        capture=True,
        merchant_id=pi.merchant_id,
        payment_id=pi.id,
        bank_account=BankAccountData(
            account_number=numbers.account,
            routing_number=numbers.routing.reveal(),
            account_type="savings" if subcategory == "savings" else "checking",
        ),
        description=pi.description,
        metadata=dict(pi.metadata_ or {}),
    )


def debit_call(
    deps: Payments, uow: UnitOfWork, attempt: PaymentAttempt, pi: PaymentIntent, pm: PaymentMethod
) -> GatewayCall:
    call = gateway_call(deps, uow, attempt, debit_request(deps, uow, attempt, pi, pm))
    call.holds_cvc = False
    source = _source(deps)
    merchant_id, fca, amount, currency = pi.merchant_id, account_of(pm), pi.amount, pi.currency

    def check_balance() -> GatewayOutcome | None:
        try:
            short = source.insufficient(merchant_id, fca, amount, currency)
        except BalanceUnavailable as exc:
            # Nothing was sent: the attempt fails as a retryable error would (no money moved).
            return GatewayOutcome(
                error=RetryableError(
                    "the bank account's balance could not be read, so no debit was sent",
                    gateway_code=f"balance_unavailable:{exc}"[:64],
                )
            )
        if not short:
            return None
        return GatewayOutcome(
            result=OperationResult(
                status=OperationStatus.DECLINED,
                decline_code=INSUFFICIENT,
                message="The bank account's balance does not cover this amount.",
                raw_status="balance_check",
                details=dict(BANK_DETAILS),
            )
        )

    call.precheck = check_balance
    return call


def is_bank(pm: PaymentMethod) -> bool:
    return pm.type == "us_bank_account"
