"""The issue-25 loops the workers run: table seals, exchange rates, the nightly fetch."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from fx.fx_helpers import DAY1, ecb_xml
from strongbox.reconciliation import integrity
from strongbox.runtime import Runtime
from strongbox.workers.loops import Loop, build_workers


def _loops(runtime: Runtime) -> dict[str, Loop]:
    return {loop.name.removeprefix("strongbox-"): loop for loop in build_workers(runtime).loops}


def test_the_workers_seal_once_a_day_and_load_rates(
    api: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    rates = tmp_path / "eurofxref-daily.xml"
    rates.write_text(ecb_xml(DAY1))
    runtime.settings = runtime.settings.model_copy(
        update={"fx_ecb_file": rates, "recon_nightly_fetch": True}
    )
    loops = _loops(runtime)
    assert {"integrity-seal", "fx-rates", "recon-nightly"} <= set(loops)
    sink = integrity.sink_for(runtime.settings.data_dir, None)
    loops["integrity-seal"].fn()
    loops["integrity-seal"].fn()  # not due again for a day
    assert len([s for _n, s in sink.read()]) == 1
    loops["fx-rates"].fn()
    assert api.get("/v1/exchange_rates/usd").json()["date"] == "2026-12-03"
    rates.write_text("<broken")
    assert loops["fx-rates"].fn() == 0  # logged, the loop goes on; the stored rates stay
    assert api.get("/v1/exchange_rates/usd").status_code == 200
    assert loops["recon-nightly"].fn() == 0  # no Stripe or Braintree account: nothing to do


def test_without_settings_there_is_no_rate_or_fetch_loop(runtime: Runtime) -> None:
    names = set(_loops(runtime))
    assert "integrity-seal" in names
    assert not {"fx-rates", "recon-nightly"} & names
