"""Queries of the audit API (tenant reads filter by ``merchant_id``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongbox.audit.models import AuditEntry
from strongbox.db.pagination import Page, PageRequest, paginate


def list_entries(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    created: dict[str, int] | None,
    actor: str | None,
    action: str | None,
    resource: str | None,
    resource_type: str | None,
) -> Page[AuditEntry]:
    conds: list[Any] = []
    if actor:
        conds.append(AuditEntry.actor == actor)
    if action:
        if action.endswith("*"):
            prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(AuditEntry.action.like(prefix + "%", escape="\\"))
        else:
            conds.append(AuditEntry.action == action)
    if resource:
        conds.append(AuditEntry.resource_id == resource)
    if resource_type:
        conds.append(AuditEntry.resource_type == resource_type)
    return paginate(session, AuditEntry, merchant_id, page, conds, created=created)


def entry_at(session: Session, merchant_id: str, index: int) -> AuditEntry | None:
    return session.scalars(
        select(AuditEntry).where(
            AuditEntry.merchant_id == merchant_id, AuditEntry.leaf_index == index
        )
    ).first()
