"""Compliance tables: signed reports of each run, and recorded vulnerability scans.

Both are platform-level (``merchant_id = "platform"``): they describe the installation, not a
merchant's data. Evidence never holds a secret value (no PAN digits, no key material).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, JSONType, seq_column

PLATFORM = "platform"


class ComplianceReport(Base):
    """One run of every control, signed with the audit log's Ed25519 key."""

    __tablename__ = "compliance_reports"
    __table_args__ = (Index("ix_compliance_reports_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(32))  # cli | worker | api
    status: Mapped[str] = mapped_column(String(16))  # pass | fail
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    not_applicable: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    key_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class VulnerabilityScan(Base):
    """A dependency scan against advisory data (6.3.3), whose age 11.3.1 reads."""

    __tablename__ = "compliance_scans"
    __table_args__ = (Index("ix_compliance_scans_created", "created"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime]
    tool: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    dependencies: Mapped[int] = mapped_column(Integer)
    vulnerable: Mapped[int] = mapped_column(Integer)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
