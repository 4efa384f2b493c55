"""What a debit of a ``us_bank_account`` PaymentMethod needs from bank data
(``payments/bank_debit.py`` uses it through ``payments.deps.BankDebits``): the linked
account's ACH numbers, unsealed for one call, and a balance read from the provider just
before the debit is sent."""

from __future__ import annotations

import json
from collections.abc import Callable

from strongbox.banking import refresh, repository, service
from strongbox.banking.providers.base import AccountNumbers, ProviderError
from strongbox.banking.providers.registry import Banking
from strongbox.core.errors import CardError, InvalidRequestError, StrongboxError
from strongbox.core.secret import Secret
from strongbox.db.uow import Database, UnitOfWork
from strongbox.events.types import RequestContext


class BalanceUnavailable(Exception):
    """The balance could not be read now (provider down, login broken): no debit is sent."""


class BankDebitSource:
    """``banking`` is looked up per call: the composition root (and tests) may set it after
    the payments domain was built."""

    def __init__(self, db: Database, banking: Callable[[], Banking | None]) -> None:
        self._db = db
        self._banking = banking

    def _require(self) -> Banking:
        b = self._banking()
        if b is None:
            raise InvalidRequestError(
                "Bank debits need a bank-data provider; none is configured on this server.",
                param="payment_method",
                code="payment_method_unsupported",
            )
        return b

    def account_numbers(
        self, uow: UnitOfWork, merchant_id: str, account_id: str
    ) -> tuple[AccountNumbers, str]:
        """The account's ACH numbers (unsealed for one call) and its subcategory. An account
        that can no longer be debited is 400 ``account_not_debitable``."""
        banking = self._require()
        a = repository.get_account(uow.session, merchant_id, account_id)
        if a is None or a.numbers_sealed is None or a.status != "active" or a.category != "cash":
            raise InvalidRequestError(
                "The bank account behind this PaymentMethod cannot be debited now (it was "
                "disconnected, or its login must be linked again).",
                param="payment_method",
                code="account_not_debitable",
            )
        raw = banking.sealer.unseal(
            a.numbers_sealed, service.aad(a.merchant_id, a.id, "ach_numbers")
        )
        numbers = json.loads(raw)
        return (
            AccountNumbers(
                a.provider_account_id, Secret(numbers["account"]), Secret(numbers["routing"])
            ),
            a.subcategory,
        )

    def insufficient(self, merchant_id: str, account_id: str, amount: int, currency: str) -> bool:
        """Whether the account's balance, read from the provider now (stored, with
        ``refreshed_balance``), does not cover ``amount``. ``BalanceUnavailable`` when it
        cannot be read: a balance that cannot be read is never a pass. No transaction is
        open here (provider calls)."""
        banking = self._require()
        ctx = RequestContext(merchant_id=merchant_id, actor="system:bank-debit")
        try:
            refresh.refresh_now(self._db, banking, ctx, merchant_id, account_id, ["balance"])
        except (ProviderError, StrongboxError) as exc:
            raise BalanceUnavailable(type(exc).__name__) from None
        with self._db.reader() as uow:
            a = service.require_account(uow, ctx, account_id)
            if a.status != "active" or (a.balance_refresh or {}).get("status") != "succeeded":
                raise BalanceUnavailable("the balance refresh did not succeed")
            try:
                service.funds_check(a, amount, currency)
            except CardError:
                return True
            except InvalidRequestError as exc:
                raise BalanceUnavailable(exc.code or "balance_unavailable") from None
        return False
