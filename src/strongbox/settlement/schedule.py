"""Payout schedules and automatic payouts.

A merchant's schedule (``manual`` by default) is ``daily`` or ``weekly`` (on its
``weekly_anchor``) with ``delay_days``: a run pays out what settled batches moved to the
available balance at least ``delay_days`` ago and no automatic payout has swept yet, capped
at the available balance (manual payouts draw on it too). One automatic payout per merchant,
currency and day (``uq_payouts_run``): a sweep run twice on a day, or by two workers at once,
pays once. The batches it swept name it (``settlement_batches.payout_id``), which is what
``/v1/balance_transactions?payout=po_…`` lists.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.ledger.service import LedgerService
from strongbox.settlement import payouts
from strongbox.settlement.models import Payout, PayoutSchedule, SettlementBatch, SettlementEntry
from strongbox.settlement.schemas import WEEKDAYS, ScheduleParams, render_schedule


def get(uow: UnitOfWork, merchant_id: str) -> PayoutSchedule | None:
    return uow.session.get(PayoutSchedule, merchant_id)


def set_(uow: UnitOfWork, ctx: RequestContext, p: ScheduleParams) -> PayoutSchedule:
    now = uow.clock.now()
    s = get(uow, ctx.merchant_id)
    before = render_schedule(s)
    if s is None:
        s = PayoutSchedule(merchant_id=ctx.merchant_id, interval="manual", delay_days=2)
        s.weekly_anchor = 0
        uow.session.add(s)
    s.interval = p.interval
    s.delay_days = p.delay_days
    s.weekly_anchor = WEEKDAYS.index(p.weekly_anchor) if p.weekly_anchor else 0
    s.destination = p.destination
    s.updated = now
    uow.flush()
    after = render_schedule(s)
    raise_event(
        uow,
        ctx,
        "strongbox.payout_schedule.updated",
        "payout_schedule",
        ctx.merchant_id,
        after,
        previous={k: v for k, v in before.items() if after.get(k) != v},
    )
    return s


def sweep_due(uow: UnitOfWork, ledger: LedgerService) -> int:
    """Create today's automatic payouts of every merchant on a daily or weekly schedule."""
    now = uow.clock.now()
    day = now.date().isoformat()
    made = 0
    schedules = list(
        uow.session.scalars(
            select(PayoutSchedule).where(PayoutSchedule.interval.in_(("daily", "weekly")))
        )
    )
    for s in schedules:
        if s.interval == "weekly" and now.weekday() != s.weekly_anchor:
            continue
        cutoff = now - timedelta(days=s.delay_days)
        rows = uow.session.execute(
            select(SettlementBatch.currency, func.sum(SettlementBatch.settled))
            .where(
                SettlementBatch.merchant_id == s.merchant_id,
                SettlementBatch.payout_id.is_(None),
                SettlementBatch.settled > 0,
                SettlementBatch.closed_at <= cutoff,
            )
            .group_by(SettlementBatch.currency)
        ).all()
        for currency, total in rows:
            run_key = f"{currency}:{day}"
            taken = uow.session.scalar(
                select(Payout.id).where(
                    Payout.merchant_id == s.merchant_id, Payout.run_key == run_key
                )
            )
            if taken is not None:
                continue
            amount = min(int(total or 0), payouts.available(uow, ledger, s.merchant_id, currency))
            if amount <= 0:
                continue
            ctx = RequestContext(merchant_id=s.merchant_id, actor="system:payouts")
            po = payouts.create(
                uow,
                ctx,
                ledger,
                amount=amount,
                currency=currency,
                destination=s.destination,
                automatic=True,
                run_key=run_key,
                arrival=now,
            )
            uow.session.execute(
                update(SettlementBatch)
                .where(
                    SettlementBatch.merchant_id == s.merchant_id,
                    SettlementBatch.currency == currency,
                    SettlementBatch.payout_id.is_(None),
                    SettlementBatch.settled > 0,
                    SettlementBatch.closed_at <= cutoff,
                )
                .values(payout_id=po.id)
            )
            made += 1
    return made


def contents(uow: UnitOfWork, merchant_id: str, payout_id: str) -> list[str]:
    """The ledger transfers a payout contains: the entries of the batches it swept (charges,
    fees, refunds) and its own transfer once paid."""
    payouts.retrieve(uow, merchant_id, payout_id)  # 404 for another merchant's or no payout
    ids = list(
        uow.session.scalars(
            select(SettlementEntry.transfer_id)
            .join(SettlementBatch, SettlementBatch.window_id == SettlementEntry.window_id)
            .where(
                SettlementBatch.merchant_id == merchant_id,
                SettlementBatch.payout_id == payout_id,
                SettlementEntry.merchant_id == merchant_id,
            )
        )
    )
    return [*ids, payouts.paid_id(payout_id)]
