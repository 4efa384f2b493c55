"""Leases: whoever is calling a gateway for an attempt holds it, so recovery never resolves
an attempt whose call is still in flight, however slow the call.

An attempt is written with ``lease_until`` = now + the lease (``STRONGBOX_ATTEMPT_LEASE_SECONDS``);
recovery claims an attempt by setting a lease of its own. While the call runs, the holder's
``LeaseKeeper`` renews every lease it holds in one UPDATE every third of the lease. Recording
the call's outcome clears the lease. If the holder dies, its renewals stop and the lease runs
out: only then may recovery take the attempt over. A call that ends within a third of the
lease (almost every call) costs no renewal at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from strongbox.db.uow import Database
from strongbox.payments import repository as repo
from strongbox.payments.steps import GatewayCall

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews, from one background thread, the leases of this process's calls in flight."""

    def __init__(self, db: Database, seconds: float) -> None:
        self._db = db
        self.seconds = seconds
        self._held: dict[str, int] = {}  # attempt id -> how many holders (a chain re-holds)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def hold(self, call: GatewayCall) -> Iterator[None]:
        """Keep ``call``'s attempt held while the block (the gateway call) runs."""
        with self._cond:
            self._held[call.attempt_id] = self._held.get(call.attempt_id, 0) + 1
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="strongbox-leases", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._cond:
                left = self._held.pop(call.attempt_id, 1) - 1
                if left > 0:
                    self._held[call.attempt_id] = left

    def held(self) -> list[str]:
        with self._cond:
            return list(self._held)

    def renew_now(self) -> int:
        """Renew every held lease (the background thread does this every third of a lease)."""
        ids = self.held()
        if not ids:
            return 0
        with self._db.unit_of_work() as uow:
            n = repo.renew_leases(
                uow.session, ids, uow.clock.now() + timedelta(seconds=self.seconds)
            )
            uow.commit()
        return n

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                self._cond.wait(self.seconds / 3)
                if self._closed:
                    return
            try:
                self.renew_now()
            except Exception:  # the next pass retries; a lost lease lets recovery in
                log.exception("could not renew the leases of gateway calls in flight")
