"""Requirements 4, 6, 11 and 12: TLS, dependency scans, the public API, incident contact."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from compliance.conftest import GOOD_HEADERS, RunControl, good_probe
from strongbox.compliance import service
from strongbox.runtime import Runtime
from strongbox.workers.compliance import http_probe


def _scan(runtime: Runtime, findings: list[dict[str, object]], days_ago: int = 0) -> None:
    with runtime.db.unit_of_work() as uow:
        scan = service.record_scan(
            uow, tool="pip-audit", target="lock.txt", dependencies=120, findings=findings
        )
        scan.created = uow.clock.now() - timedelta(days=days_ago)
        uow.commit()


def test_6_3_3_and_11_3_1_read_the_latest_scan(runtime: Runtime, check: RunControl) -> None:
    assert check("6.3.3")["status"] == "fail"  # none recorded
    assert check("11.3.1")["status"] == "fail"
    _scan(runtime, [])
    assert check("6.3.3")["status"] == "pass"
    assert check("11.3.1")["status"] == "pass"
    _scan(runtime, [{"package": "jinja2", "version": "3.0.0", "advisory": "GHSA-x"}], 91)
    bad = check("6.3.3")
    assert bad["status"] == "fail"
    assert "jinja2" in bad["summary"]
    old = check("11.3.1")
    assert (old["status"], old["evidence"]["age_days"]) == ("fail", 91)


def test_6_4_1_the_real_api_passes(runtime: Runtime, check: RunControl) -> None:
    probe = http_probe(runtime)
    assert probe.oversized_status == 413
    ok = check("6.4.1", probe=lambda: probe)
    assert ok["status"] == "pass", ok
    assert ok["evidence"]["hsts_over_tls"].startswith("max-age=")


def test_6_4_1_missing_headers_or_no_body_limit_fail(check: RunControl) -> None:
    weak = {k: v for k, v in GOOD_HEADERS.items() if k != "X-Frame-Options"}
    bad = check("6.4.1", probe=lambda: replace(good_probe(), headers=weak))
    assert bad["status"] == "fail"
    assert "x-frame-options" in bad["summary"]
    unlimited = check("6.4.1", probe=lambda: replace(good_probe(), oversized_status=401))
    assert unlimited["status"] == "fail"
    no_hsts = check("6.4.1", probe=lambda: replace(good_probe(), tls_headers=GOOD_HEADERS))
    assert "strict-transport-security" in no_hsts["summary"]


def test_4_2_1_tls(runtime: Runtime, check: RunControl) -> None:
    s = runtime.settings
    loopback = check("4.2.1")
    assert loopback["status"] == "not_applicable"
    assert loopback["evidence"]["tls_minimum_version"] in ("TLSv1_2", "TLSv1_3")
    https = check("4.2.1", settings=s.model_copy(update={"public_url": "https://pay.example"}))
    assert https["status"] == "pass"
    plain = check("4.2.1", settings=s.model_copy(update={"public_url": "http://pay.example"}))
    assert plain["status"] == "fail"
    gateway = check(
        "4.2.1",
        settings=s.model_copy(
            update={"public_url": "https://pay.example", "stripe_api_base": "http://stripe.example"}
        ),
    )
    assert (gateway["status"], gateway["evidence"]["outbound_without_tls"]) == (
        "fail",
        ["stripe_api_base"],
    )


def test_12_10_1_an_incident_contact(runtime: Runtime, check: RunControl) -> None:
    assert check("12.10.1")["status"] == "fail"
    s = runtime.settings.model_copy(update={"incident_contact": "security@example.com"})
    assert check("12.10.1", settings=s)["status"] == "pass"
