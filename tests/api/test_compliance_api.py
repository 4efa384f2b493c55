"""``/v1/compliance/reports``: list and retrieve signed reports with a secret key."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from strongbox.compliance import service
from strongbox.runtime import Runtime
from strongbox.workers import compliance as wiring
from support import error_of


def _report(runtime: Runtime) -> str:
    return wiring.check(runtime, trigger="test", probe=False).id


def test_list_and_retrieve_reports(api: TestClient, runtime: Runtime) -> None:
    empty = api.get("/v1/compliance/reports")
    assert empty.status_code == 200
    assert empty.json()["data"] == []
    older, newer = _report(runtime), _report(runtime)
    body = api.get("/v1/compliance/reports", params={"limit": 1}).json()
    assert (body["object"], body["has_more"]) == ("list", True)
    assert [r["id"] for r in body["data"]] == [newer]
    rest = api.get("/v1/compliance/reports", params={"starting_after": newer}).json()
    assert [r["id"] for r in rest["data"]] == [older]
    doc: dict[str, Any] = api.get(f"/v1/compliance/reports/{older}").json()
    assert doc["object"] == "compliance_report"
    assert service.verify_report(doc, {runtime.audit.signer.public_key})
    # Without the probe the API check fails, and says why.
    api_check = next(r for r in doc["results"] if r["control"] == "6.4.1")
    assert api_check["status"] == "fail"


def test_bad_input_is_a_stripe_error(api: TestClient, runtime: Runtime) -> None:
    missing = api.get("/v1/compliance/reports/cpr_nope")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "resource_missing"
    assert api.get("/v1/compliance/reports", params={"limit": "x"}).status_code == 400
    assert api.get("/v1/compliance/reports", params={"bogus": "1"}).status_code == 400
    assert api.get("/v1/compliance/reports", params={"expand[]": "data.x"}).status_code == 400
    _report(runtime)
    assert api.get("/v1/compliance/reports/cpr_x", params={"bogus": "1"}).status_code == 400


def test_a_secret_key_is_required(client: TestClient, merchant: Any) -> None:
    assert client.get("/v1/compliance/reports").status_code == 401
    pk = {"Authorization": f"Bearer {merchant.publishable_key}"}
    assert client.get("/v1/compliance/reports", headers=pk).status_code in (401, 403)
