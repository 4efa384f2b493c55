"""Reconciliation over HTTP: payments through a simulator connector account, the simulator's
own report (Stripe's itemized format) imported, days matched, exceptions resolved through the
ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from recon_helpers import (
    counts,
    csv_of,
    exceptions,
    pay,
    refund,
    report,
    rows_of,
    run,
    simulator_account,
    today,
    upload,
)

from strongbox.cli.ledger import run_verify
from strongbox.runtime import Runtime
from support import Merchant, error_of

FEE = {"percent_bps": "290", "fixed_amount": "30"}


@pytest.fixture
def account(api: TestClient) -> str:
    r = api.post("/v1/ledger/fees", data={"currency": "*", **FEE})
    assert r.status_code == 200, r.text
    return simulator_account(api)


def _book(api: TestClient) -> dict[str, Any]:
    """Three payments and a partial refund of the first."""
    p1, p2, p3 = pay(api, 2000), pay(api, 1550), pay(api, 999)
    re = refund(api, p1["id"], 500)
    return {"p1": p1, "p2": p2, "p3": p3, "re": re}


def _report(runtime: Runtime, merchant: Merchant) -> str:
    return report(runtime, merchant.id, fee_bps=290, fee_fixed=30)


def test_the_simulators_report_matches_every_line(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    _book(api)
    r = upload(api, account, _report(runtime, merchant))
    assert r.status_code == 200, r.text
    imp = r.json()
    assert imp["object"] == "reconciliation.report_import"
    assert imp["format"] == "stripe_itemized"
    assert (imp["lines"], imp["skipped"], imp["already_imported"]) == (4, 0, 0)
    body = run(api, account, today())
    assert body["object"] == "reconciliation.run"
    assert body["status"] == "completed"
    assert counts(body) == {"matched": 4}
    assert body["outcomes"]["matched"]["amounts"]["usd"] == {
        "gateway": 2000 + 1550 + 999 - 500,
        "strongbox": 2000 + 1550 + 999 - 500,
    }
    assert body["open_exceptions"] == 0
    assert exceptions(api) == []
    got = api.get(f"/v1/reconciliation/runs/{body['id']}")
    assert got.status_code == 200
    assert got.json() == body
    listed = api.get("/v1/reconciliation/runs", params={"connector_account": account})
    assert [x["id"] for x in listed.json()["data"]] == [body["id"]]


def _edited_report(runtime: Runtime, merchant: Merchant, book: dict[str, Any]) -> str:
    """The simulator's report with one discrepancy of every kind."""
    header, rows = rows_of(_report(runtime, merchant))
    by_source = {row["source_id"]: row for row in rows}
    ref = {k: book[k]["id"] for k in ("p1", "p2", "p3")}
    with runtime.db.reader() as uow:
        from strongbox.payments.models import PaymentIntent

        refs = {
            k: uow.session.query(PaymentIntent).filter_by(id=pid).one().gateway_reference
            for k, pid in ref.items()
        }
    by_source[refs["p1"]]["gross"] = "19.00"  # the gateway captured less: amount mismatch
    by_source[refs["p2"]]["fee"] = "0.99"  # it kept another fee: fee mismatch
    rows.remove(by_source[refs["p3"]])  # it never saw p3: missing at the gateway
    rows.append(dict(by_source[refs["p2"]]))  # it lists p2 twice: duplicate
    stray = dict(by_source[refs["p2"]])
    stray.update(
        balance_transaction_id="txn_stray", source_id="ch_unknown", gross="7.77", fee="0.00"
    )
    rows.append(stray)  # a charge Strongbox never made: missing in Strongbox
    return csv_of(header, rows)


