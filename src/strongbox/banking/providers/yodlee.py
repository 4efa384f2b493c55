"""Yodlee (API 1.1) over httpx.

Authentication is OAuth2 client credentials: ``POST /auth/token`` with ``clientId`` and
``secret`` and a ``loginName`` header (the admin's for ``/user/register``, the end user's for
their data) answers a Bearer token and its ``expiresIn``. Tokens are cached per login name and
refreshed when less than ``REFRESH_MARGIN`` of their life is left, never on every call; a 401
with a token error (``Y016``/``Y020``) drops the cached token and tries once more.

What the contract calls an item is one Yodlee provider account (one bank login) of one
Yodlee user; its "access token" is ``loginName|providerAccountId`` (sealed like Plaid's, since
with our client secret it opens that user's data). FastLink's result, the
``providerAccountId``, is the public token. Yodlee has no change feed: a sync reads the
transactions from a date on (the cursor), re-reading ``RESYNC_DAYS`` so that pending
transactions that post are updated in place; it cannot see removals.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from strongbox.banking.providers.base import (
    AccountCategory,
    AccountNumbers,
    Balance,
    BankAccount,
    BankTransaction,
    Exchanged,
    LinkRequest,
    LinkToken,
    LoginRequired,
    Notice,
    Owner,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    SyncPage,
    minor_units,
)
from strongbox.core.clock import Clock, SystemClock
from strongbox.core.secret import Secret

API_VERSION = "1.1"
REFRESH_MARGIN = timedelta(seconds=120)
PAGE_SIZE = 500
FIRST_SYNC_DAYS = 90
RESYNC_DAYS = 14
TOKEN_ERRORS = frozenset({"Y016", "Y020"})
#: The event notifications Strongbox subscribes to: a refresh of a login finished, the
#: nightly auto-refresh, and a user's data changed (the last names a user, not a login).
EVENTS = ("REFRESH", "AUTO_REFRESH_UPDATES", "DATA_UPDATES")
#: providerAccount ``additionalStatus`` values after which only the user can repair it.
RELINK_STATUSES = frozenset(
    {"INCORRECT_CREDENTIALS", "ACCOUNT_LOCKED", "USER_INPUT_REQUIRED", "CREDENTIALS_UPDATE_NEEDED"}
)
_CONTAINER: dict[str, AccountCategory] = {
    "bank": "cash",
    "creditCard": "credit",
    "investment": "investment",
    "loan": "credit",
}


class _Token:
    __slots__ = ("expires_at", "value")

    def __init__(self, value: Secret[str], expires_at: datetime) -> None:
        self.value = value
        self.expires_at = expires_at


def _split(access_token: Secret[str]) -> tuple[str, str]:
    login, _, provider_account = access_token.reveal().partition("|")
    return login, provider_account


def _amount(obj: Any) -> tuple[int, str] | None:
    if not isinstance(obj, dict) or obj.get("amount") is None:
        return None
    currency = str(obj.get("currency") or "USD")
    return minor_units(obj["amount"], currency), currency.lower()


class YodleeProvider:
    name = "yodlee"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        secret: Secret[str],
        admin_login: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers={"Api-Version": API_VERSION},
            transport=transport,
        )
        self._client_id = client_id
        self._secret = secret
        self._admin = admin_login
        self._clock = clock or SystemClock()
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self.token_fetches = 0

    def __repr__(self) -> str:
        return "YodleeProvider()"

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ plumbing

    def _token(self, login: str) -> Secret[str]:
        now = self._clock.now()
        with self._lock:
            cached = self._tokens.get(login)
            if cached is not None and cached.expires_at - REFRESH_MARGIN > now:
                return cached.value
        body = self._send(
            "POST",
            "/auth/token",
            None,
            data={"clientId": self._client_id, "secret": self._secret.reveal()},
            headers={"loginName": login},
        )
        token = body.get("token") or {}
        value = Secret(str(token["accessToken"]))
        expires = now + timedelta(seconds=int(token.get("expiresIn") or 1800))
        with self._lock:
            self._tokens[login] = _Token(value, expires)
            self.token_fetches += 1
        return value

    def _send(
        self, method: str, path: str, bearer: Secret[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        headers = dict(kwargs.pop("headers", {}) or {})
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer.reveal()}"
        try:
            r = self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable("network_error", type(exc).__name__) from None
        try:
            body = r.json() if r.content else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if r.status_code < 300:
            return body
        code = str(body.get("errorCode") or f"HTTP_{r.status_code}")
        message = str(body.get("errorMessage") or "Yodlee refused the request")[:300]
        if r.status_code == 429:
            raise RateLimited(code, message, status=429)
        if r.status_code >= 500:
            raise ProviderUnavailable(code, message, status=r.status_code)
        raise ProviderRejected(code, message, status=r.status_code)

    def _call(self, method: str, path: str, login: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in (0, 1):
            try:
                return self._send(method, path, self._token(login), **kwargs)
            except ProviderRejected as exc:
                if attempt or exc.status != 401 or exc.code not in TOKEN_ERRORS:
                    raise
                with self._lock:  # revoked or expired early: fetch a new one, once
                    self._tokens.pop(login, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_login(self, login: str, provider_account: str) -> None:
        body = self._call("GET", f"/providerAccounts/{provider_account}", login)
        pa = (body.get("providerAccount") or [{}])[0]
        for ds in pa.get("dataset") or []:
            status = str(ds.get("additionalStatus") or "")
            if status in RELINK_STATUSES:
                raise LoginRequired(status, "the bank login must be linked again")

    def _accounts(self, login: str, provider_account: str, include: str = "") -> list[Any]:
        params = {"providerAccountId": provider_account}
        if include:
            params["include"] = include
        accounts: list[Any] = (
            self._call("GET", "/accounts", login, params=params).get("account") or []
        )
        return accounts

    # ------------------------------------------------------------------ contract

    def create_link_token(self, req: LinkRequest) -> LinkToken:
        """Registers the end user (once) and answers their token, which FastLink opens with."""
        login = req.client_user_id
        if req.access_token is None:
            try:
                self._call(
                    "POST",
                    "/user/register",
                    self._admin,
                    json={"user": {"loginName": login, "preferences": {"currency": "USD"}}},
                )
            except ProviderRejected as exc:
                if exc.code != "Y013":  # Y013: the user exists already
                    raise
        else:
            login, _ = _split(req.access_token)
        token = self._token(login)
        with self._lock:
            expires = self._tokens[login].expires_at
        return LinkToken(token.reveal(), expires)

    def exchange_public_token(self, public_token: Secret[str], client_user_id: str) -> Exchanged:
        provider_account = public_token.reveal()
        if not provider_account.isdigit():
            raise ProviderRejected("Y800", "Invalid value for providerAccountId")
        body = self._call("GET", f"/providerAccounts/{provider_account}", client_user_id)
        pa = (body.get("providerAccount") or [{}])[0]
        return Exchanged(
            Secret(f"{client_user_id}|{provider_account}"),
            provider_account,
            institution_name=str(pa.get("providerName") or "") or None,
            provider_user_id=client_user_id,
        )

    def get_accounts(self, access_token: Secret[str]) -> list[BankAccount]:
        login, pa = _split(access_token)
        now = self._clock.now()
        out = []
        for a in self._accounts(login, pa):
            current = _amount(a.get("currentBalance") or a.get("balance"))
            available = _amount(a.get("availableBalance"))
            currency = (current or available or (0, "usd"))[1]
            when = a.get("lastUpdated")
            as_of = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else now
            number = str(a.get("accountNumber") or "")
            out.append(
                BankAccount(
                    provider_account_id=str(a["id"]),
                    display_name=str(a.get("accountName") or "Account"),
                    last4=number[-4:] if number else None,
                    category=_CONTAINER.get(str(a.get("CONTAINER")), "other"),
                    subcategory=str(a.get("accountType") or "other").lower(),
                    balance=Balance(
                        currency,
                        current[0] if current else None,
                        available[0] if available else None,
                        as_of,
                    ),
                )
            )
        return out

    def get_balances(self, access_token: Secret[str]) -> list[BankAccount]:
        """Yodlee's balances as of its last refresh of the login (``lastUpdated``)."""
        return self.get_accounts(access_token)

    def get_account_numbers(self, access_token: Secret[str]) -> list[AccountNumbers]:
        login, pa = _split(access_token)
        out = []
        for a in self._accounts(login, pa, include="fullAccountNumbers"):
            full = (a.get("fullAccountNumbers") or {}).get("paymentAccountNumber")
            routing = next(
                (
                    str(c["id"])
                    for c in a.get("bankTransferCode") or []
                    if c.get("type") == "ROUTING_NUMBER"
                ),
                None,
            )
            if full and routing:
                out.append(AccountNumbers(str(a["id"]), Secret(str(full)), Secret(routing)))
        return out

    def get_owners(self, access_token: Secret[str]) -> list[Owner]:
        login, pa = _split(access_token)
        out = []
        for a in self._accounts(login, pa, include="holder"):
            names = tuple(
                str((h.get("name") or {}).get("displayed") or "")
                for h in a.get("holder") or []
                if (h.get("name") or {}).get("displayed")
            )
            out.append(Owner(str(a["id"]), names))
        return out

    def sync_transactions(self, access_token: Secret[str], cursor: str) -> SyncPage:
        """``cursor``: ``fromDate|skip``; empty, the last ``FIRST_SYNC_DAYS`` days."""
        login, pa = _split(access_token)
        today = self._clock.now().astimezone(UTC).date()
        start, _, skip_text = cursor.partition("|")
        since = start or (today - timedelta(days=FIRST_SYNC_DAYS)).isoformat()
        skip = int(skip_text or 0)
        if skip == 0:
            self._check_login(login, pa)
        accounts = [str(a["id"]) for a in self._accounts(login, pa)]
        if not accounts:
            return SyncPage(next_cursor=cursor)
        body = self._call(
            "GET",
            "/transactions",
            login,
            params={
                "accountId": ",".join(accounts),
                "fromDate": since,
                "toDate": (today + timedelta(days=1)).isoformat(),
                "skip": skip,
                "top": PAGE_SIZE,
            },
        )
        txns = body.get("transaction") or []
        added = [_transaction(t) for t in txns]
        if len(txns) == PAGE_SIZE:
            return SyncPage(added=added, next_cursor=f"{since}|{skip + PAGE_SIZE}", has_more=True)
        resync = (today - timedelta(days=RESYNC_DAYS)).isoformat()
        return SyncPage(added=added, next_cursor=max(resync, since) if start else resync)

    def subscribe_events(
        self, callback_url: Secret[str], events: tuple[str, ...] = EVENTS
    ) -> dict[str, str]:
        """Subscribe ``events`` to ``callback_url`` (Yodlee's ``/configs/notifications/events``,
        with the admin's token): each is ``created``, ``updated`` (it went elsewhere) or
        ``unchanged``. The URL carries our webhook token: it is a ``Secret``, never logged."""
        url = callback_url.reveal()
        listed = self._call("GET", "/configs/notifications/events", self._admin).get("event")
        current = {
            str(e.get("name")): str(e.get("callbackUrl") or "")
            for e in listed or []
            if isinstance(e, dict)
        }
        done: dict[str, str] = {}
        for name in events:
            body = {"event": {"callbackUrl": url}}
            path = f"/configs/notifications/events/{name}"
            if name not in current:
                self._call("POST", path, self._admin, json=body)
                done[name] = "created"
            elif current[name] != url:
                self._call("PUT", path, self._admin, json=body)
                done[name] = "updated"
            else:
                done[name] = "unchanged"
        return done

    def remove_item(self, access_token: Secret[str]) -> None:
        login, pa = _split(access_token)
        try:
            self._call("DELETE", f"/providerAccounts/{pa}", login)
        except ProviderError as exc:
            if exc.status == 404 or exc.code == "Y807":  # already gone at Yodlee
                raise ProviderRejected("ITEM_NOT_FOUND", exc.message, status=404) from None
            raise


