"""The private CA: what it issues, the CA key sealed at rest, the signed CRL, bad input."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from strongbox.auth.pki.ca import LISTENER, Pki, PkiError
from strongbox.runtime import Runtime

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def pki(runtime: Runtime, tmp_path: Path) -> Pki:
    pki = Pki(tmp_path / "pki", runtime.sealer)
    pki.init(NOW, hosts=["localhost"])
    return pki


def test_init_makes_a_ca_whose_key_is_never_in_clear(pki: Pki) -> None:
    ca = x509.load_pem_x509_certificate(pki.ca_cert_path.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    sealed = (pki.dir / "ca.key.sealed").read_bytes()
    assert b"PRIVATE KEY" not in sealed
    assert not (pki.dir / "ca.key").exists()
    assert stat.S_IMODE((pki.dir / "ca.key.sealed").stat().st_mode) == 0o600
    listener = x509.load_pem_x509_certificate(pki.cert_path(LISTENER).read_bytes())
    eku = listener.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    with pytest.raises(PkiError):
        pki.init(NOW, hosts=["localhost"])  # never overwrites a CA


def test_issue_names_the_service_and_records_its_permissions(pki: Pki) -> None:
    ident = pki.issue("settlement-worker", ["ledger:write", "audit:read"], NOW)
    cert = x509.load_pem_x509_certificate(pki.cert_path("settlement-worker").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "settlement-worker"
    assert cert.serial_number == ident.serial
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert stat.S_IMODE(pki.key_path("settlement-worker").stat().st_mode) == 0o600
    (found,) = pki.identities()
    assert found.permissions == frozenset({"ledger:write", "audit:read"})


def test_revocation_is_a_signed_crl(pki: Pki) -> None:
    ident = pki.issue("worker", [], NOW)
    pki.revoke("worker", NOW)
    crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
    ca = x509.load_pem_x509_certificate(pki.ca_cert_path.read_bytes())
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(ident.serial) is not None
    assert pki.identities()[0].revoked is True


@pytest.mark.parametrize(
    ("name", "grants", "days"),
    [("Bad Name", [], 30), ("../etc", [], 30), ("ok", ["root:all"], 30), ("ok", [], 0)],
)
def test_bad_input_is_refused_and_writes_nothing(
    pki: Pki, name: str, grants: list[str], days: int
) -> None:
    before = sorted(p.name for p in pki.dir.iterdir())
    with pytest.raises(PkiError):
        pki.issue(name, grants, NOW, days=days)
    assert sorted(p.name for p in pki.dir.iterdir()) == before
