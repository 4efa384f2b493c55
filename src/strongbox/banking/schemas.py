"""Financial Connections API shapes: request parameters and Stripe-shaped objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from strongbox.banking.models import BankAccountRow, BankSession, BankTransactionRow
from strongbox.core.params import (
    Expand,
    IdString,
    IntParam,
    ListParams,
    Params,
    RangeQuery,
    invalid_param,
)

Permission = Literal["balances", "ownership", "payment_method", "transactions"]
Feature = Literal["balance", "ownership", "transactions"]
Provider = Literal["plaid", "yodlee"]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Token = Annotated[str, Field(min_length=1, max_length=512)]


class AccountHolderParams(Params):
    type: Literal["customer", "account"]
    customer: IdString | None = None
    account: IdString | None = None

    @model_validator(mode="after")
    def _one_holder(self) -> Self:
        if self.type == "customer" and not self.customer:
            raise invalid_param(
                "account_holder[customer] is required when type is customer.",
                code="parameter_missing",
                param="customer",
            )
        return self


class FiltersParams(Params):
    countries: list[Literal["US"]] | None = None


class CreateSessionParams(Params):
    account_holder: AccountHolderParams
    permissions: list[Permission] = Field(min_length=1)
    filters: FiltersParams | None = None
    prefetch: list[Feature] | None = None
    return_url: Url | None = None
    expand: Expand = Field(default_factory=list)
    # Strongbox: which bank-data provider runs the link flow, and update mode (relink).
    provider: Provider = "plaid"
    relink_account: IdString | None = None


class CompleteSessionParams(Params):
    """The link flow's result: Plaid Link's ``public_token`` (Yodlee FastLink: the
    ``providerAccountId``). A relink session completes without one."""

    public_token: Token | None = None
    expand: Expand = Field(default_factory=list)


class RetrieveParams(Params):
    expand: Expand = Field(default_factory=list)


class RetrieveSessionParams(RetrieveParams):
    """``client_secret``: required with a publishable key (a browser reading the session it
    was given, as Stripe.js ``collectFinancialConnectionsAccounts`` does)."""

    client_secret: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class RefreshParams(Params):
    features: list[Feature] = Field(min_length=1)
    expand: Expand = Field(default_factory=list)


class BalanceCheckParams(Params):
    """Strongbox: before debiting ``amount`` (minor units) of ``currency`` from the account."""

    amount: IntParam
    currency: str
    expand: Expand = Field(default_factory=list)


class AccountHolderFilter(Params):
    customer: IdString | None = None
    account: IdString | None = None


class ListAccountsParams(ListParams):
    session: IdString | None = None
    account_holder: AccountHolderFilter | None = None


class TransactionRefreshFilter(Params):
    after: IdString


class ListTransactionsParams(ListParams):
    """Stripe's filters: ``transacted_at`` (a range of Unix times, like ``created``) and
    ``transaction_refresh[after]`` (the transactions a later refresh added or changed)."""

    account: IdString
    transacted_at: RangeQuery | None = None
    transaction_refresh: TransactionRefreshFilter | None = None


def _ts(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def render_account(a: BankAccountRow, livemode: bool) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "financial_connections.account",
        "account_holder": a.account_holder,
        "balance": a.balance,
        "balance_refresh": a.balance_refresh,
        "category": a.category,
        "created": _ts(a.created),
        "display_name": a.display_name,
        "institution_name": a.institution_name,
        "last4": a.last4,
        "livemode": livemode,
        "ownership": a.ownership,
        "ownership_refresh": a.ownership_refresh,
        "permissions": list(a.permissions),
        "status": a.status,
        "subcategory": a.subcategory,
        "subscriptions": [],
        "supported_payment_method_types": (
            ["us_bank_account"] if a.category == "cash" and a.status != "disconnected" else []
        ),
        "transaction_refresh": a.transaction_refresh,
        # Strongbox: whether the bank login must be linked again (a relink session).
        "relink_required": a.status == "inactive",
    }


def render_session(
    s: BankSession, accounts: list[BankAccountRow], livemode: bool
) -> dict[str, Any]:
    return {
        "id": s.id,
        "object": "financial_connections.session",
        "account_holder": s.account_holder,
        "accounts": {
            "object": "list",
            "url": "/v1/financial_connections/accounts",
            "has_more": False,
            "data": [render_account(a, livemode) for a in accounts],
        },
        "client_secret": s.client_secret,
        "filters": {"countries": ["US"]},
        "livemode": livemode,
        "permissions": list(s.permissions),
        "prefetch": list(s.prefetch),
        "return_url": s.return_url,
        # Strongbox: the provider's link flow.
        "provider": s.provider,
        "status": s.status,
        "link_token": s.link_token if s.status == "pending" else None,
        "link_token_expires_at": _ts(s.link_token_expires_at),
    }


def render_transaction(t: BankTransactionRow, livemode: bool) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "financial_connections.transaction",
        "account": t.account_id,
        "amount": t.amount,
        "currency": t.currency,
        "description": t.description,
        "livemode": livemode,
        "status": t.status,
        "status_transitions": {"posted_at": _ts(t.posted_at), "void_at": _ts(t.void_at)},
        "transacted_at": _day_ts(t),
        "transaction_refresh": t.transaction_refresh,
        "updated": _ts(t.updated),
    }


def _day_ts(t: BankTransactionRow) -> int:
    from datetime import UTC, datetime, time

    return int(datetime.combine(t.transacted_on, time(0), UTC).timestamp())
