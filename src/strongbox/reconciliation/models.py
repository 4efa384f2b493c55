"""Reconciliation tables: imported gateway reports and their lines, runs, matches, exceptions.

Report lines are never changed once imported. A run is one matching of one connector
account's day; a later run of the same day supersedes it. An exception is one discrepancy,
identified by its fingerprint (outcome, report line, Strongbox object) so that a re-run finds
the exception it raised before instead of raising it twice; it is resolved once, through the
ledger, and never edited afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, JSONType, seq_column

#: Every outcome a report line or a Strongbox object ends with.
MATCHED = "matched"
AMOUNT_MISMATCH = "amount_mismatch"
FEE_MISMATCH = "fee_mismatch"
MISSING_IN_STRONGBOX = "missing_in_strongbox"
MISSING_AT_GATEWAY = "missing_at_gateway"
DUPLICATE = "duplicate"
OUTCOMES = (
    MATCHED,
    AMOUNT_MISMATCH,
    FEE_MISMATCH,
    MISSING_IN_STRONGBOX,
    MISSING_AT_GATEWAY,
    DUPLICATE,
)
EXCEPTION_OUTCOMES = OUTCOMES[1:]


class ReportImport(Base):
    __tablename__ = "recon_imports"
    __table_args__ = (
        Index("ix_recon_imports_merchant_seq", "merchant_id", "seq"),
        UniqueConstraint(
            "merchant_id", "connector_account_id", "sha256", name="uq_recon_imports_file"
        ),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector_account_id: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)  # lines that are not payments or refunds
    already_imported: Mapped[int] = mapped_column(Integer)  # lines an earlier import holds
    first_day: Mapped[str | None] = mapped_column(String(10))
    last_day: Mapped[str | None] = mapped_column(String(10))
    created: Mapped[datetime]


class ReportLine(Base):
    """One payment or refund line of a gateway report, amounts in minor units.

    ``amount`` is signed from the merchant's side (a refund is negative); ``fee`` is what the
    gateway kept (``None`` when the format does not say). ``refs`` are the references the
    line carries that may name a Strongbox object's gateway reference."""

    __tablename__ = "recon_report_lines"
    __table_args__ = (Index("ix_recon_lines_day", "merchant_id", "connector_account_id", "day"),)

    seq: Mapped[int] = seq_column()
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector_account_id: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[str] = mapped_column(String(64))
    line_no: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))
    occurred: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))  # charge | refund
    line_id: Mapped[str | None] = mapped_column(String(128))
    refs: Mapped[list[str]] = mapped_column(JSONType)
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(500))


class ReconRun(Base):
    __tablename__ = "recon_runs"
    __table_args__ = (
        Index("ix_recon_runs_merchant_seq", "merchant_id", "seq"),
        Index("ix_recon_runs_day", "merchant_id", "connector_account_id", "day"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector_account_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))  # completed | failed
    # Which part failed and why, for a run that could not complete.
    failure: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Per outcome: {"count": n, "gateway_amount": …, "strongbox_amount": …} by currency.
    summary: Mapped[dict[str, Any]]
    superseded: Mapped[bool] = mapped_column(Boolean)
    created: Mapped[datetime]


class ReconMatch(Base):
    """A Strongbox object a run paired with a report line (matched or mismatched)."""

    __tablename__ = "recon_matches"
    __table_args__ = (
        Index("ix_recon_matches_object", "merchant_id", "connector_account_id", "object_id"),
        Index("ix_recon_matches_run", "run_id"),
    )

    seq: Mapped[int] = seq_column()
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector_account_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    line_key: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(32))


class ReconException(Base):
    __tablename__ = "recon_exceptions"
    __table_args__ = (
        Index("ix_recon_exceptions_merchant_seq", "merchant_id", "seq"),
        Index("ix_recon_exceptions_day", "merchant_id", "connector_account_id", "day"),
        UniqueConstraint(
            "merchant_id", "connector_account_id", "fingerprint", name="uq_recon_exceptions_key"
        ),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector_account_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(255))
    day: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # open | resolved | cleared
    run_id: Mapped[str] = mapped_column(String(64))  # the last run that found it
    object_id: Mapped[str | None] = mapped_column(String(64))
    line_key: Mapped[str | None] = mapped_column(String(80))
    gateway_line_id: Mapped[str | None] = mapped_column(String(128))
    reference: Mapped[str | None] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    gateway_currency: Mapped[str | None] = mapped_column(String(3))
    strongbox_amount: Mapped[int | None] = mapped_column(BigInteger)
    gateway_amount: Mapped[int | None] = mapped_column(BigInteger)
    strongbox_fee: Mapped[int | None] = mapped_column(BigInteger)
    gateway_fee: Mapped[int | None] = mapped_column(BigInteger)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created: Mapped[datetime]
    updated: Mapped[datetime]


class IntegritySeal(Base):
    """Signed SHA-256 digests of the critical tables per day (``digests.py``), chained: each
    seal's ``chain`` hashes the previous seal's ``chain`` with its own payload. Also appended
    to an external JSONL file, which a restored database backup does not take back."""

    __tablename__ = "integrity_seals"

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    sealed_at: Mapped[datetime]
    digests: Mapped[dict[str, Any]]
    previous_chain: Mapped[str | None] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
