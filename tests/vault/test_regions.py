"""Data residency: a merchant's customer keys come from its region's key provider, and a key
of another region is never used for it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from strongbox.vault.models import SubjectKey
from strongbox.vault.regions import RegionalKeys, parse_regions
from support import Merchant


class SpyProvider:
    """Counts every use of a region's provider."""

    def __init__(self, inner: Any, calls: Counter[str], region: str) -> None:
        self._inner = inner
        self._calls = calls
        self._region = region

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in ("wrap", "unwrap", "create_kek"):

            def counted(*args: Any) -> Any:
                self._calls[self._region] += 1
                return attr(*args)

            return counted
        return attr


@pytest.fixture
def regional(tmp_path: Path) -> Any:
    settings = Settings(
        data_dir=tmp_path / "data",
        run_workers=False,
        threads=8,
        public_url="http://testserver",
        vault_regions="eu,us",
    )
    rt = build_runtime(settings)
    calls: Counter[str] = Counter()
    regions = rt.vault.service.regions
    assert regions is not None
    rt.vault.service.regions = RegionalKeys(
        {r: SpyProvider(regions.provider(r), calls, r) for r in ("eu", "us")}  # type: ignore[misc]
    )
    yield rt, calls
    rt.close()


def _merchant(rt: Runtime, name: str, region: str | None) -> Merchant:
    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, name, region)
        uow.commit()
    return Merchant(new.merchant.id, new.secret_key.reveal(), new.publishable_key.reveal())


def test_keys_come_from_the_merchants_region_only(regional: Any) -> None:
    rt, calls = regional
    eu = _merchant(rt, "EU shop", "eu")
    us = _merchant(rt, "US shop", "us")
    plain = _merchant(rt, "Default shop", None)
    with TestClient(create_app(rt, run_workers=False), raise_server_exceptions=False) as c:
        for m, region in ((eu, "eu"), (us, "us"), (plain, None)):
            calls.clear()
            r = c.post("/v1/customers", data={"email": f"{m.id}@example.com"}, headers=m.headers)
            assert r.status_code == 200, r.text
            cus = r.json()["id"]
            got = c.get(f"/v1/customers/{cus}", headers=m.headers).json()
            assert got["email"] == f"{m.id}@example.com"
            # Only the merchant's own region's provider was used (none for the default one).
            assert set(calls) == ({region} if region else set()), calls
            with rt.db.reader() as uow:
                key = uow.session.query(SubjectKey).filter_by(subject_id=cus).one()
                assert key.region == region

        # A subject key recorded for another region is refused, never unwrapped there.
        r = c.post("/v1/customers", data={"name": "Moved"}, headers=eu.headers)
        cus = r.json()["id"]
        with rt.db.unit_of_work() as uow:
            uow.session.query(SubjectKey).filter_by(subject_id=cus).update({"region": "us"})
            uow.commit()
        calls.clear()
        r = c.get(f"/v1/customers/{cus}", headers=eu.headers)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "vault_region_mismatch"
        assert "Moved" not in r.text
        assert calls["us"] == 0


def test_a_region_without_a_provider_is_refused(regional: Any) -> None:
    rt, _ = regional
    far = _merchant(rt, "Far shop", "ap")  # not configured on this instance
    with TestClient(create_app(rt, run_workers=False), raise_server_exceptions=False) as c:
        r = c.post("/v1/customers", data={"email": "x@example.com"}, headers=far.headers)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "vault_region_unavailable"
        with rt.db.reader() as uow:
            assert uow.session.query(SubjectKey).count() == 0


def test_region_names_are_checked() -> None:
    assert parse_regions(" eu, us-east ,") == ["eu", "us-east"]
    for bad in ("EU", "eu/../x", "1eu", "e" * 33):
        with pytest.raises(ValueError, match="invalid region"):
            parse_regions(bad)
