"""In-transaction dispatch: subscribers run inside the unit of work, then the outbox row.

Subscribers (audit, ledger, …) register here at start-up; payments never imports them.
A subscriber that raises aborts the whole unit of work, so its effect and the change that
caused it commit together or not at all.

The session is flushed before a subscriber runs, so that its queries see every row written so
far in the transaction, unless every matching subscriber declared ``reads_db=False`` (the
audit log: it records from the event alone and inserts its rows at commit). That flush was
one extra INSERT/UPDATE round per event on the payment path when nothing needed it.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from strongbox.events.repository import add_to_outbox
from strongbox.events.types import DomainEvent

if TYPE_CHECKING:
    from strongbox.db.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[["UnitOfWork", DomainEvent], None]


class EventDispatcher:
    def __init__(self) -> None:
        self._handlers: list[tuple[str, str, Handler, bool]] = []
        self._lock = threading.Lock()
        self._on_outbox_write: list[Callable[[], None]] = []

    def subscribe(
        self, pattern: str, handler: Handler, *, name: str | None = None, reads_db: bool = True
    ) -> None:
        """Run ``handler`` for events whose type matches a glob (``payment_intent.*``).

        ``reads_db=False``: the handler queries nothing the transaction wrote, so the session
        need not be flushed for it."""
        with self._lock:
            label = name or str(getattr(handler, "__name__", "handler"))
            self._handlers.append((pattern, label, handler, reads_db))

    def subscriptions(self) -> list[tuple[str, str]]:
        """``(pattern, name)`` of every subscriber (the compliance checks read it)."""
        with self._lock:
            return [(p, n) for p, n, _h, _r in self._handlers]

    def on_commit_of_events(self, fn: Callable[[], None]) -> None:
        """Called after a commit that wrote outbox rows (wakes the relay)."""
        self._on_outbox_write.append(fn)

    def dispatch(self, uow: UnitOfWork, event: object) -> None:
        if not isinstance(event, DomainEvent):
            raise TypeError(f"not a DomainEvent: {type(event).__name__}")
        matching = [
            (h, reads)
            for p, _n, h, reads in list(self._handlers)
            if fnmatch.fnmatchcase(event.type, p)
        ]
        if any(reads for _h, reads in matching):
            uow.flush()  # subscribers see every row written so far in this transaction
        for handler, _reads in matching:
            handler(uow, event)
        if event.internal:
            return
        add_to_outbox(
            uow,
            {
                "id": event.id,
                "merchant_id": event.merchant_id,
                "type": event.type,
                "resource_type": event.resource_type,
                "resource_id": event.resource_id,
                "data": event.stripe_data(),
                "request_id": event.context.request_id,
                "idempotency_key": event.context.idempotency_key,
                "created": event.created,
            },
        )
        for fn in self._on_outbox_write:
            uow.after_commit(fn)
