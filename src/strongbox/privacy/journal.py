"""The erasure journal: one line per completed erasure (request id, merchant, the ids of the
subject's records; no personal values), kept outside the database and its backups.

Crypto-shredding destroys the subject's key in the database; a backup taken before the
erasure still holds that key and the plaintext copies the erasure scrubbed. On start the
runtime re-applies every journalled erasure the database does not know (a restored copy),
so a restored backup never serves the subject's personal data (``service.reapply``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongbox.core.jsonl import AppendOnlyJsonl


@dataclass(frozen=True, slots=True)
class JournalEntry:
    request_id: str
    merchant_id: str
    subject_ids: dict[str, list[str]]
    at: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JournalEntry:
        ids = d["subject_ids"]
        if not isinstance(ids, dict):
            raise TypeError("subject_ids")
        return cls(
            request_id=str(d["request"]),
            merchant_id=str(d["merchant"]),
            subject_ids={str(k): [str(i) for i in v] for k, v in ids.items()},
            at=int(d["at"]),
        )


class ErasureJournal(AppendOnlyJsonl[JournalEntry]):
    def __init__(self, path: Path) -> None:
        super().__init__(path, JournalEntry.from_dict)

    def append(self, entry: JournalEntry) -> None:
        self.append_dict(
            {
                "request": entry.request_id,
                "merchant": entry.merchant_id,
                "subject_ids": entry.subject_ids,
                "at": entry.at,
            }
        )

    def entries(self) -> list[JournalEntry]:
        return [e for _, e in self.read() if e is not None]
