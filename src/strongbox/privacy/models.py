"""Privacy tables: data subject requests with their deadline, steps and certificate.

A request never stores the subject's email in plaintext: only the vault's blind index of it
(``email_index``) and the ids of the records found for the subject (ids are pseudonyms).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, JSONType, seq_column

# Request types (GDPR articles) and statuses.
ACCESS, PORTABILITY, ERASURE = "access", "portability", "erasure"
REQUEST_TYPES = (ACCESS, PORTABILITY, ERASURE)
COMPLETED = "completed"


class PrivacyRequest(Base):
    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))  # access | portability | erasure
    status: Mapped[str] = mapped_column(String(16))
    # How the subject was named: a customer id, and/or the blind index of an email.
    customer_id: Mapped[str | None] = mapped_column(String(64))
    email_index: Mapped[str | None] = mapped_column(String(64))
    # Ids of the records found for the subject, per table (``privacy/locate.py``).
    subject_ids: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The workflow's recorded steps: ``[{"step", "at", "counts"...}]`` (no personal data).
    steps: Mapped[list[Any]] = mapped_column(JSONType)
    # Erasure only: the signed certificate of erasure.
    certificate: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created: Mapped[datetime]
    due_at: Mapped[datetime]  # one month after receipt (Art. 12(3))
    completed_at: Mapped[datetime | None]
