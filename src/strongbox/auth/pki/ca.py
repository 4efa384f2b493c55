"""A private certificate authority for service-to-service mutual TLS.

Files in the PKI directory (default ``<data_dir>/pki``, mode 0700):

- ``ca.pem``: the CA certificate (ECDSA P-256, self-signed, path length 0).
- ``ca.key.sealed``: the CA private key, sealed (``core.sealing``, the vault's envelope
  encryption) and bound to its purpose; it is never written in clear.
- ``crl.pem``: the revocation list, signed by the CA, re-issued on every revocation.
- ``identities.json``: every issued certificate: serial, service name (the subject's CN),
  permissions (``auth/permissions.py``), validity, revoked or not.
- ``<name>.pem`` / ``<name>.key``: a service's certificate and private key (0600), to be
  handed to that service. ``internal-listener`` is the internal listener's own (server) pair.

A client certificate identifies a service by its subject CN; its permissions are the
registry's, looked up by serial (a certificate whose serial is not in the registry, or is
revoked, maps to no identity).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from strongbox.auth import permissions
from strongbox.core.sealing import Sealer

CA_AAD: Final = b"strongbox-pki|ca-key"
LISTENER: Final = "internal-listener"
ORGANIZATION: Final = "Strongbox services"
NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CRL_DAYS: Final = 7


class PkiError(ValueError):
    """A PKI operation that cannot be done (the message says why)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A service identity: the subject CN of its certificate and what it may do."""

    name: str
    serial: int
    permissions: frozenset[str]
    not_after: datetime
    revoked: bool


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Pki:
    def __init__(self, directory: Path, sealer: Sealer) -> None:
        self.dir = directory
        self._sealer = sealer

    # ---- paths

    @property
    def ca_cert_path(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def crl_path(self) -> Path:
        return self.dir / "crl.pem"

    @property
    def registry_path(self) -> Path:
        return self.dir / "identities.json"

    def cert_path(self, name: str) -> Path:
        return self.dir / f"{name}.pem"

    def key_path(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    # ---- the CA

    def init(self, now: datetime, *, name: str = "Strongbox internal CA", hosts: list[str]) -> None:
        """Make the CA, an empty CRL, and the internal listener's server certificate."""
        if self.ca_cert_path.exists():
            raise PkiError(f"a CA already exists in {self.dir}")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write(self.dir / "ca.key.sealed", self._sealer.seal(_key_pem(key), CA_AAD))
        _write(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        self._save_registry([])
        self._write_crl(now, key, cert, [])
        self.issue(LISTENER, [], now, server_hosts=hosts)

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if not self.ca_cert_path.exists():
            raise PkiError(f"no CA in {self.dir}: run 'strongbox pki init' first")
        pem = self._sealer.unseal((self.dir / "ca.key.sealed").read_bytes(), CA_AAD)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError("the CA key is not an EC key")
        return key, x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())

    # ---- service certificates

    def issue(
        self,
        name: str,
        grants: list[str],
        now: datetime,
        *,
        days: int = 90,
        not_before: datetime | None = None,
        server_hosts: list[str] | None = None,
    ) -> Identity:
        """A certificate (and key) for service ``name`` with ``grants`` as its permissions.

        ``server_hosts``: a server certificate for these DNS names / IP addresses instead.
        """
        if NAME_RE.fullmatch(name) is None:
            raise PkiError("a service name is 1-63 lower-case letters, digits and hyphens")
        try:
            granted = permissions.parse(grants)
        except permissions.UnknownPermissionError as exc:
            raise PkiError(str(exc)) from None
        if not 1 <= days <= 825 and not_before is None:
            raise PkiError("a certificate is valid for 1 to 825 days")
        ca_key, ca_cert = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or now - timedelta(minutes=5)
        end = start + timedelta(days=days)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if server_hosts is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(h) for h in server_hosts]),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(self.key_path(name), _key_pem(key))
        _write(self.cert_path(name), cert.public_bytes(serialization.Encoding.PEM), 0o644)
        identity = Identity(name, serial, granted, end, revoked=False)
        if server_hosts is None:
            entries = self._load_registry()
            entries.append(_entry(identity))
            self._save_registry(entries)
        return identity

    def revoke(self, name_or_serial: str, now: datetime) -> list[Identity]:
        """Revoke every unrevoked certificate of a service (or one serial); re-issue the CRL."""
        entries = self._load_registry()
        hit = [
            e
            for e in entries
            if not e["revoked"] and (e["name"] == name_or_serial or e["serial"] == name_or_serial)
        ]
        if not hit:
            raise PkiError(f"no unrevoked certificate for {name_or_serial!r}")
        for e in hit:
            e["revoked"] = True
            e["revoked_at"] = now.isoformat()
        ca_key, ca_cert = self._ca()
        self._write_crl(now, ca_key, ca_cert, [e for e in entries if e["revoked"]])
        self._save_registry(entries)
        return [_identity(e) for e in hit]

    def identities(self) -> list[Identity]:
        return [_identity(e) for e in self._load_registry()]

    # ---- files

    def _write_crl(
        self,
        now: datetime,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        revoked: list[dict[str, Any]],
    ) -> None:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=CRL_DAYS))
        )
        for e in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(e["serial"], 16))
                .revocation_date(datetime.fromisoformat(e["revoked_at"]))
                .build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        _write(self.crl_path, crl.public_bytes(serialization.Encoding.PEM), 0o644)

    def _load_registry(self) -> list[dict[str, Any]]:
        if not self.registry_path.exists():
            raise PkiError(f"no CA in {self.dir}: run 'strongbox pki init' first")
        data: list[dict[str, Any]] = json.loads(self.registry_path.read_text("utf-8"))
        return data

    def _save_registry(self, entries: list[dict[str, Any]]) -> None:
        tmp = self.registry_path.with_suffix(".tmp")
        _write(tmp, json.dumps(entries, indent=2).encode(), 0o644)
        tmp.replace(self.registry_path)


def _general_name(host: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _entry(identity: Identity) -> dict[str, Any]:
    return {
        "name": identity.name,
        "serial": format(identity.serial, "x"),
        "permissions": sorted(identity.permissions),
        "not_after": identity.not_after.isoformat(),
        "revoked": identity.revoked,
    }


def _identity(e: dict[str, Any]) -> Identity:
    return Identity(
        name=e["name"],
        serial=int(e["serial"], 16),
        permissions=frozenset(e["permissions"]),
        not_after=datetime.fromisoformat(e["not_after"]),
        revoked=bool(e["revoked"]),
    )
