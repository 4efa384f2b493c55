"""Connector registry: connectors by name, built from factories the edge configures."""

from __future__ import annotations

import threading
from collections.abc import Callable

from strongbox.connectors.base import Connector


class ConnectorRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], Connector]] = {}
        self._instances: dict[str, Connector] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: Callable[[], Connector]) -> None:
        with self._lock:
            self._factories[name] = factory
            self._instances.pop(name, None)

    def get(self, name: str) -> Connector:
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                if name not in self._factories:
                    raise KeyError(f"no connector named {name!r}")
                inst = self._factories[name]()
                self._instances[name] = inst
            return inst

    def names(self) -> list[str]:
        return sorted(self._factories)

    def close(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                inst.close()
            self._instances.clear()
