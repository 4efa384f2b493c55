"""A local fake of Yodlee's API 1.1, from its documented wire format.

``POST /auth/token`` (form ``clientId``, ``secret``; header ``loginName``) answers
``{"token": {"accessToken", "issuedAt", "expiresIn"}}``; every other call needs
``Api-Version: 1.1`` and ``Authorization: Bearer`` with a live token (401 ``Y020``
otherwise). Errors are Yodlee's body (``errorCode``, ``errorMessage``, ``referenceCode``).
``/user/register`` takes the admin's token (400 ``Y013`` for a user that exists);
``/providerAccounts/{id}`` (GET, DELETE), ``/accounts`` (``providerAccountId``, ``include``
of ``fullAccountNumbers`` and ``holder``), ``/transactions`` (``accountId``, ``fromDate``,
``toDate``, ``skip``, ``top``).

Sandbox behaviours: FastLink (``fake_fastlink``, the part that runs in the browser) with
``user_good``/``pass_good`` adds a provider account; ``login_required(pa)`` marks its dataset
``INCORRECT_CREDENTIALS``; ``rate_limit(n)``/``fail(n)`` answer 429/503; ``now`` is the
fake's clock for token expiry. ``calls`` counts requests per endpoint.
Event notifications: ``/configs/notifications/events`` (GET; POST, PUT, DELETE of
``/{eventName}`` with ``{"event": {"callbackUrl"}}``, the admin's token); ``refresh_login``,
``auto_refresh`` and ``data_updates`` queue ``REFRESH``, ``AUTO_REFRESH_UPDATES`` and
``DATA_UPDATES`` notifications in Yodlee's format for the subscribed URL, ``deliver`` posts them.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

CLIENT_ID = "yodlee_client"
SECRET = "yodlee_secret"  # pragma: allowlist secret
ADMIN = "admin_login"
TOKEN_SECONDS = 1800
FORM = "application/x-www-form-urlencoded"
EVENT_NAMES = frozenset(
    {"REFRESH", "AUTO_REFRESH_UPDATES", "DATA_UPDATES", "LATEST_BALANCE_UPDATES"}
)


class YodleeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


@dataclass
class ProviderAccount:
    id: int
    login: str
    accounts: list[dict[str, Any]]
    transactions: list[dict[str, Any]] = field(default_factory=list)
    login_required: bool = False
    deleted: bool = False


class YodleeFake:
    def __init__(self) -> None:
        self.app = FastAPI()
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.users: set[str] = set()
        self.tokens: dict[str, tuple[str, float]] = {}
        self.provider_accounts: dict[int, ProviderAccount] = {}
        self.now: Callable[[], float] = time.time
        self._ids = itertools.count(10_000_001)
        self._rate_limited = 0
        self._failing = 0
        # Event notifications: name -> callbackUrl; what Yodlee would post, waiting.
        self.subscriptions: dict[str, str] = {}
        self.outbox: list[tuple[str, bytes]] = []
        self.app.add_api_route(
            "/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE"]
        )

    def rate_limit(self, n: int = 1) -> None:
        self._rate_limited += n

    # ---------------------------------------------------------------- event notifications

    def _notify(self, name: str, event: dict[str, Any]) -> None:
        url = self.subscriptions.get(name)
        if url is not None:  # Yodlee sends only what is subscribed
            self.outbox.append((url, json.dumps({"event": event}).encode()))

    def _add(self, pa: ProviderAccount, txns: list[tuple[str, float, str]]) -> None:
        chk = pa.accounts[0]["id"]
        for tid, amount, desc in txns:
            pa.transactions.append(self.txn(chk, tid, abs(amount), "DEBIT", desc))

    def refresh_login(self, pa_id: int, txns: list[tuple[str, float, str]] | None = None) -> None:
        """A refresh of the login finished (new transactions, if given): ``REFRESH``."""
        with self.lock:
            pa = self.provider_accounts[pa_id]
            self._add(pa, txns or [])
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._notify(
                "REFRESH",
                {
                    "info": "REFRESH.PROCESS_COMPLETED",
                    "loginName": pa.login,
                    "data": {
                        "providerAccount": [
                            {
                                "id": pa.id,
                                "providerId": 16441,
                                "isManual": False,
                                "aggregationSource": "USER",
                                "status": "SUCCESS",
                                "requestId": secrets.token_hex(8),
                                "dataset": [
                                    {
                                        "name": "BASIC_AGG_DATA",
                                        "additionalStatus": "AVAILABLE_DATA_RETRIEVED",
                                        "updateEligibility": "ALLOW_UPDATE",
                                        "lastUpdated": stamp,
                                        "lastUpdateAttempt": stamp,
                                    }
                                ],
                            }
                        ]
                    },
                },
            )

    def auto_refresh(self, pa_id: int, txns: list[tuple[str, float, str]] | None = None) -> None:
        """The nightly auto-refresh of a login ran: ``AUTO_REFRESH_UPDATES``."""
        with self.lock:
            pa = self.provider_accounts[pa_id]
            self._add(pa, txns or [])
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._notify(
                "AUTO_REFRESH_UPDATES",
                {
                    "info": "AUTO_REFRESH_UPDATES",
                    "loginName": pa.login,
                    "data": {
                        "providerAccountId": pa.id,
                        "accounts": [
                            {
                                "id": a["id"],
                                "autoRefresh": {
                                    "status": "ENABLED",
                                    "additionalStatus": "SCHEDULED",
                                    "asOfDate": stamp,
                                },
                            }
                            for a in pa.accounts
                        ],
                    },
                },
            )

    def data_updates(self, logins: list[str]) -> None:
        """Users' data changed: ``DATA_UPDATES.USER_DATA``, naming users, with the link to
        their data extract."""
        with self.lock:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._notify(
                "DATA_UPDATES",
                {
                    "info": "DATA_UPDATES.USER_DATA",
                    "data": {
                        "fromDate": now,
                        "toDate": now,
                        "userCount": len(logins),
                        "userData": [
                            {
                                "user": {"loginName": login},
                                "links": [
                                    {
                                        "methodType": "GET",
                                        "rel": "getUserData",
                                        "href": "dataExtracts/userData?fromDate="
                                        f"{now}&toDate={now}&loginName={login}",
                                    }
                                ],
                            }
                            for login in logins
                        ],
                    },
                },
            )

    def add_transactions(self, pa_id: int, txns: list[tuple[str, float, str]]) -> None:
        with self.lock:
            self._add(self.provider_accounts[pa_id], txns)

    def deliver(self, post: Callable[[str, bytes], Any]) -> list[Any]:
        """Post every waiting notification to its callback URL (JSON, unsigned, as Yodlee)."""
        with self.lock:
            out, self.outbox = self.outbox, []
        return [post(url, body) for url, body in out]

    def fail(self, n: int = 1) -> None:
        self._failing += n

    def login_required(self, pa: int) -> None:
        self.provider_accounts[pa].login_required = True

    def fake_fastlink(self, user_token: str, username: str, password: str) -> str:
        """FastLink in the browser: the user logs in at the bank; answers providerAccountId."""
        with self.lock:
            login, expires = self.tokens[user_token]
            assert expires > self.now()
            if (username, password) != ("user_good", "pass_good"):
                raise YodleeError(400, "Y800", "bad login")
            pa = ProviderAccount(next(self._ids), login, [])
            for name, kind, last4, balance in (
                ("TESTDATA CHECKING", "CHECKING", "0000", 100.0),
                ("TESTDATA SAVINGS", "SAVINGS", "1111", 200.5),
            ):
                pa.accounts.append(
                    {
                        "id": next(self._ids),
                        "CONTAINER": "bank",
                        "providerAccountId": pa.id,
                        "accountName": name,
                        "accountType": kind,
                        "accountNumber": "xxxx" + last4,
                        "availableBalance": {"amount": balance, "currency": "USD"},
                        "currentBalance": {"amount": balance + 10, "currency": "USD"},
                        "lastUpdated": "2026-12-07T10:00:00Z",
                        "fullAccountNumbers": {"paymentAccountNumber": "98765432" + last4},
                        "bankTransferCode": [{"id": "999999989", "type": "ROUTING_NUMBER"}],
                        "holder": [{"name": {"displayed": "Jane Yodlee"}}],
                    }
                )
            chk = pa.accounts[0]["id"]
            for i, (amount, base, desc) in enumerate(
                ((12.5, "DEBIT", "Uber"), (500.0, "CREDIT", "Payroll"), (89.4, "DEBIT", "Tectra"))
            ):
                pa.transactions.append(self.txn(chk, f"{pa.id}{i}", amount, base, desc))
            self.provider_accounts[pa.id] = pa
            return str(pa.id)

    @staticmethod
    def txn(
        account: int,
        tid: str,
        amount: float,
        base: str,
        desc: str,
        status: str = "POSTED",
        day: date | None = None,
    ) -> dict[str, Any]:
        d = (day or datetime.now(UTC).date()).isoformat()
        return {
            "id": int(tid),
            "accountId": account,
            "amount": {"amount": amount, "currency": "USD"},
            "baseType": base,
            "status": status,
            "date": d,
            "transactionDate": d,
            "description": {"original": desc.upper(), "simple": desc},
            "CONTAINER": "bank",
        }

    def _auth(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        got = self.tokens.get(token)
        if got is None or got[1] <= self.now():
            raise YodleeError(401, "Y020", "Invalid token in authorization header")
        return got[0]

    async def _handle(self, path: str, request: Request) -> Response:
        ref = secrets.token_hex(6)
        try:
            raw = await request.body()
            kind = request.headers.get("content-type", "")
            form = dict(parse_qsl(raw.decode())) if kind.startswith(FORM) else None
            body = json.loads(raw) if kind.startswith("application/json") else None
            with self.lock:
                self.calls[f"{request.method} /{path.split('/')[0]}"] += 1
                if self._rate_limited:
                    self._rate_limited -= 1
                    raise YodleeError(429, "Y902", "Too many requests")
                if self._failing:
                    self._failing -= 1
                    raise YodleeError(503, "Y901", "Service not supported")
                if request.headers.get("api-version") != "1.1":
                    raise YodleeError(400, "Y015", "Api-Version header missing")
                out = self._route(request, "/" + path, form, body)
        except YodleeError as e:
            return JSONResponse(
                {"errorCode": e.code, "errorMessage": e.message, "referenceCode": ref},
                status_code=e.status,
            )
        if out is None:
            return Response(status_code=204)
        return JSONResponse(out)

    def _route(self, request: Request, path: str, form: Any, body: Any) -> dict[str, Any] | None:
        if path == "/auth/token":
            if form is None or (form.get("clientId"), form.get("secret")) != (CLIENT_ID, SECRET):
                raise YodleeError(401, "Y004", "Invalid credentials")
            login = request.headers.get("loginname") or ""
            if login != ADMIN and login not in self.users:
                raise YodleeError(400, "Y008", "Invalid loginName")
            token = secrets.token_hex(16)
            self.tokens[token] = (login, self.now() + TOKEN_SECONDS)
            return {"token": {"accessToken": token, "issuedAt": "now", "expiresIn": TOKEN_SECONDS}}
        login = self._auth(request)
        if path.startswith("/configs/notifications/events"):
            return self._events(request, path, login, body)
        if path == "/user/register":
            if login != ADMIN:
                raise YodleeError(401, "Y016", "admin token required")
            name = str((body or {}).get("user", {}).get("loginName") or "")
            if name in self.users:
                raise YodleeError(400, "Y013", "loginName already exists")
            self.users.add(name)
            return {"user": {"id": next(self._ids), "loginName": name}}
        if path.startswith("/providerAccounts/"):
            pa = self._pa(login, path.rsplit("/", 1)[1])
            if request.method == "DELETE":
                pa.deleted = True
                return None
            status = "INCORRECT_CREDENTIALS" if pa.login_required else "AVAILABLE_DATA_RETRIEVED"
            return {
                "providerAccount": [
                    {
                        "id": pa.id,
                        "providerName": "Dag Site",
                        "dataset": [{"name": "BASIC_AGG_DATA", "additionalStatus": status}],
                    }
                ]
            }
        q = request.query_params
        if path == "/accounts":
            pa = self._pa(login, q.get("providerAccountId", ""))
            include = set((q.get("include") or "").split(","))
            hidden = {"fullAccountNumbers", "holder"} - include
            return {
                "account": [{k: v for k, v in a.items() if k not in hidden} for a in pa.accounts]
            }
        if path == "/transactions":
            wanted = {int(x) for x in (q.get("accountId") or "").split(",") if x}
            since = q.get("fromDate") or "0000"
            mine = [
                t
                for pa in self.provider_accounts.values()
                if pa.login == login and not pa.deleted
                for t in pa.transactions
            ]
            found = sorted(
                (t for t in mine if t["accountId"] in wanted and t["date"] >= since),
                key=lambda t: t["id"],
            )
            skip, top = int(q.get("skip") or 0), int(q.get("top") or 500)
            return {"transaction": found[skip : skip + top]}
        raise YodleeError(404, "Y803", f"unknown path {path}")

    def _events(self, request: Request, path: str, login: str, body: Any) -> dict[str, Any] | None:
        if login != ADMIN:
            raise YodleeError(401, "Y016", "admin token required")
        if path == "/configs/notifications/events" and request.method == "GET":
            return {
                "event": [
                    {"name": n, "callbackUrl": url} for n, url in sorted(self.subscriptions.items())
                ]
            }
        name = path.rsplit("/", 1)[1]
        if name not in EVENT_NAMES:
            raise YodleeError(400, "Y800", "Invalid value for eventName")
        if request.method == "DELETE":
            self.subscriptions.pop(name, None)
            return None
        url = str(((body or {}).get("event") or {}).get("callbackUrl") or "")
        if not url.startswith(("http://", "https://")):
            raise YodleeError(400, "Y800", "Invalid value for callbackUrl")
        if request.method == "POST" and name in self.subscriptions:
            raise YodleeError(400, "Y803", "eventName already subscribed")
        if request.method == "PUT" and name not in self.subscriptions:
            raise YodleeError(400, "Y807", "Resource not found")
        self.subscriptions[name] = url
        return None

    def _pa(self, login: str, raw: str) -> ProviderAccount:
        pa = self.provider_accounts.get(int(raw)) if raw.isdigit() else None
        if pa is None or pa.login != login or pa.deleted:
            raise YodleeError(400, "Y807", "Resource not found")
        return pa
