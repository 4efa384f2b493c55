"""Data residency: one key provider per region for the keys of customers' personal data.

A merchant with a region (``merchants.region``) gets its customers' subject keys (the keys
their PII is sealed under, ``vault_subject_keys``) wrapped by a key-encryption key of that
region's provider, never of another: ``RegionalKeys.wrap``/``unwrap`` take the region, and
the vault refuses a subject key whose recorded region is not its merchant's region. Each
region's provider is a local keyring file ``<data_dir>/vault-keyring-<region>.json``
(``STRONGBOX_VAULT_REGIONS=eu,us``); a region's file can live on storage in that region.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from strongbox.vault.providers import KeyProvider, KeyProviderError, LocalKeyProvider

REGION_RE: Final = re.compile(r"[a-z][a-z0-9-]{0,31}")


def parse_regions(value: str) -> list[str]:
    regions = [r.strip() for r in value.split(",") if r.strip()]
    for r in regions:
        if REGION_RE.fullmatch(r) is None:
            raise ValueError(f"invalid region name {r!r} (lower-case letters, digits, '-')")
    return regions


class RegionUnavailableError(KeyProviderError):
    default_code = "vault_region_unavailable"


class RegionalKeys:
    """The providers of the configured regions, each with one key-encryption key."""

    def __init__(self, providers: dict[str, KeyProvider]) -> None:
        self._providers = dict(providers)
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def local(cls, regions: Iterable[str], directory: Path) -> RegionalKeys:
        return cls({r: LocalKeyProvider(directory / f"vault-keyring-{r}.json") for r in regions})

    def __repr__(self) -> str:
        return f"RegionalKeys(regions={sorted(self._providers)!r})"

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(self._providers)

    def provider(self, region: str) -> KeyProvider:
        provider = self._providers.get(region)
        if provider is None:
            raise RegionUnavailableError(
                f"No key provider is configured for the region {region!r}."
            )
        return provider

    def _label(self, region: str) -> str:
        with self._lock:
            label = self._labels.get(region)
            if label is None:
                label = self.provider(region).create_kek(1)  # idempotent: kept if present
                self._labels[region] = label
            return label

    def wrap(self, region: str, key: bytes) -> bytes:
        return self.provider(region).wrap(self._label(region), key)

    def unwrap(self, region: str, wrapped: bytes) -> bytes:
        return self.provider(region).unwrap(self._label(region), wrapped)

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
