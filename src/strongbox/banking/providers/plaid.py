"""Plaid through its official Python client (``plaid-python``).

Requests are built and authenticated by the client (``PLAID-CLIENT-ID``/``PLAID-SECRET``
headers, ``Plaid-Version``); answers are read with ``_preload_content=False`` and parsed here
with decimals (amounts never pass through float). That also keeps the client from logging
response bodies at debug level, which for ``/item/public_token/exchange`` would be the
access token. urllib3's own retries are off: the service decides about retries.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import plaid
import urllib3
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.identity_get_request import IdentityGetRequest
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from strongbox.banking.providers.base import (
    AccountNumbers,
    Balance,
    BankAccount,
    BankTransaction,
    Exchanged,
    LinkRequest,
    LinkToken,
    LoginRequired,
    Owner,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    SyncPage,
    SyncRestart,
    category_of,
    minor_units,
)
from strongbox.core.clock import Clock, SystemClock
from strongbox.core.secret import Secret

#: Item errors after which only the user can repair the item, through Link's update mode.
RELINK_CODES = frozenset({"ITEM_LOGIN_REQUIRED", "PENDING_EXPIRATION", "ACCESS_NOT_GRANTED"})
SYNC_PAGE_SIZE = 500


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class PlaidProvider:
    name = "plaid"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        secret: Secret[str],
        *,
        client_name: str = "Strongbox",
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        config = plaid.Configuration(
            host=base_url.rstrip("/"),
            api_key={"clientId": client_id, "secret": secret.reveal()},
        )
        config.retries = False
        self._api = plaid_api.PlaidApi(plaid.ApiClient(config))
        self._client_name = client_name[:30]
        self._timeout = (connect_timeout, read_timeout)
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return "PlaidProvider()"

    def close(self) -> None:
        self._api.api_client.close()

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, request: Any) -> dict[str, Any]:
        try:
            resp = getattr(self._api, method)(
                request, _preload_content=False, _request_timeout=self._timeout
            )
            raw = resp.data
        except plaid.ApiException as exc:
            raise _error(exc.status, exc.body) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ProviderUnavailable("network_error", type(exc).__name__) from None
        try:
            body: dict[str, Any] = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise ProviderUnavailable("bad_response", "Plaid answered with no JSON") from None
        return body

    def _balance(self, b: dict[str, Any], as_of: datetime) -> Balance:
        currency = str(b.get("iso_currency_code") or b.get("unofficial_currency_code") or "USD")

        def amount(v: Any) -> int | None:
            return None if v is None else minor_units(v, currency)

        when = _parse_time(b.get("last_updated_datetime")) or as_of
        return Balance(currency.lower(), amount(b.get("current")), amount(b.get("available")), when)

    def _accounts(self, body: dict[str, Any]) -> list[BankAccount]:
        now = self._clock.now()
        out = []
        for a in body.get("accounts", []):
            out.append(
                BankAccount(
                    provider_account_id=str(a["account_id"]),
                    display_name=str(a.get("name") or a.get("official_name") or "Account"),
                    last4=str(a["mask"]) if a.get("mask") else None,
                    category=category_of(a.get("type")),
                    subcategory=str(a.get("subtype") or "other"),
                    balance=self._balance(a["balances"], now) if a.get("balances") else None,
                )
            )
        return out

    # ------------------------------------------------------------------ contract

    def create_link_token(self, req: LinkRequest) -> LinkToken:
        fields: dict[str, Any] = {
            "client_name": self._client_name,
            "language": "en",
            "country_codes": [CountryCode(c) for c in req.country_codes],
            "user": LinkTokenCreateRequestUser(client_user_id=req.client_user_id),
        }
        if req.access_token is not None:  # update mode: no products
            fields["access_token"] = req.access_token.reveal()
        else:
            fields["products"] = [Products(p) for p in req.products]
        if req.webhook_url:
            fields["webhook"] = req.webhook_url
        if req.redirect_uri:
            fields["redirect_uri"] = req.redirect_uri
        body = self._call("link_token_create", LinkTokenCreateRequest(**fields))
        return LinkToken(str(body["link_token"]), _parse_time(body.get("expiration")))

    def exchange_public_token(self, public_token: Secret[str], client_user_id: str) -> Exchanged:
        body = self._call(
            "item_public_token_exchange",
            ItemPublicTokenExchangeRequest(public_token=public_token.reveal()),
        )
        token = Secret(str(body["access_token"]))
        return Exchanged(token, str(body["item_id"]), self._institution_name(token))

    def _institution_name(self, token: Secret[str]) -> str | None:
        """The bank's name (``/item/get``, then ``/institutions/get_by_id``), for display
        only: if Plaid cannot say, the link goes on without it."""
        try:
            item = self._call("item_get", ItemGetRequest(access_token=token.reveal()))["item"]
            institution_id = item.get("institution_id")
            if not institution_id:
                return None
            body = self._call(
                "institutions_get_by_id",
                InstitutionsGetByIdRequest(
                    institution_id=str(institution_id), country_codes=[CountryCode("US")]
                ),
            )
        except (ProviderError, KeyError):
            return None
        name = (body.get("institution") or {}).get("name")
        return str(name) if name else None

    def get_accounts(self, access_token: Secret[str]) -> list[BankAccount]:
        return self._accounts(
            self._call("accounts_get", AccountsGetRequest(access_token=access_token.reveal()))
        )

    def get_balances(self, access_token: Secret[str]) -> list[BankAccount]:
        return self._accounts(
            self._call(
                "accounts_balance_get",
                AccountsBalanceGetRequest(access_token=access_token.reveal()),
            )
        )

    def get_account_numbers(self, access_token: Secret[str]) -> list[AccountNumbers]:
        body = self._call("auth_get", AuthGetRequest(access_token=access_token.reveal()))
        return [
            AccountNumbers(
                str(n["account_id"]), Secret(str(n["account"])), Secret(str(n["routing"]))
            )
            for n in body.get("numbers", {}).get("ach", [])
        ]

    def get_owners(self, access_token: Secret[str]) -> list[Owner]:
        body = self._call("identity_get", IdentityGetRequest(access_token=access_token.reveal()))
        out = []
        for a in body.get("accounts", []):
            names: list[str] = []
            emails: list[str] = []
            phones: list[str] = []
            for o in a.get("owners", []):
                names += [str(n) for n in o.get("names", [])]
                emails += [str(e["data"]) for e in o.get("emails", []) if e.get("data")]
                phones += [str(p["data"]) for p in o.get("phone_numbers", []) if p.get("data")]
            out.append(Owner(str(a["account_id"]), tuple(names), tuple(emails), tuple(phones)))
        return out

    def sync_transactions(self, access_token: Secret[str], cursor: str) -> SyncPage:
        fields: dict[str, Any] = {"access_token": access_token.reveal(), "count": SYNC_PAGE_SIZE}
        if cursor:
            fields["cursor"] = cursor
        body = self._call("transactions_sync", TransactionsSyncRequest(**fields))
        return SyncPage(
            added=[_transaction(t) for t in body.get("added", [])],
            modified=[_transaction(t) for t in body.get("modified", [])],
            removed=[str(r["transaction_id"]) for r in body.get("removed", [])],
            next_cursor=str(body.get("next_cursor") or ""),
            has_more=bool(body.get("has_more")),
        )

    def remove_item(self, access_token: Secret[str]) -> None:
        self._call("item_remove", ItemRemoveRequest(access_token=access_token.reveal()))

    # ------------------------------------------------------------------ webhooks

    def webhook_verification_key(self, key_id: str) -> dict[str, Any]:
        """The JWK Plaid signs webhooks with under ``key_id``: ``/webhook_verification_key/get``."""
        body = self._call(
            "webhook_verification_key_get", WebhookVerificationKeyGetRequest(key_id=key_id)
        )
        key: dict[str, Any] = body["key"]
        return key


def _transaction(t: dict[str, Any]) -> BankTransaction:
    currency = str(t.get("iso_currency_code") or t.get("unofficial_currency_code") or "USD")
    return BankTransaction(
        provider_transaction_id=str(t["transaction_id"]),
        provider_account_id=str(t["account_id"]),
        # Plaid: positive when money moves out of the account; Stripe: negative.
        amount=-minor_units(t["amount"], currency),
        currency=currency.lower(),
        description=str(t.get("merchant_name") or t.get("name") or "")[:500],
        status="pending" if t.get("pending") else "posted",
        transacted_on=date.fromisoformat(str(t.get("authorized_date") or t["date"])),
    )


def _error(status: int | None, raw: Any) -> ProviderError:
    """Plaid's error body (``error_type``, ``error_code``, ``error_message``) as a typed error.
    The message is Plaid's own text about the request, never the request's content."""
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, TypeError):
        body = {}
    code = str(body.get("error_code") or f"HTTP_{status}")
    kind = str(body.get("error_type") or "")
    message = str(body.get("error_message") or "Plaid refused the request")[:300]
    if code in RELINK_CODES:
        return LoginRequired(code, message, status=status)
    if code == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION":
        return SyncRestart(code, message, status=status)
    if status == 429 or kind == "RATE_LIMIT_EXCEEDED":
        return RateLimited(code, message, status=status)
    if status is None or status == 0 or status >= 500 or kind == "API_ERROR":
        return ProviderUnavailable(code, message, status=status)
    return ProviderRejected(code, message, status=status)
