"""Builds the vault from settings: provider, key manager, service, sealer (no database work)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from strongbox.core.secret import Secret
from strongbox.core.settings import Settings
from strongbox.db.uow import Database
from strongbox.vault.keys import KeyManager
from strongbox.vault.providers import (
    KeyProvider,
    KeyProviderError,
    LocalKeyProvider,
    Pkcs11KeyProvider,
)
from strongbox.vault.regions import RegionalKeys, parse_regions
from strongbox.vault.service import VaultSealer, VaultService

KEYRING_FILE = "vault-keyring.json"


@dataclass
class Vault:
    provider: KeyProvider
    keys: KeyManager
    service: VaultService
    sealer: VaultSealer

    def close(self) -> None:
        self.keys.clear_cache()
        self.provider.close()
        if self.service.regions is not None:
            self.service.regions.close()


def make_provider(settings: Settings) -> KeyProvider:
    if settings.key_provider == "pkcs11":
        if settings.pkcs11_pin is None:
            raise KeyProviderError(
                "STRONGBOX_PKCS11_PIN is required with STRONGBOX_KEY_PROVIDER=pkcs11.",
                code="vault_misconfigured",
            )
        return Pkcs11KeyProvider(
            settings.pkcs11_module,
            settings.pkcs11_token_label,
            Secret(settings.pkcs11_pin.get_secret_value()),
            settings.pkcs11_key_label_prefix,
        )
    master = settings.master_key
    return LocalKeyProvider(
        settings.keyring_file or settings.data_dir / KEYRING_FILE,
        Secret(master.get_secret_value()) if master is not None else None,
    )


def build_vault(settings: Settings, db: Database) -> Vault:
    """The vault's objects; no database work. The edge that starts an instance creates the
    first keys in its own unit of work (``runtime.build_runtime``: ``keys.initialize``)."""
    provider = make_provider(settings)
    keys = KeyManager(
        provider,
        cryptoperiod=timedelta(days=settings.key_cryptoperiod_days),
        cache_seconds=settings.key_cache_seconds,
    )
    regions = parse_regions(settings.vault_regions)
    keyring_dir = (settings.keyring_file or settings.data_dir / KEYRING_FILE).parent
    service = VaultService(
        keys,
        cvc_ttl=timedelta(seconds=settings.cvc_ttl_seconds),
        regions=RegionalKeys.local(regions, keyring_dir) if regions else None,
    )
    return Vault(provider, keys, service, VaultSealer(keys, db.read))
