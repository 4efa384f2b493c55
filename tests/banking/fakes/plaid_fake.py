"""A local fake of Plaid's API, from its documented wire format.

JSON POSTs authenticated by ``PLAID-CLIENT-ID``/``PLAID-SECRET`` headers (or ``client_id``/
``secret`` in the body); errors are Plaid's body (``error_type``, ``error_code``,
``error_message``, ``display_message``, ``request_id``) with its HTTP status (400, 429, 500).

Sandbox behaviours: Link with ``user_good``/``pass_good`` succeeds (``fake_link_login``, the
part of Link that runs in the browser), other credentials get ``INVALID_CREDENTIALS``;
``/sandbox/public_token/create`` skips Link; ``/sandbox/item/reset_login`` puts an item in
``ITEM_LOGIN_REQUIRED`` (and sends the ``ITEM``/``ERROR`` webhook); ``/sandbox/item/
fire_webhook`` sends ``SYNC_UPDATES_AVAILABLE``; ``rate_limit(n)`` answers the next n calls
with 429 ``RATE_LIMIT_EXCEEDED``; ``fail(n)`` with 500 ``INTERNAL_SERVER_ERROR``.

``/transactions/sync`` keeps a change log per item; a cursor is a position in it;
``mutations_during_pagination = n`` makes the next n calls past a first page answer
``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION``. Changes
(``add_transactions``, ``modify_transaction``, ``remove_transaction``) send
``SYNC_UPDATES_AVAILABLE``, but only after the item's first sync, as Plaid does.

Webhooks are signed exactly as Plaid signs them: an ES256 JWT in ``Plaid-Verification`` whose
header names the key (``kid``) and whose claims are ``iat`` and ``request_body_sha256``; the
public key is served as a JWK by ``/webhook_verification_key/get``. They are queued in
``outbox`` and sent by ``deliver(post)``. ``calls`` counts requests per endpoint.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jwt.algorithms import ECAlgorithm

CLIENT_ID = "fake_client_id"
SECRET = "fake_secret"  # pragma: allowlist secret
ROUTING = "011401533"


@dataclass
class FakeItem:
    item_id: str
    access_token: str
    webhook: str | None
    accounts: list[dict[str, Any]]
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    synced: bool = False
    login_required: bool = False
    removed: bool = False


@dataclass
class Webhook:
    url: str
    body: bytes
    headers: dict[str, str]


def _accounts(seed: str) -> list[dict[str, Any]]:
    return [
        {
            "account_id": f"{seed}-chk",
            "mask": "0000",
            "name": "Plaid Checking",
            "official_name": "Plaid Gold Standard 0% Interest Checking",
            "type": "depository",
            "subtype": "checking",
            "balances": {
                "available": 100,
                "current": 110,
                "limit": None,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
            },
            "owners": [
                {
                    "names": ["Alberta Bobbeth Charleson"],
                    "emails": [{"data": "accountholder0@example.com", "primary": True}],
                    "phone_numbers": [{"data": "1112223333", "primary": True}],
                }
            ],
            "ach": {"account": "1111222233330000", "routing": ROUTING},
        },
        {
            "account_id": f"{seed}-sav",
            "mask": "1111",
            "name": "Plaid Saving",
            "official_name": "Plaid Silver Standard 0.1% Interest Saving",
            "type": "depository",
            "subtype": "savings",
            "balances": {
                "available": 200,
                "current": 210,
                "limit": None,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
            },
            "owners": [{"names": ["Alberta Bobbeth Charleson"], "emails": [], "phone_numbers": []}],
            "ach": {"account": "1111222233331111", "routing": ROUTING},
        },
    ]


class PlaidError(Exception):
    def __init__(self, status: int, type_: str, code: str, message: str) -> None:
        self.status, self.type_, self.code, self.message = status, type_, code, message


class PlaidFake:
    def __init__(self) -> None:
        self.app = FastAPI()
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.items: dict[str, FakeItem] = {}
        self.by_token: dict[str, str] = {}
        self.link_tokens: dict[str, dict[str, Any]] = {}
        self.public_tokens: dict[str, dict[str, Any]] = {}
        self.outbox: list[Webhook] = []
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "kid-" + secrets.token_hex(8)
        self.extra_keys: dict[str, Any] = {}
        self._rate_limited = 0
        self._failing = 0
        self.fail_paths: Counter[str] = Counter()
        # The next n /transactions/sync calls past a first page answer
        # TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION (the data changed under the paging).
        self.mutations_during_pagination = 0
        self.clock: Callable[[], float] = time.time
        self.app.add_api_route("/{path:path}", self._handle, methods=["POST"])

    # ---------------------------------------------------------------- test helpers

    def rate_limit(self, n: int = 1) -> None:
        self._rate_limited += n

    def fail(self, n: int = 1, path: str | None = None) -> None:
        """The next n calls (to ``path`` only, if given) answer 500 ``INTERNAL_SERVER_ERROR``."""
        if path is None:
            self._failing += n
        else:
            self.fail_paths[path] += n

    def item_of(self, access_token: str) -> FakeItem:
        return self.items[self.by_token[access_token]]

    def fake_link_login(
        self, link_token: str, username: str, password: str, institution_id: str = "ins_109508"
    ) -> str:
        """What Link does in the browser: log in at the bank, hand back a public token."""
        with self.lock:
            lt = self.link_tokens[link_token]
            if (username, password) != ("user_good", "pass_good"):
                raise PlaidError(400, "ITEM_ERROR", "INVALID_CREDENTIALS", "bad login")
            if lt.get("access_token"):  # update mode: the login works again
                item = self.item_of(lt["access_token"])
                item.login_required = False
                self._queue(item, "ITEM", "LOGIN_REPAIRED", {})
                return self._public_token(item.item_id)
            return self._new_item(lt.get("webhook"), institution_id)

    def add_transactions(self, item_id: str, txns: list[dict[str, Any]]) -> None:
        with self.lock:
            item = self.items[item_id]
            for t in txns:
                item.log.append(("added", self._txn(item, t)))
            self._sync_webhook(item)

    def modify_transaction(self, item_id: str, txn: dict[str, Any]) -> None:
        with self.lock:
            item = self.items[item_id]
            item.log.append(("modified", self._txn(item, txn)))
            self._sync_webhook(item)

    def remove_transaction(self, item_id: str, transaction_id: str) -> None:
        with self.lock:
            item = self.items[item_id]
            item.log.append(("removed", {"transaction_id": transaction_id}))
            self._sync_webhook(item)

    def sign(
        self,
        body: bytes,
        *,
        iat: float | None = None,
        key: Any = None,
        kid: str | None = None,
        alg: str = "ES256",
    ) -> str:
        claims = {
            "iat": int(self.clock() if iat is None else iat),
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, key or self.key, algorithm=alg, headers={"kid": kid or self.kid})

    def deliver(self, post: Callable[[str, bytes, dict[str, str]], Any]) -> list[Any]:
        with self.lock:
            pending, self.outbox = self.outbox, []
        return [post(w.url, w.body, w.headers) for w in pending]

    # ---------------------------------------------------------------- internals

    def _public_token(self, item_id: str) -> str:
        token = "public-sandbox-" + secrets.token_hex(12)
        self.public_tokens[token] = {"item_id": item_id, "expires": self.clock() + 1800}
        return token

    def _new_item(self, webhook: str | None, institution_id: str) -> str:
        seed = secrets.token_hex(6)
        item = FakeItem(
            item_id="item-" + seed,
            access_token="access-sandbox-" + secrets.token_hex(16),
            webhook=webhook,
            accounts=_accounts(seed),
        )
        self.items[item.item_id] = item
        self.by_token[item.access_token] = item.item_id
        chk = item.accounts[0]["account_id"]
        for i, (amount, name) in enumerate(((12.5, "Uber"), (-500, "Payroll"), (89.4, "Tectra"))):
            item.log.append(
                (
                    "added",
                    self._txn(
                        item,
                        {
                            "transaction_id": f"{seed}-t{i}",
                            "account_id": chk,
                            "amount": amount,
                            "name": name,
                        },
                    ),
                )
            )
        return self._public_token(item.item_id)

    def _txn(self, item: FakeItem, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "transaction_id": t.get("transaction_id") or "txn-" + secrets.token_hex(8),
            "account_id": t.get("account_id") or item.accounts[0]["account_id"],
            "amount": t.get("amount", 1.0),
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
            "date": t.get("date", date(2026, 12, 1).isoformat()),
            "authorized_date": None,
            "name": t.get("name", "Purchase"),
            "merchant_name": t.get("merchant_name"),
            "pending": t.get("pending", False),
            "pending_transaction_id": None,
            "payment_channel": "online",
        }

    def _sync_webhook(self, item: FakeItem) -> None:
        if item.synced:
            self._queue(
                item,
                "TRANSACTIONS",
                "SYNC_UPDATES_AVAILABLE",
                {"initial_update_complete": True, "historical_update_complete": True},
            )

    def _queue(self, item: FakeItem, type_: str, code: str, extra: dict[str, Any]) -> None:
        if not item.webhook:
            return
        payload = {
            "webhook_type": type_,
            "webhook_code": code,
            "item_id": item.item_id,
            "environment": "sandbox",
            **extra,
        }
        body = json.dumps(payload).encode()
        self.outbox.append(
            Webhook(
                item.webhook,
                body,
                {"Content-Type": "application/json", "Plaid-Verification": self.sign(body)},
            )
        )

    def _item(self, body: dict[str, Any], *, login_ok: bool = False) -> FakeItem:
        token = body.get("access_token")
        item_id = self.by_token.get(str(token))
        if item_id is None or self.items[item_id].removed:
            raise PlaidError(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "bad access token")
        item = self.items[item_id]
        if item.login_required and not login_ok:
            raise PlaidError(
                400,
                "ITEM_ERROR",
                "ITEM_LOGIN_REQUIRED",
                "the login details of this item have changed",
            )
        return item

    def _item_obj(self, item: FakeItem) -> dict[str, Any]:
        return {
            "item_id": item.item_id,
            "institution_id": "ins_109508",
            "webhook": item.webhook,
            "error": None,
            "available_products": [],
            "billed_products": ["transactions"],
        }

    async def _handle(self, path: str, request: Request) -> JSONResponse:
        raw = await request.body()
        rid = secrets.token_hex(6)
        try:
            body = json.loads(raw or b"{}")
            with self.lock:
                self.calls["/" + path] += 1
                if self._rate_limited:
                    self._rate_limited -= 1
                    raise PlaidError(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", "rate limited")
                if self._failing or self.fail_paths["/" + path]:
                    if self.fail_paths["/" + path]:
                        self.fail_paths["/" + path] -= 1
                    else:
                        self._failing -= 1
                    raise PlaidError(500, "API_ERROR", "INTERNAL_SERVER_ERROR", "try again")
                cid = request.headers.get("plaid-client-id") or body.get("client_id")
                sec = request.headers.get("plaid-secret") or body.get("secret")
                if (cid, sec) != (CLIENT_ID, SECRET):
                    raise PlaidError(400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid keys")
                out = self._route("/" + path, body)
        except PlaidError as e:
            return JSONResponse(
                {
                    "error_type": e.type_,
                    "error_code": e.code,
                    "error_message": e.message,
                    "display_message": None,
                    "request_id": rid,
                },
                status_code=e.status,
            )
        out["request_id"] = rid
        return JSONResponse(out)

    def _route(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/link/token/create":
            for f in ("client_name", "language", "country_codes", "user"):
                if f not in body:
                    raise PlaidError(400, "INVALID_REQUEST", "MISSING_FIELDS", f"missing {f}")
            if "access_token" in body and body["access_token"] not in self.by_token:
                raise PlaidError(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "bad access token")
            token = "link-sandbox-" + secrets.token_hex(12)
            self.link_tokens[token] = body
            exp = datetime.now(UTC) + timedelta(hours=4)
            return {"link_token": token, "expiration": exp.isoformat().replace("+00:00", "Z")}
        if path == "/sandbox/public_token/create":
            webhook = (body.get("options") or {}).get("webhook")
            return {"public_token": self._new_item(webhook, body.get("institution_id", ""))}
        if path == "/item/public_token/exchange":
            pt = self.public_tokens.pop(str(body.get("public_token")), None)
            if pt is None or pt["expires"] < self.clock():
                raise PlaidError(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "bad public token")
            item = self.items[pt["item_id"]]
            return {"access_token": item.access_token, "item_id": item.item_id}
        if path == "/webhook_verification_key/get":
            kid = body.get("key_id")
            if kid == self.kid:
                return {"key": self._jwk(self.key, self.kid)}
            if kid in self.extra_keys:
                return {"key": self._jwk(self.extra_keys[kid], kid)}
            raise PlaidError(400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID", "no key")
        if path == "/sandbox/item/reset_login":
            item = self._item(body)
            item.login_required = True
            self._queue(
                item,
                "ITEM",
                "ERROR",
                {
                    "error": {
                        "error_type": "ITEM_ERROR",
                        "error_code": "ITEM_LOGIN_REQUIRED",
                        "error_message": "the login details of this item have changed",
                    }
                },
            )
            return {"reset_login": True}
        if path == "/sandbox/item/fire_webhook":
            item = self._item(body)
            self._queue(item, "TRANSACTIONS", str(body.get("webhook_code")), {})
            return {"webhook_fired": True}
        if path == "/item/remove":  # works whatever state the login is in
            item = self._item(body, login_ok=True)
            item.removed = True
            return {"removed": True}
        if path == "/institutions/get_by_id":
            if body.get("institution_id") != "ins_109508":
                raise PlaidError(400, "INVALID_INPUT", "INVALID_INSTITUTION", "no such institution")
            return {
                "institution": {
                    "institution_id": "ins_109508",
                    "name": "First Platypus Bank",
                    "country_codes": ["US"],
                    "products": ["auth", "balance", "identity", "transactions"],
                    "routing_numbers": [ROUTING],
                    "oauth": False,
                }
            }
        if path == "/item/get":  # answers in any state, with the item's error
            item = self._item(body, login_ok=True)
            return {"item": self._item_obj(item), "status": None}
        item = self._item(body)
        if path in ("/accounts/get", "/accounts/balance/get"):
            accts = [
                {k: v for k, v in a.items() if k not in ("owners", "ach")} for a in item.accounts
            ]
            return {"accounts": accts, "item": self._item_obj(item)}
        if path == "/auth/get":
            accts = [
                {k: v for k, v in a.items() if k not in ("owners", "ach")} for a in item.accounts
            ]
            ach = [
                {"account_id": a["account_id"], **a["ach"], "wire_routing": None}
                for a in item.accounts
            ]
            return {
                "accounts": accts,
                "numbers": {"ach": ach, "eft": [], "international": [], "bacs": []},
                "item": self._item_obj(item),
            }
        if path == "/identity/get":
            accts = [{k: v for k, v in a.items() if k != "ach"} for a in item.accounts]
            return {"accounts": accts, "item": self._item_obj(item)}
        if path == "/transactions/sync":
            if body.get("cursor") and self.mutations_during_pagination:
                self.mutations_during_pagination -= 1
                raise PlaidError(
                    400,
                    "TRANSACTIONS_ERROR",
                    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                    "underlying transaction data changed since the last page was fetched",
                )
            item.synced = True
            start = int(body["cursor"]) if body.get("cursor") else 0
            count = int(body.get("count") or 100)
            chunk = item.log[start : start + count]
            end = start + len(chunk)
            return {
                "added": [t for k, t in chunk if k == "added"],
                "modified": [t for k, t in chunk if k == "modified"],
                "removed": [t for k, t in chunk if k == "removed"],
                "next_cursor": str(end),
                "has_more": end < len(item.log),
                "accounts": [],
                "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
            }
        raise PlaidError(404, "INVALID_REQUEST", "NOT_FOUND", f"unknown endpoint {path}")

    @staticmethod
    def _jwk(key: Any, kid: str) -> dict[str, Any]:
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        return {
            **jwk,
            "alg": "ES256",
            "kid": kid,
            "use": "sig",
            "created_at": 1560466143,
            "expired_at": None,
        }
