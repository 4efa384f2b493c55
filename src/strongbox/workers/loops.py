"""Background loops run in the server process: outbox relay, recovery, key reaper.

Each loop claims its rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of
processes can run them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from strongbox.db.engine import checkpoint
from strongbox.events.relay import relay_once
from strongbox.idempotency import service as idem
from strongbox.runtime import Runtime
from strongbox.vault.tasks import vault_loop_once
from strongbox.workers.recovery import recover_once

log = logging.getLogger(__name__)

COMPLIANCE_PASS_SECONDS = 600.0
"""How often the compliance loop looks whether a run is due (the first look comes one such
interval after start, so that a restart or a short-lived test server runs no scan)."""
BUSY_PAUSE_SECONDS = 0.2
"""The least time between two passes of a loop that every commit wakes (outbox relay, webhook
fan-out). Under load a pass then takes everything committed in the last 0.2 s in one batch
instead of running once per commit or two: at 30-60 payments/s the short pauses (0.05 s,
0.02 s) cost about 2 ms of server CPU per payment in claim/cursor transactions. An event
reaches the bus and the webhook queue at most this much later; an idle loop still wakes at
once on the next commit."""


class Loop(threading.Thread):
    def __init__(
        self, name: str, fn: Callable[[], int], interval: float, min_pause: float = 0.0
    ) -> None:
        super().__init__(name=f"strongbox-{name}", daemon=True)
        self.short_name = name
        self.fn = fn
        self.interval = interval
        # At least this long between passes, so that work woken by every commit is batched.
        self.min_pause = min_pause
        self._stop_event = threading.Event()
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                did = self.fn()
            except Exception:
                log.exception("background loop %s failed", self.name)
                did = 0
            if self.min_pause and self._stop_event.wait(self.min_pause):
                break
            if did:
                continue  # more work may be waiting
            self._wake.wait(self.interval)
            self._wake.clear()


class Workers:
    def __init__(self, loops: list[Loop]) -> None:
        self.loops = loops

    def start(self) -> None:
        for loop in self.loops:
            loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        for loop in self.loops:
            loop.stop()
        for loop in self.loops:
            loop.join(timeout)


#: ``strongbox worker --only <group>,…``: which loops each group runs.
GROUPS: dict[str, tuple[str, ...]] = {
    "relay": ("outbox-relay",),
    "settlement": ("settlement-closer", "settlement-consumer"),
    "payouts": ("payouts",),
    "webhooks": ("webhook-fanout", "webhook-delivery", "webhook-inbound"),
    "recovery": ("recovery",),
    "ledger": ("ledger-expiry",),
    "audit": ("audit-",),
    "maintenance": (
        "idempotency-reaper",
        "sqlite-checkpoint",
        "vault",
        "integrity-seal",
        "fx-rates",
        "recon-nightly",
        "bank-webhooks",
        "bank-poll",
        "access-sweeper",
        "compliance",
    ),
}


def in_groups(loop_name: str, only: set[str]) -> bool:
    names = [n for g in only for n in GROUPS.get(g, ())]
    return any(loop_name == n or (n.endswith("-") and loop_name.startswith(n)) for n in names)


def build_workers(rt: Runtime, only: set[str] | None = None) -> Workers:
    """Every background loop, or those of the ``only`` groups (``GROUPS``)."""
    workers = _build_all(rt)
    if only is None:
        return workers
    unknown = only - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown worker group(s): {', '.join(sorted(unknown))}")
    return Workers([loop for loop in workers.loops if in_groups(loop.short_name, only)])


def _build_all(rt: Runtime) -> Workers:
    s = rt.settings
    interval = s.worker_interval_seconds
    relay = Loop(
        "outbox-relay",
        lambda: relay_once(rt.db, rt.bus, batch=500),
        interval,
        min_pause=BUSY_PAUSE_SECONDS,
    )
    rt.dispatcher.on_commit_of_events(relay.wake)
    recovery = Loop(
        "recovery",
        lambda: (
            recover_once(
                rt,
                min_age=timedelta(seconds=s.recovery_after_seconds),
                action_poll=timedelta(seconds=s.action_poll_seconds),
            )
            and 0
        ),
        max(interval, 1.0),
    )

    def reap() -> int:
        with rt.db.unit_of_work() as uow:
            n = idem.reap(
                uow,
                ttl=timedelta(hours=s.idempotency_ttl_hours),
                lock_timeout=timedelta(seconds=s.idempotency_lock_timeout_seconds),
            )
            uow.commit()
        return 0 if n < 1000 else n

    reaper = Loop("idempotency-reaper", reap, 60.0)
    loops = [relay, recovery, reaper]
    from strongbox.workers.audit import audit_loops

    loops += audit_loops(rt)

    def expire_ledger() -> int:
        with rt.db.unit_of_work() as uow:
            n = rt.ledger.expire_due(uow)
            uow.commit()
        return n

    loops.append(Loop("ledger-expiry", expire_ledger, s.ledger_expiry_interval_seconds))
    if rt.db.is_sqlite:
        # The WAL copied back in the background (a passive checkpoint blocks no writer), so
        # that no request's commit pays for it (db/engine.py).
        loops.append(Loop("sqlite-checkpoint", lambda: checkpoint(rt.db.engine) and 0, 0.5))
    # Vault: destroy CVCs past their TTL, re-encrypt onto the active key after a rotation.
    loops.append(
        Loop(
            "vault",
            lambda: vault_loop_once(rt.db, rt.vault.service, rt.vault.keys),
            max(interval, 5.0),
        )
    )
    if s.recon_nightly_fetch:  # issue 25: yesterday's settlement data, fetched and matched
        from strongbox.reconciliation.adyen_reports import adyen_reports_once
        from strongbox.reconciliation.tasks import FetchPolicy, nightly_once

        policy = FetchPolicy(
            attempts=s.recon_fetch_attempts, backoff_seconds=s.recon_fetch_backoff_seconds
        )

        def recon_fetch() -> int:
            now = rt.db.clock.now()
            fetched = nightly_once(
                rt.db,
                rt.routing,
                rt.connectors,
                now=now,
                after_hour=s.recon_fetch_after_hour,
                policy=policy,
            )
            # Adyen's reports as its REPORT_AVAILABLE notifications announce them.
            return fetched + adyen_reports_once(
                rt.db, rt.routing, rt.connectors, now=now, policy=policy
            )

        loops.append(Loop("recon-nightly", recon_fetch, 600.0))
    from strongbox.reconciliation import integrity  # issue 25: nightly table seals

    seals = integrity.sink_for(s.data_dir, s.integrity_seals_file)

    def seal_tables() -> int:
        integrity.seal(rt.db, rt.audit.signer, seals, due_hours=s.integrity_seal_hours)
        return 0

    loops.append(Loop("integrity-seal", seal_tables, 300.0))
    if s.fx_ecb_url or s.fx_ecb_file:  # issue 25: reference rates on a schedule
        from strongbox.fx import service as fx
        from strongbox.fx.providers import EcbFile, EcbUrl, FetchFailed, RateProvider

        provider: RateProvider = (
            EcbFile(s.fx_ecb_file) if s.fx_ecb_file else EcbUrl(str(s.fx_ecb_url))
        )

        def load_rates() -> int:
            try:
                fx.load(rt.db, provider, rt.fx)
            except (FetchFailed, ValueError) as exc:
                log.warning("exchange rates not loaded: %s", exc)
            return 0

        loops.append(Loop("fx-rates", load_rates, s.fx_refresh_minutes * 60))
    if rt.banking is not None:  # issue 20: provider webhooks applied, the daily fallback poll
        from strongbox.banking.tasks import poll_once, process_webhooks

        banking = rt.banking
        loops.append(Loop("bank-webhooks", lambda: process_webhooks(rt.db, banking), interval))
        loops.append(
            Loop("bank-poll", lambda: poll_once(rt.db, banking), s.bank_poll_interval_seconds)
        )
    from strongbox.workers.access import access_loops  # issue 17: keys and grants expire

    loops += access_loops(rt)
    from strongbox.workers.compliance import daily_once  # issue 18: PCI DSS self-checks

    loops.append(Loop("compliance", daily_once(rt), COMPLIANCE_PASS_SECONDS))
    from strongbox.workers.webhooks import build_webhook_loops  # issue 7

    loops += build_webhook_loops(rt)
    from strongbox.workers.settlement import settlement_loops  # issue 19

    loops += settlement_loops(rt)
    return Workers(loops)