def _transaction(t: dict[str, Any]) -> BankTransaction:
    got = _amount(t.get("amount")) or (0, "usd")
    cents, currency = got
    debit = str(t.get("baseType") or "").upper() == "DEBIT"
    desc = t.get("description") or {}
    return BankTransaction(
        provider_transaction_id=str(t["id"]),
        provider_account_id=str(t["accountId"]),
        amount=-abs(cents) if debit else abs(cents),
        currency=currency,
        description=str(desc.get("simple") or desc.get("original") or "")[:500],
        status="pending" if str(t.get("status") or "").upper() == "PENDING" else "posted",
        transacted_on=date.fromisoformat(str(t.get("transactionDate") or t["date"])[:10]),
    )


def yodlee_notices(payload: dict[str, Any]) -> list[Notice]:
    """Yodlee's event notifications (``{"event": {"info": ..., "data": ...}}``) as notices.

    Yodlee does not sign its webhooks: the receiver authenticates the callback URL's secret
    token instead, and a notice is only ever a hint to sync an item we already hold, whose
    data is then read from Yodlee with our own credentials. ``REFRESH.*`` names the provider
    accounts refreshed; ``AUTO_REFRESH_UPDATES`` one provider account; ``DATA_UPDATES.*``
    users (``userData[].user.loginName``), every login of whom is then synced (the data
    extract's link is not followed: the sync reads the same data with our credentials).
    """
    event = payload.get("event")
    if not isinstance(event, dict):
        return []
    info = str(event.get("info") or "")
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    ids: list[str] = []
    kind = info.split(".", 1)[0][:64]
    if info.startswith("DATA_UPDATES"):
        # ``data.userData[].user.loginName``: every login of those users may have new data.
        users = {
            str((u.get("user") or {}).get("loginName") or "")
            for u in data.get("userData") or []
            if isinstance(u, dict) and isinstance(u.get("user"), dict)
        }
        return [
            Notice("", kind, "DATA_UPDATE", {"event": info}, provider_user_id=u)
            for u in sorted(users)
            if u
        ]
    if info.startswith("REFRESH"):
        ids = [
            str(pa.get("id"))
            for pa in data.get("providerAccount") or []
            if isinstance(pa, dict) and pa.get("id")
        ]
    elif info.startswith("AUTO_REFRESH_UPDATES") and data.get("providerAccountId"):
        ids = [str(data["providerAccountId"])]
    return [Notice(i, kind, "DATA_UPDATE", {"event": info}) for i in ids]
