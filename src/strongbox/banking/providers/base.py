"""The bank-data provider contract: what the banking service asks of Plaid, Yodlee and the rest.

Not the card connectors' contract (``strongbox.connectors.base``): a bank-data provider links
an end user's bank login once (an *item*), then answers reads against it. Like a card
connector it is a stateless translator between these types and one provider's wire format:
it imports ``core`` only, has no database, no vault and no settings lookups of its own. The
composition root gives it the platform's API credentials and base URL; the item's access
token comes per call, as a ``Secret``, unsealed by the service for that one call.

Amounts are integers in the currency's minor unit with Stripe's sign: negative when money
leaves the account. Provider failures are typed: ``LoginRequired`` (the user must relink),
``RateLimited`` and ``ProviderUnavailable`` (retry later), ``ProviderRejected`` (final).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from strongbox.core.money import Money
from strongbox.core.secret import Secret

TransactionStatus = Literal["pending", "posted"]
AccountCategory = Literal["cash", "credit", "investment", "other"]


class ProviderError(Exception):
    """A provider call failed. ``code`` is the provider's error code; the message never
    carries a token or account number."""

    retryable = False

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class LoginRequired(ProviderError):
    """The item's login stopped working (Plaid ``ITEM_LOGIN_REQUIRED``): the user relinks."""


class RateLimited(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    """Network failure, timeout or a 5xx: the call may be tried again."""

    retryable = True


class SyncRestart(ProviderError):
    """The provider's data changed while a sync paged through it (Plaid
    ``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION``): fetch again from the sync's first
    cursor, dropping the pages already read."""

    retryable = True


class ProviderRejected(ProviderError):
    """The provider refused the request (bad public token, unknown item ...): final."""


@dataclass(frozen=True, slots=True)
class LinkToken:
    """What the front end needs to open the provider's link flow (Plaid's ``link_token``)."""

    token: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Exchanged:
    """A completed link: the long-lived access token (sealed by the caller) and the item."""

    access_token: Secret[str]
    item_id: str
    institution_name: str | None = None
    # The provider's end user, when its webhooks name users (Yodlee's loginName).
    provider_user_id: str | None = None

    def __repr__(self) -> str:
        return f"Exchanged(item_id={self.item_id!r})"


@dataclass(frozen=True, slots=True)
class Balance:
    """Balances in minor units; ``as_of`` is when the provider read them."""

    currency: str
    current: int | None
    available: int | None
    as_of: datetime


@dataclass(frozen=True, slots=True)
class BankAccount:
    provider_account_id: str
    display_name: str
    last4: str | None
    category: AccountCategory
    subcategory: str
    balance: Balance | None = None


@dataclass(frozen=True, slots=True)
class AccountNumbers:
    """ACH numbers (Plaid Auth): sealed in the vault by the caller, shown only as last4."""

    provider_account_id: str
    account: Secret[str]
    routing: Secret[str]

    def __repr__(self) -> str:
        return f"AccountNumbers(provider_account_id={self.provider_account_id!r})"


@dataclass(frozen=True, slots=True)
class Owner:
    provider_account_id: str
    names: tuple[str, ...]
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BankTransaction:
    provider_transaction_id: str
    provider_account_id: str
    amount: int  # minor units, negative when money leaves the account
    currency: str
    description: str
    status: TransactionStatus
    transacted_on: date


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One page of a transactions sync: apply it, store ``next_cursor``, and ask again while
    ``has_more``. ``removed`` are provider transaction ids that no longer exist."""

    added: list[BankTransaction] = field(default_factory=list)
    modified: list[BankTransaction] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    next_cursor: str = ""
    has_more: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing a provider's webhook says about one item: ``code`` is the provider's
    (Plaid ``SYNC_UPDATES_AVAILABLE``, ``ERROR``, ``LOGIN_REPAIRED`` ...; Yodlee's notices
    become ``DATA_UPDATE``)."""

    provider_item_id: str
    type: str
    code: str
    payload: dict[str, Any]
    # A notice about every item of one provider user (Yodlee's DATA_UPDATES name a user, not
    # a provider account): ``provider_item_id`` is then empty.
    provider_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class LinkRequest:
    client_user_id: str
    products: tuple[str, ...]
    webhook_url: str | None
    country_codes: tuple[str, ...] = ("US",)
    # Update mode (relink after LOGIN_REQUIRED): the item's current access token.
    access_token: Secret[str] | None = None
    redirect_uri: str | None = None


class BankProvider(Protocol):
    """One bank-data provider. Every method is one or a few HTTP calls with explicit
    timeouts; none is called inside a database transaction."""

    name: str

    def create_link_token(self, req: LinkRequest) -> LinkToken: ...

    def exchange_public_token(self, public_token: Secret[str], client_user_id: str) -> Exchanged:
        """The link flow's result for the end user ``client_user_id`` (the one the link
        token was made for) as a long-lived access token."""
        ...

    def get_accounts(self, access_token: Secret[str]) -> list[BankAccount]: ...

    def get_balances(self, access_token: Secret[str]) -> list[BankAccount]:
        """Real-time balances (Plaid ``/accounts/balance/get``), each with ``as_of``."""
        ...

    def get_account_numbers(self, access_token: Secret[str]) -> list[AccountNumbers]: ...

    def get_owners(self, access_token: Secret[str]) -> list[Owner]: ...

    def sync_transactions(self, access_token: Secret[str], cursor: str) -> SyncPage: ...

    def remove_item(self, access_token: Secret[str]) -> None: ...

    def close(self) -> None: ...


def minor_units(value: Decimal | int | str, currency: str) -> int:
    """A provider's decimal amount (``12.34``) in minor units, exactly; never through float."""
    return Money.from_decimal(Decimal(str(value)), currency.upper()).amount


def category_of(kind: str | None) -> AccountCategory:
    """Plaid/Yodlee account types onto Stripe's categories, conservatively ``other``."""
    k = (kind or "").lower()
    if k in ("depository", "bank", "cash"):
        return "cash"
    if k in ("credit", "creditcard", "credit_card", "loan"):
        return "credit"
    if k in ("investment", "brokerage", "investments"):
        return "investment"
    return "other"
