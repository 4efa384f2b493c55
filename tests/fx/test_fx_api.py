"""``/v1/exchange_rates`` over HTTP after loading the ECB's rates from a file and a URL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fx_helpers import DAY1, DAY2, Served, ecb_xml, serve

from strongbox.fx import repository as repo
from strongbox.fx import service as fx
from strongbox.fx.ecb import RatesUnreadable
from strongbox.fx.providers import EcbFile, EcbUrl, FetchFailed
from strongbox.runtime import Runtime
from support import error_of


def _file(tmp_path: Path, days: dict[str, dict[str, str]]) -> Path:
    path = tmp_path / "eurofxref.xml"
    path.write_text(ecb_xml(days))
    return path


def test_rates_from_a_file_in_stripes_former_shape(
    api: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    err = error_of(api.get("/v1/exchange_rates/usd"), 404)
    assert err["code"] == "exchange_rates_unavailable"
    assert fx.load(runtime.db, EcbFile(_file(tmp_path, DAY1)), runtime.fx) == 5  # 4 + EUR
    r = api.get("/v1/exchange_rates/usd")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["object"], body["date"], body["source"]) == (
        "usd",
        "exchange_rate",
        "2026-12-03",
        "ecb",
    )
    assert body["rates"]["eur"] == pytest.approx(1 / 1.0523, rel=1e-12)
    assert body["rates"]["jpy"] == pytest.approx(158.12 / 1.0523, rel=1e-12)
    assert "usd" not in body["rates"]
    eur = api.get("/v1/exchange_rates/EUR").json()
    assert eur["rates"]["usd"] == 1.0523
    error_of(api.get("/v1/exchange_rates/xyz"), 404)
    page = api.get("/v1/exchange_rates", params={"limit": "2"}).json()
    assert [x["id"] for x in page["data"]] == ["eur", "gbp"]
    assert page["has_more"] is True
    rest = api.get("/v1/exchange_rates", params={"starting_after": "gbp"}).json()
    assert [x["id"] for x in rest["data"]] == ["jpy", "kwd", "usd"]
    assert rest["has_more"] is False
    back = api.get("/v1/exchange_rates", params={"ending_before": "kwd", "limit": "2"}).json()
    assert [x["id"] for x in back["data"]] == ["gbp", "jpy"]
    err = error_of(api.get("/v1/exchange_rates", params={"starting_after": "zzz"}), 404)
    assert err["param"] == "starting_after"


def test_history_is_kept_and_a_day_loads_once(runtime: Runtime, tmp_path: Path) -> None:
    fx.load(runtime.db, EcbFile(_file(tmp_path, DAY1)), runtime.fx)
    both = {**DAY1, **DAY2}
    assert fx.load(runtime.db, EcbFile(_file(tmp_path, both)), runtime.fx) == 5
    assert fx.load(runtime.db, EcbFile(_file(tmp_path, both)), runtime.fx) == 0
    with runtime.db.read() as session:
        latest = repo.rate_set(session, "ecb")
        assert latest is not None
        assert latest.rates["usd"] == Decimal("1.0550")
        from datetime import date

        friday = repo.on_or_before(session, "ecb", date(2026, 12, 3))
        assert friday is not None
        assert friday.rates["usd"] == Decimal("1.0523")
        assert repo.on_or_before(session, "ecb", date(2026, 12, 1)) is None


def test_rates_from_a_url_on_a_real_http_server(
    api: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    served = Served(ecb_xml(DAY2))
    with serve(served) as url:
        assert fx.load(runtime.db, EcbUrl(url, timeout=5), runtime.fx) == 5
        assert api.get("/v1/exchange_rates/gbp").json()["date"] == "2026-12-04"
        served.status = 503
        with pytest.raises(FetchFailed, match="answered 503"):
            fx.load(runtime.db, EcbUrl(url, timeout=5), runtime.fx)
        served.status, served.body = 200, "<html>maintenance</html>"
        with pytest.raises(RatesUnreadable):
            fx.load(runtime.db, EcbUrl(url, timeout=5), runtime.fx)
        # The requests the API answered never reached the source: only the three loads did.
        for _ in range(3):
            assert api.get("/v1/exchange_rates/usd").status_code == 200
        assert served.requests == 3


class Counting:
    name = "counting"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def fetch(self) -> Any:
        self.calls += 1
        return self.inner.fetch()


def test_a_cache_miss_reads_the_database_never_the_source(
    api: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    provider = Counting(EcbFile(_file(tmp_path, DAY1)))
    fx.load(runtime.db, provider, runtime.fx)
    runtime.fx._local.clear()  # the process cache emptied (a restart, an expiry)
    assert runtime.fx.get("ecb") is None
    assert api.get("/v1/exchange_rates/usd").status_code == 200
    assert runtime.fx.get("ecb") is not None  # filled from the database
    assert provider.calls == 1
