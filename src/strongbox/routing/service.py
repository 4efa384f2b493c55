"""Connector accounts and routing configuration: the rules around the pure ``engine.decide``.

A connector account is a merchant's credentials for one connector, sealed through the
runtime's ``Sealer`` (aad ``merchant_id|account_id``, so a ciphertext copied to another row
does not open). The API only ever shows redacted hints. Changes raise internal events
(``strongbox.connector_account.*``, ``strongbox.routing.updated``) for the audit log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from strongbox.connectors.base import Capability, Credentials
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.core.errors import InvalidRequestError, ResourceMissingError, param_path
from strongbox.core.ids import new_id
from strongbox.core.sealing import Sealer
from strongbox.core.secret import Secret
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.routing import repository as repo
from strongbox.routing.config import CompiledConfig, RoutingConfigIn, compile_config
from strongbox.routing.engine import Candidate, PaymentFacts, RoutingDecision, decide
from strongbox.routing.health import ConnectorHealth
from strongbox.routing.models import ConnectorAccount, RoutingConfig

MAX_SECRET_LENGTH = 4096
CONFIG_CACHE_SECONDS = 1.0
"""How long one process reuses a merchant's routing configuration (or its absence) without
reading it again. A change made through this process applies to the next payment; one made
through another process applies within this time."""


def hint(value: str) -> str:
    """A redacted hint: a short non-secret prefix (``sk_test_``) and the last four characters."""
    if len(value) < 16:
        return "…"
    cut = value.rfind("_", 0, 9)
    prefix = value[: cut + 1] if cut > 0 else ""
    return f"{prefix}…{value[-4:]}"


def render_account(account: ConnectorAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "object": "connector_account",
        "connector": account.connector,
        "label": account.label,
        "status": account.status,
        "settings": dict(account.settings or {}),
        "credentials": dict(account.credential_hints or {}),
        "created": int(account.created.timestamp()),
        "updated": int(account.updated.timestamp()),
    }


def render_config(row: RoutingConfig | None) -> dict[str, Any]:
    if row is None:
        return {"object": "routing_config", "rules": [], "default": None, "version": 0}
    return {"object": "routing_config", **row.config, "version": row.version}


@dataclass(frozen=True, slots=True)
class Route:
    """The connector chosen for one attempt, with the decision it came from."""

    connector: str
    account_id: str | None
    decision: RoutingDecision
    position: int
    connectors: tuple[str, ...]  # the connector of each ranked account, for failover

    @property
    def reason(self) -> str:
        target = self.account_id or self.connector
        return f"{target} (#{self.position + 1}) via {self.decision.reason}"[:200]


class RoutingService:
    def __init__(
        self,
        connectors: ConnectorRegistry,
        sealer: Sealer,
        health: ConnectorHealth,
        *,
        default_connector: str = "simulator",
        config_cache_seconds: float = CONFIG_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connectors = connectors
        self.sealer = sealer
        self.health = health
        self.default_connector = default_connector
        self.config_cache_seconds = config_cache_seconds
        self.monotonic = monotonic  # the cache's clock (tests pass their own)
        self._compiled: dict[tuple[str, int], CompiledConfig] = {}
        self._lock = threading.Lock()
        # merchant -> (valid until, (version, config) or None). ``_epoch`` counts changes (of
        # any merchant): a read that began before a change does not store what it read, so an
        # old value is never cached after a change. One counter, not one per merchant.
        self._configs: dict[str, tuple[float, tuple[int, dict[str, Any]] | None]] = {}
        self._epoch = 0

    # ------------------------------------------------------------------ accounts

    def _check_fields(
        self,
        connector: str,
        credentials: dict[str, str] | None,
        settings: dict[str, str] | None,
        *,
        partial: bool,
    ) -> None:
        names = self.connectors.names()
        if connector not in names:
            raise InvalidRequestError(
                f"Unknown connector {connector!r}; available: {', '.join(names)}.",
                param="connector",
                code="parameter_invalid",
            )
        spec = self.connectors.get(connector)
        for name, value in (credentials or {}).items():
            if name not in spec.credential_fields:
                raise InvalidRequestError(
                    f"The {connector} connector takes no credential {name!r}; it takes: "
                    f"{', '.join(spec.credential_fields) or 'none'}.",
                    param=f"credentials[{name}]",
                    code="parameter_unknown",
                )
            if not value or len(value) > MAX_SECRET_LENGTH:
                raise InvalidRequestError(
                    f"credentials[{name}] must be 1 to {MAX_SECRET_LENGTH} characters.",
                    param=f"credentials[{name}]",
                    code="parameter_invalid",
                )
        for name, value in (settings or {}).items():
            if name not in spec.setting_fields:
                raise InvalidRequestError(
                    f"The {connector} connector takes no setting {name!r}; it takes: "
                    f"{', '.join(spec.setting_fields) or 'none'}.",
                    param=f"settings[{name}]",
                    code="parameter_unknown",
                )
            if len(value) > 500:
                raise InvalidRequestError(
                    f"settings[{name}] must be at most 500 characters.",
                    param=f"settings[{name}]",
                    code="parameter_invalid",
                )
        if partial:
            return
        for name in spec.credential_fields:
            if not (credentials or {}).get(name):
                raise InvalidRequestError(
                    f"Missing required param: credentials[{name}].",
                    param=f"credentials[{name}]",
                    code="parameter_missing",
                )
        for name in spec.required_settings:
            if not (settings or {}).get(name):
                raise InvalidRequestError(
                    f"Missing required param: settings[{name}].",
                    param=f"settings[{name}]",
                    code="parameter_missing",
                )

    def _seal(self, merchant_id: str, account_id: str, credentials: dict[str, str]) -> bytes:
        return self.sealer.seal(orjson.dumps(credentials), f"{merchant_id}|{account_id}".encode())

    def create_account(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        *,
        connector: str,
        label: str | None,
        credentials: dict[str, str],
        settings: dict[str, str],
    ) -> ConnectorAccount:
        self._check_fields(connector, credentials, settings, partial=False)
        now = uow.clock.now()
        account_id = new_id("connector_account")
        account = ConnectorAccount(
            id=account_id,
            merchant_id=ctx.merchant_id,
            connector=connector,
            label=label or None,
            sealed_credentials=self._seal(ctx.merchant_id, account_id, credentials),
            credential_hints={k: hint(v) for k, v in sorted(credentials.items())},
            settings=dict(settings),
            status="enabled",
            created=now,
            updated=now,
        )
        uow.session.add(account)
        uow.flush()
        raise_event(
            uow,
            ctx,
            "strongbox.connector_account.created",
            "connector_account",
            account.id,
            render_account(account),
        )
        return account

    def retrieve_account(
        self, uow: UnitOfWork, ctx: RequestContext, account_id: str
    ) -> ConnectorAccount:
        account = repo.get_account(uow.session, ctx.merchant_id, account_id)
        if account is None:
            raise ResourceMissingError(f"No such connector_account: '{account_id}'", param="id")
        return account

    def list_accounts(
        self, uow: UnitOfWork, ctx: RequestContext, page: PageRequest
    ) -> Page[ConnectorAccount]:
        return repo.list_accounts(uow.session, ctx.merchant_id, page)

    def update_account(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        account_id: str,
        *,
        label: str | None = None,
        status: str | None = None,
        credentials: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
    ) -> ConnectorAccount:
        account = self.retrieve_account(uow, ctx, account_id)
        self._check_fields(account.connector, credentials, settings, partial=True)
        if status is not None:
            if status not in ("enabled", "disabled"):
                raise InvalidRequestError(
                    "status must be one of: enabled, disabled.",
                    param="status",
                    code="parameter_invalid",
                )
            account.status = status
        if label is not None:
            account.label = label or None
        if credentials:
            merged = self._unseal(account) | credentials
            account.sealed_credentials = self._seal(account.merchant_id, account.id, merged)
            account.credential_hints = {k: hint(v) for k, v in sorted(merged.items())}
        if settings is not None:
            account.settings = {**(account.settings or {}), **settings}
        account.updated = uow.clock.now()
        uow.flush()
        raise_event(
            uow,
            ctx,
            "strongbox.connector_account.updated",
            "connector_account",
            account.id,
            render_account(account),
        )
        return account

    def delete_account(
        self, uow: UnitOfWork, ctx: RequestContext, account_id: str
    ) -> ConnectorAccount:
        account = self.retrieve_account(uow, ctx, account_id)
        row = repo.get_config(uow.session, ctx.merchant_id)
        if (
            row is not None
            and account.id in RoutingConfigIn.model_validate(row.config).connector_ids()
        ):
            raise InvalidRequestError(
                f"The connector account {account.id} is used by the routing configuration; "
                "remove it from there first.",
                param="id",
                code="resource_in_use",
            )
        account.status = "deleted"
        account.sealed_credentials = self._seal(account.merchant_id, account.id, {})
        account.updated = uow.clock.now()
        uow.flush()
        raise_event(
            uow,
            ctx,
            "strongbox.connector_account.deleted",
            "connector_account",
            account.id,
            render_account(account),
        )
        return account

    def _unseal(self, account: ConnectorAccount) -> dict[str, str]:
        raw = self.sealer.unseal(
            account.sealed_credentials, f"{account.merchant_id}|{account.id}".encode()
        )
        data = orjson.loads(raw)
        assert isinstance(data, dict)
        return {str(k): str(v) for k, v in data.items()}

    def credentials(self, session: Session, merchant_id: str, account_id: str) -> Credentials:
        """The account's credentials for one gateway call (unsealed here, never stored)."""
        account = repo.get_account(session, merchant_id, account_id)
        if account is None:
            # Deleted since the attempt began: the call fails as a terminal error.
            return Credentials(account_id=account_id)
        return self.account_credentials(account)

    def account_credentials(self, account: ConnectorAccount) -> Credentials:
        """An account row's credentials for one gateway call (unsealed here, never stored)."""
        return Credentials(
            secrets={k: Secret(v) for k, v in self._unseal(account).items()},
            settings={str(k): str(v) for k, v in (account.settings or {}).items()},
            account_id=account.id,
        )

    # ------------------------------------------------------------------ configuration

    def get_config(self, uow: UnitOfWork, ctx: RequestContext) -> RoutingConfig | None:
        return repo.get_config(uow.session, ctx.merchant_id)

    def update_config(
        self, uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]
    ) -> RoutingConfig:
        try:
            config = RoutingConfigIn.model_validate(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidRequestError(
                f"Invalid routing configuration: {err['msg']}.",
                param=param_path(err["loc"]) or None,
                code="parameter_invalid",
            ) from None
        ids = sorted(config.connector_ids())
        found = repo.accounts_by_id(uow.session, ctx.merchant_id, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise InvalidRequestError(
                f"No such connector_account: '{missing[0]}'",
                param="rules" if config.rules else "default",
                code="resource_missing",
            )
        row = repo.get_config(uow.session, ctx.merchant_id)
        data = config.model_dump(mode="json")
        now = uow.clock.now()
        if row is None:
            row = RoutingConfig(merchant_id=ctx.merchant_id, config=data, version=1, updated=now)
            uow.session.add(row)
        else:
            row.config = data
            row.version += 1
            row.updated = now
        uow.flush()
        merchant_id = ctx.merchant_id
        self._forget_config(merchant_id)
        uow.after_commit(lambda: self._forget_config(merchant_id))
        raise_event(
            uow,
            ctx,
            "strongbox.routing.updated",
            "routing_config",
            ctx.merchant_id,
            render_config(row),
        )
        return row

    def _forget_config(self, merchant_id: str) -> None:
        with self._lock:
            self._configs.pop(merchant_id, None)
            self._epoch += 1

    def _config(self, session: Session, merchant_id: str) -> tuple[int, dict[str, Any]] | None:
        """The merchant's (version, configuration), or None, cached for a short time."""
        now = self.monotonic()
        hit = self._configs.get(merchant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        epoch = self._epoch
        row = repo.get_config(session, merchant_id)
        value = None if row is None else (row.version, dict(row.config))
        with self._lock:
            if self._epoch == epoch:
                if len(self._configs) > 10_000:
                    self._configs.clear()
                self._configs[merchant_id] = (now + self.config_cache_seconds, value)
        return value

    def _compiled_for(
        self, merchant_id: str, version: int, config: dict[str, Any]
    ) -> CompiledConfig:
        key = (merchant_id, version)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = compile_config(RoutingConfigIn.model_validate(config))
            with self._lock:
                if len(self._compiled) > 10_000:
                    self._compiled.clear()
                self._compiled[key] = compiled
        return compiled

    # ------------------------------------------------------------------ routing

    def route(self, session: Session, merchant_id: str, facts: PaymentFacts) -> list[Route]:
        """Every usable connector for this payment, best first (at least one)."""
        snapshot = self._config(session, merchant_id)
        if snapshot is None:
            decision = RoutingDecision(
                ranked=(), rule="none", reason="no routing configuration: default connector"
            )
            return [Route(self.default_connector, None, decision, 0, ())]
        compiled = self._compiled_for(merchant_id, *snapshot)
        accounts = repo.accounts_by_id(session, merchant_id, list(compiled.connector_ids))
        names = set(self.connectors.names())
        candidates = {
            a.id: Candidate(
                id=a.id,
                connector=a.connector,
                capabilities=self._capabilities(a.connector),
                enabled=a.status == "enabled" and a.connector in names,
            )
            for a in accounts.values()
        }
        open_circuits = self.health.open_targets(merchant_id, candidates)
        decision = decide(facts, compiled, candidates, open_circuits)
        if not decision.ranked:
            raise InvalidRequestError(
                "No connector can process this payment under your routing configuration "
                f"({decision.reason}).",
                code="routing_no_connector",
            )
        connectors = tuple(candidates[a].connector for a in decision.ranked)
        return [
            Route(candidates[a].connector, a, decision, i, connectors)
            for i, a in enumerate(decision.ranked)
        ]

    def token_account(
        self, session: Session, merchant_id: str, account_id: str, *, param: str
    ) -> ConnectorAccount:
        """The enabled connector account whose gateway holds a payment method's token."""
        account = repo.get_account(session, merchant_id, account_id)
        if account is None:
            raise ResourceMissingError(f"No such connector_account: '{account_id}'", param=param)
        if account.status != "enabled":
            raise InvalidRequestError(
                f"The connector account {account.id} is disabled; enable it to use its "
                "gateway's tokens.",
                param=param,
                code="connector_account_disabled",
            )
        if Capability.GATEWAY_TOKEN not in self._capabilities(account.connector):
            accepting = [
                n
                for n in self.connectors.names()
                if Capability.GATEWAY_TOKEN in self._capabilities(n)
            ]
            raise InvalidRequestError(
                f"The {account.connector} connector does not accept gateway tokens; "
                f"connectors that do: {', '.join(accepting) or 'none'}.",
                param=param,
                code="parameter_invalid",
            )
        return account

    def pinned(
        self, session: Session, merchant_id: str, account_id: str, *, manual_capture: bool
    ) -> Route:
        """The only route for a payment method held by one account's gateway: that account,
        with no failover (no other gateway can use the token)."""
        account = self.token_account(session, merchant_id, account_id, param="payment_method")
        if manual_capture and Capability.MANUAL_CAPTURE not in self._capabilities(
            account.connector
        ):
            raise InvalidRequestError(
                f"The {account.connector} connector, which holds this PaymentMethod's token, "
                "cannot capture manually: use capture_method=automatic.",
                param="capture_method",
                code="parameter_invalid",
            )
        decision = RoutingDecision(
            ranked=(account.id,),
            rule="payment_method",
            reason=(
                f"the payment method is a {account.connector} token of {account.id}: "
                "only that account can use it, no failover"
            ),
        )
        return Route(account.connector, account.id, decision, 0, (account.connector,))

    def _capabilities(self, connector: str) -> Capability:
        try:
            return self.connectors.get(connector).capabilities
        except KeyError:
            return Capability.NONE
