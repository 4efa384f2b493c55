"""Where rates come from. A provider fetches (outside any database transaction) and returns
``RateSet``s; another source is another class with the same ``fetch``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import httpx

from strongbox.fx import ecb
from strongbox.fx.ecb import RateSet, RatesUnreadable


class RateProvider(Protocol):
    name: str

    def fetch(self) -> list[RateSet]: ...


class FetchFailed(RuntimeError):
    """The source could not be read (network, HTTP status); try again later."""


class EcbFile:
    """The ECB's XML from a file (a download kept by the operator, a history file)."""

    name = "ecb-file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def fetch(self) -> list[RateSet]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise FetchFailed(f"cannot read {self.path}: {exc.strerror}") from None
        return ecb.parse(data)


class EcbUrl:
    """The ECB's XML over HTTP(S), with explicit timeouts."""

    name = "ecb-url"

    def __init__(self, url: str = ecb.DAILY_URL, *, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def fetch(self) -> list[RateSet]:
        try:
            response = httpx.get(self.url, timeout=self.timeout, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise FetchFailed(f"cannot fetch {self.url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise FetchFailed(f"{self.url} answered {response.status_code}")
        return ecb.parse(response.content)


__all__ = ["EcbFile", "EcbUrl", "FetchFailed", "RateProvider", "RatesUnreadable"]
