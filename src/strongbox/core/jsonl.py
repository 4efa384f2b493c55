"""An append-only JSON-lines file: the external copy of signed records (audit tree heads,
table seals), one object a line, each line written with ``O_APPEND`` and fsync'd."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AppendOnlyJsonl(Generic[T]):
    def __init__(self, path: Path, parse: Callable[[dict[str, Any]], T]) -> None:
        self.path = path
        self._parse = parse

    def append_dict(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> Iterator[tuple[int, T | None]]:
        """(line number, record) pairs; ``None`` for a line that does not parse."""
        if not self.path.exists():
            return
        with self.path.open() as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield n, self._parse(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    yield n, None