def test_every_kind_of_discrepancy_becomes_an_exception(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    book = _book(api)
    assert upload(api, account, _edited_report(runtime, merchant, book)).status_code == 200
    body = run(api, account, today())
    assert counts(body) == {
        "matched": 1,  # the refund
        "amount_mismatch": 1,
        "fee_mismatch": 1,
        "missing_at_gateway": 1,
        "duplicate": 1,
        "missing_in_strongbox": 1,
    }
    assert body["open_exceptions"] == 5
    found = {e["outcome"]: e for e in exceptions(api, status="open")}
    assert set(found) == {
        "amount_mismatch",
        "fee_mismatch",
        "missing_at_gateway",
        "duplicate",
        "missing_in_strongbox",
    }
    am = found["amount_mismatch"]
    assert (am["strongbox_object"], am["strongbox_amount"], am["gateway_amount"]) == (
        book["p1"]["id"],
        2000,
        1900,
    )
    fm = found["fee_mismatch"]
    assert (fm["strongbox_fee"], fm["gateway_fee"]) == ((1550 * 290 + 5000) // 10000 + 30, 99)
    assert found["missing_at_gateway"]["strongbox_object"] == book["p3"]["id"]
    assert found["missing_in_strongbox"]["gateway_amount"] == 777
    assert found["missing_in_strongbox"]["strongbox_object"] is None
    assert found["duplicate"]["strongbox_object"] == book["p2"]["id"]
    one = api.get(f"/v1/reconciliation/exceptions/{am['id']}")
    assert one.status_code == 200
    assert one.json() == am
    only = exceptions(api, outcome="fee_mismatch")
    assert [e["id"] for e in only] == [fm["id"]]


def _transfer(api: TestClient, transfer_id: str) -> dict[str, Any]:
    r = api.get(f"/v1/ledger/transfers/{transfer_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _purposes(api: TestClient, t: dict[str, Any]) -> tuple[str, str]:
    def purpose(acct: str) -> str:
        r = api.get(f"/v1/ledger/accounts/{acct}")
        assert r.status_code == 200, r.text
        return str(r.json()["purpose"])

    return purpose(t["debit_account"]), purpose(t["credit_account"])


def test_resolutions_post_through_the_ledger_once(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    book = _book(api)
    upload(api, account, _edited_report(runtime, merchant, book))
    run(api, account, today())
    found = {e["outcome"]: e for e in exceptions(api, status="open")}

    am = found["amount_mismatch"]
    r = api.post(
        f"/v1/reconciliation/exceptions/{am['id']}/resolve",
        data={"action": "accept_gateway", "note": "short capture at the gateway"},
    )
    assert r.status_code == 200, r.text
    res = r.json()["resolution"]
    assert r.json()["status"] == "resolved"
    assert (res["action"], res["amount"], res["note"]) == (
        "accept_gateway",
        -100,
        "short capture at the gateway",
    )
    t = _transfer(api, res["ledger_transfer"])
    assert (t["amount"], t["currency"]) == (100, "usd")
    # The gateway owes 1.00 less than recorded.
    assert _purposes(api, t) == ("reconciliation", "gateway_receivable")

    fm = found["fee_mismatch"]
    r = api.post(
        f"/v1/reconciliation/exceptions/{fm['id']}/resolve", data={"action": "accept_gateway"}
    )
    assert r.status_code == 200, r.text
    t = _transfer(api, r.json()["resolution"]["ledger_transfer"])
    delta = 99 - fm["strongbox_fee"]
    assert t["amount"] == abs(delta)
    assert _purposes(api, t) == (
        ("merchant_pending", "fees") if delta > 0 else ("fees", "merchant_pending")
    )

    mg = found["missing_at_gateway"]
    r = api.post(f"/v1/reconciliation/exceptions/{mg['id']}/resolve", data={"action": "write_off"})
    assert r.status_code == 200, r.text
    t = _transfer(api, r.json()["resolution"]["ledger_transfer"])
    assert t["amount"] == 999
    assert _purposes(api, t) == ("write_offs", "gateway_receivable")

    ms = found["missing_in_strongbox"]
    r = api.post(f"/v1/reconciliation/exceptions/{ms['id']}/resolve", data={"action": "timing"})
    assert r.status_code == 200, r.text
    assert r.json()["resolution"]["ledger_transfer"] is None

    # Once only: a second resolution is refused and posts nothing.
    err = error_of(
        api.post(f"/v1/reconciliation/exceptions/{am['id']}/resolve", data={"action": "timing"}),
        400,
    )
    assert err["code"] == "exception_not_open"
    assert exceptions(api, status="open") == [found["duplicate"]]
    # Every transfer the resolutions wrote passes the ledger's own verification.
    assert run_verify(runtime).ok, [str(p) for p in run_verify(runtime).problems]
    # Each resolution is audited and published as an event.
    r = api.get("/v1/events", params={"type": "reconciliation.exception.resolved"})
    assert r.status_code == 200
    assert {e["data"]["object"]["id"] for e in r.json()["data"]} == {
        am["id"],
        fm["id"],
        mg["id"],
        ms["id"],
    }
    with runtime.db.reader() as uow:
        from strongbox.audit.models import AuditEntry

        actions = [
            a
            for (a,) in uow.session.query(AuditEntry.action)
            .filter(AuditEntry.resource_id == am["id"])
            .order_by(AuditEntry.seq)
        ]
    assert actions == ["reconciliation.exception.created", "reconciliation.exception.resolved"]


def test_a_failed_posting_leaves_the_exception_open(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    book = _book(api)
    upload(api, account, _edited_report(runtime, merchant, book))
    run(api, account, today())
    am = next(e for e in exceptions(api) if e["outcome"] == "amount_mismatch")

    def broken(uow: Any, event: Any) -> None:
        raise RuntimeError("the ledger is down")

    runtime.dispatcher.subscribe("reconciliation.exception.resolved", broken)
    r = api.post(
        f"/v1/reconciliation/exceptions/{am['id']}/resolve", data={"action": "accept_gateway"}
    )
    assert r.status_code == 500
    after = api.get(f"/v1/reconciliation/exceptions/{am['id']}").json()
    assert (after["status"], after["resolution"]) == ("open", None)
    error_of(api.get(f"/v1/ledger/transfers/sb.{am['id']}.resolution"), 404)


def test_bad_input_gets_stripe_shaped_errors(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str, new_merchant: Any
) -> None:
    pay(api, 1000)
    text = report(runtime, merchant.id)
    cases: list[tuple[Any, int, str, str | None]] = [
        (upload(api, "mca_nope", text), 404, "resource_missing", "connector_account"),
        (upload(api, account, "hello,world\n1,2\n"), 400, "report_format_unknown", "format"),
        (upload(api, account, text, format="bogus"), 400, "parameter_invalid", "format"),
        (
            upload(api, account, text.replace("10.00", "10.001")),
            400,
            "report_invalid",
            "report",
        ),
        (
            api.post("/v1/reconciliation/runs", data={"connector_account": account}),
            400,
            "parameter_missing",
            "date",
        ),
        (
            api.post(
                "/v1/reconciliation/runs",
                data={"connector_account": account, "date": "2026-02-30"},
            ),
            400,
            "parameter_invalid",
            "date",
        ),
        (
            api.post("/v1/reconciliation/exceptions/rcx_nope/resolve", data={"action": "timing"}),
            404,
            "resource_missing",
            "id",
        ),
        (api.get("/v1/reconciliation/runs/rcr_nope"), 404, "resource_missing", "id"),
        (
            api.post(
                "/v1/reconciliation/runs",
                data={"connector_account": account, "date": "9999-12-31"},
            ),
            400,
            "parameter_invalid",
            "date",
        ),
    ]
    for resp, status, code, param in cases:
        err = error_of(resp, status)
        assert (err["code"], err.get("param")) == (code, param), err
    bad_line = error_of(upload(api, account, text.replace("10.00", "10.001")), 400)
    assert bad_line["message"].startswith("Line 2: ")
    assert upload(api, account, text).status_code == 200
    again = error_of(upload(api, account, text), 400)
    assert again["code"] == "report_already_imported"
    # Another merchant sees none of it.
    other = new_merchant()
    api.headers.update(other.headers)
    error_of(upload(api, account, text + "\n"), 404)
    assert exceptions(api) == []


def test_a_rerun_keeps_resolutions_and_clears_what_a_late_report_explains(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    book = _book(api)
    header, rows = rows_of(_report(runtime, merchant))
    p3_ref = None
    with runtime.db.reader() as uow:
        from strongbox.payments.models import PaymentIntent

        p3_ref = uow.session.query(PaymentIntent).filter_by(id=book["p3"]["id"]).one()
        p3_ref = p3_ref.gateway_reference
    late = [r for r in rows if r["source_id"] == p3_ref]
    first = [r for r in rows if r["source_id"] != p3_ref]
    first[0] = {**first[0], "gross": "1.00", "net": "1.00"}  # an amount mismatch
    upload(api, account, csv_of(header, first))
    run1 = run(api, account, today())
    assert counts(run1) == {"matched": 2, "amount_mismatch": 1, "missing_at_gateway": 1}
    open1 = {e["outcome"]: e for e in exceptions(api, status="open")}
    r = api.post(
        f"/v1/reconciliation/exceptions/{open1['amount_mismatch']['id']}/resolve",
        data={"action": "write_off"},
    )
    assert r.status_code == 200, r.text

    # The gateway's next file brings the missing line (and repeats one already imported).
    r = upload(api, account, csv_of(header, late + first[1:2]))
    assert (r.json()["lines"], r.json()["already_imported"]) == (1, 1)
    run2 = run(api, account, today())
    assert counts(run2) == {"matched": 3, "amount_mismatch": 1}
    assert run2["open_exceptions"] == 0
    assert api.get(f"/v1/reconciliation/runs/{run1['id']}").json()["superseded"] is True
    after = {e["id"]: e for e in exceptions(api)}
    assert len(after) == 2  # the same two exceptions, none raised twice
    mism = after[open1["amount_mismatch"]["id"]]
    assert (mism["status"], mism["resolution"]["action"], mism["run"]) == (
        "resolved",
        "write_off",
        run2["id"],
    )
    cleared = after[open1["missing_at_gateway"]["id"]]
    assert (cleared["status"], cleared["resolution"]["action"]) == ("cleared", "cleared")


def test_a_line_on_the_next_day_pairs_by_reference_and_is_not_missing_twice(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    book = _book(api)
    header, rows = rows_of(_report(runtime, merchant))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    moved = rows[0]
    moved["created_utc"] = f"{tomorrow} 00:30:00"
    upload(api, account, csv_of(header, rows))
    later = run(api, account, tomorrow)
    assert counts(later) == {"matched": 1}
    now = run(api, account, today())
    # The payment the next day's line paired is not missing at the gateway today.
    assert counts(now) == {"matched": 3}
    assert book["p1"]["id"]  # the payments exist; nothing is open
    assert exceptions(api, status="open") == []


def test_lines_without_a_known_reference_pair_by_amount_and_date(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    pay(api, 4321)
    header, rows = rows_of(_report(runtime, merchant))
    rows[0]["source_id"] = "ch_renamed_by_the_gateway"
    upload(api, account, csv_of(header, rows))
    assert counts(run(api, account, today())) == {"matched": 1}


def test_a_line_far_outside_the_window_still_pairs_by_reference(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    pay(api, 2468)
    header, rows = rows_of(_report(runtime, merchant))
    later = (datetime.now(UTC) + timedelta(days=9)).date().isoformat()
    rows[0]["created_utc"] = f"{later} 12:00:00"
    upload(api, account, csv_of(header, rows))
    body = run(api, account, later, window_days="0")
    assert counts(body) == {"matched": 1}
    # By amount alone it would not have paired: no reference, nothing in a 0-day window.
    rows[0].update(source_id="ch_other", balance_transaction_id="txn_other")
    upload(api, account, csv_of(header, rows))
    again = run(api, account, later, window_days="0")
    assert counts(again) == {"matched": 1, "missing_in_strongbox": 1}


def test_an_import_over_http_is_idempotent(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    pay(api, 1500)
    text = _report(runtime, merchant)
    key = {"Idempotency-Key": "import-1"}
    first = api.post(
        "/v1/reconciliation/report_imports",
        params={"connector_account": account},
        content=text.encode(),
        headers={"Content-Type": "text/csv", **key},
    )
    assert first.status_code == 200, first.text
    again = api.post(
        "/v1/reconciliation/report_imports",
        params={"connector_account": account},
        content=text.encode(),
        headers={"Content-Type": "text/csv", **key},
    )
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    other = api.post(
        "/v1/reconciliation/report_imports",
        params={"connector_account": account},
        content=(text + "\n").encode(),
        headers={"Content-Type": "text/csv", **key},
    )
    assert error_of(other, 400)["type"] == "idempotency_error"
    listed = api.get("/v1/reconciliation/report_imports").json()["data"]
    assert [i["id"] for i in listed] == [first.json()["id"]]


def test_a_line_listed_three_times_is_two_duplicates(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    pay(api, 3333)
    header, rows = rows_of(_report(runtime, merchant))
    upload(api, account, csv_of(header, rows * 3))
    body = run(api, account, today())
    assert counts(body) == {"matched": 1, "duplicate": 2}
    dups = exceptions(api, outcome="duplicate")
    assert len(dups) == 2
    assert len({d["id"] for d in dups}) == 2
    # The same day run again finds the same two, raises none.
    run(api, account, today())
    assert {d["id"] for d in exceptions(api, outcome="duplicate")} == {d["id"] for d in dups}


def test_concurrent_runs_of_one_day_neither_fail_nor_duplicate(
    api: TestClient, runtime: Runtime, merchant: Merchant, account: str
) -> None:
    import threading

    from strongbox.events.types import RequestContext
    from strongbox.reconciliation import service as recon

    book = _book(api)
    upload(api, account, _edited_report(runtime, merchant, book))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            with runtime.db.unit_of_work() as uow:
                recon.run_day(uow, RequestContext(merchant.id, "test"), account, today())
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    runs = api.get("/v1/reconciliation/runs").json()["data"]
    assert len(runs) == 4
    assert [r["superseded"] for r in runs].count(False) == 1
    assert len(exceptions(api)) == 5
