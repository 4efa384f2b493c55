"""Outbound deliveries end to end: fan-out, Standard Webhooks signatures, retries, order."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from webhook_helpers import (
    Receiver,
    Reply,
    create_endpoint,
    create_payment,
    deliver,
    deliverer,
    fanout,
    make_due,
)

from strongbox.events.models import OutboxEvent
from strongbox.runtime import Runtime
from strongbox.webhooks import service
from strongbox.webhooks.models import WebhookDelivery, WebhookEndpoint


@pytest.fixture
def receiver() -> Any:
    with Receiver() as r:
        yield r


def attempts(api: Any, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    r = api.get(f"/v1/webhook_endpoints/{endpoint_id}/attempts", params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def verified(secret: str, req: Any) -> dict[str, Any]:
    body: dict[str, Any] = Webhook(secret).verify(req.body, req.headers)
    return body


def test_every_event_is_delivered_signed_and_in_order(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/all", ["*"])
    pis = [create_payment(api, confirm="true") for _ in range(3)]
    assert deliver(runtime) > 0
    got = receiver.on("/all")
    events = [verified(e["secret"], r) for r in got]
    with runtime.db.read() as s:
        expected = [ev.id for ev in s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]
    assert [ev["id"] for ev in events] == expected  # each once, in event order
    assert all(r.headers["webhook-id"] == ev["id"] for r, ev in zip(got, events, strict=True))
    assert {ev["object"] for ev in events} == {"event"}
    succeeded = [ev for ev in events if ev["type"] == "payment_intent.succeeded"]
    assert [ev["data"]["object"]["id"] for ev in succeeded] == [p["id"] for p in pis]
    assert got[0].headers["content-type"] == "application/json"
    assert got[0].headers["user-agent"].startswith("Strongbox-Webhooks/")
    # Nothing is delivered twice.
    assert deliver(runtime) == 0
    assert len(receiver.on("/all")) == len(expected)
    log = attempts(api, e["id"])
    assert len(log) == len(expected)
    assert {a["outcome"] for a in log} == {"succeeded"}
    assert {a["status_code"] for a in log} == {200}
    assert all(a["latency_ms"] >= 0 and a["response_excerpt"] == "ok" for a in log)


def test_only_enabled_events_of_the_merchant_are_delivered(
    api: Any, client: Any, new_merchant: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/some", ["payment_intent.succeeded"])
    other = new_merchant()
    client.post(
        "/v1/payment_intents",
        headers=other.headers,
        data={
            "amount": 100,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    create_payment(api, confirm="true")
    deliver(runtime)
    types = [verified(e["secret"], r)["type"] for r in receiver.on("/some")]
    assert types == ["payment_intent.succeeded"]


def test_events_from_before_the_endpoint_existed_are_not_sent(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    create_payment(api)
    time.sleep(0.01)
    create_endpoint(api, receiver.url + "/late", ["*"])
    deliver(runtime)
    assert receiver.on("/late") == []


def test_failures_are_retried_on_the_schedule_and_recorded(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/flaky", ["payment_intent.created"])
    receiver.reply = lambda _p: Reply(500, b"x" * 5000)
    create_payment(api)
    before = time.time()
    deliver(runtime)
    [a] = attempts(api, e["id"])
    assert a["outcome"] == "failed"
    assert a["status_code"] == 500
    assert a["number"] == 1
    assert len(a["response_excerpt"]) == 1000  # capped
    delay = a["next_attempt_at"] - before
    # 5 s +- 10 % jitter, plus the time the delivery took, minus up to 1 s of rounding
    assert 3.5 <= delay <= 8
    assert deliver(runtime) == 0  # not due yet
    make_due(runtime)
    receiver.reply = lambda _p: Reply(204, b"")
    assert deliver(runtime) == 1
    log = attempts(api, e["id"])
    assert [x["number"] for x in log] == [2, 1]
    assert log[0]["outcome"] == "succeeded"
    # Both attempts carried the same webhook-id (the event id).
    ids = {r.headers["webhook-id"] for r in receiver.on("/flaky")}
    assert len(ids) == 1


def test_retry_after_is_honoured_for_429_and_503(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/slowdown", ["payment_intent.created"])
    receiver.reply = lambda _p: Reply(429, b"", {"Retry-After": "120"})
    create_payment(api)
    before = time.time()
    deliver(runtime)
    [a] = attempts(api, e["id"])
    assert 119 <= a["next_attempt_at"] - before <= 125
    make_due(runtime)
    receiver.reply = lambda _p: Reply(503, b"", {"Retry-After": "3600"})
    deliver(runtime)
    latest = attempts(api, e["id"])[0]
    assert 3590 <= latest["next_attempt_at"] - before <= 3700
    # Retry-After is ignored for other statuses: the schedule applies (5 min after attempt 2).
    make_due(runtime)
    receiver.reply = lambda _p: Reply(500, b"", {"Retry-After": "86400"})
    deliver(runtime)
    latest = attempts(api, e["id"])[0]
    assert 30 * 60 * 0.9 - 5 <= latest["next_attempt_at"] - time.time() <= 30 * 60 * 1.1


def test_410_disables_the_endpoint_and_tells_the_merchant(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    gone = create_endpoint(api, receiver.url + "/gone", ["payment_intent.created"])
    watcher = create_endpoint(api, receiver.url + "/watch", ["webhook_endpoint.disabled"])
    receiver.reply = lambda p: Reply(410) if p == "/gone" else Reply(200)
    create_payment(api)
    deliver(runtime)
    assert api.get(f"/v1/webhook_endpoints/{gone['id']}").json()["status"] == "disabled"
    ev = api.get("/v1/events", params={"type": "webhook_endpoint.disabled"}).json()["data"]
    assert [x["data"]["object"]["id"] for x in ev] == [gone["id"]]
    assert ev[0]["data"]["object"]["disabled_reason"] == "gone"
    deliver(runtime)
    [note] = [verified(watcher["secret"], r) for r in receiver.on("/watch")]
    assert note["type"] == "webhook_endpoint.disabled"
    # A disabled endpoint gets nothing more.
    create_payment(api)
    deliver(runtime)
    assert len(receiver.on("/gone")) == 1


def test_after_the_last_retry_the_endpoint_is_disabled(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/dead", ["payment_intent.created"])
    receiver.reply = lambda _p: Reply(500)
    create_payment(api)
    deliver(runtime)
    for _ in range(service.MAX_ATTEMPTS - 1):
        make_due(runtime)
        deliver(runtime)
    log = attempts(api, e["id"])
    assert [a["number"] for a in log] == list(range(service.MAX_ATTEMPTS, 0, -1))
    assert log[0]["next_attempt_at"] is None
    assert api.get(f"/v1/webhook_endpoints/{e['id']}").json()["status"] == "disabled"
    ev = api.get("/v1/events", params={"type": "webhook_endpoint.disabled"}).json()["data"]
    assert ev[0]["data"]["object"]["disabled_reason"] == "retries_exhausted"
    make_due(runtime)
    deliver(runtime)
    assert len(receiver.on("/dead")) == service.MAX_ATTEMPTS


def test_schedule_delays_follow_the_standard_with_jitter() -> None:
    import random

    rng = random.Random(7)
    expected = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    for n, base in enumerate(expected, start=1):
        d = service.next_delay(n, rng, None)
        assert d is not None
        assert base * 0.9 <= d.total_seconds() <= min(base * 1.1, 86400)
    assert service.next_delay(service.MAX_ATTEMPTS, rng, None) is None
    assert service.next_delay(1, rng, 10**9) == timedelta(hours=24)


def test_rotation_overlap_signs_with_both_secrets(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/rot", ["payment_intent.created"])
    new = api.post(f"/v1/webhook_endpoints/{e['id']}/rotate_secret").json()["secret"]
    create_payment(api)
    deliver(runtime)
    [req] = receiver.on("/rot")
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    verified(e["secret"], req)
    verified(new, req)
    # Once the overlap is over only the new secret signs.
    newer = api.post(
        f"/v1/webhook_endpoints/{e['id']}/rotate_secret", data={"expires_in": 0}
    ).json()["secret"]
    create_payment(api)
    deliver(runtime)
    req = receiver.on("/rot")[-1]
    assert len(req.headers["webhook-signature"].split(" ")) == 1
    verified(newer, req)
    with pytest.raises(Exception, match="signature"):
        verified(new, req)


def test_ed25519_endpoint_sends_v1_and_v1a(api: Any, runtime: Runtime, receiver: Receiver) -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    e = create_endpoint(api, receiver.url + "/ed", ["payment_intent.created"], ed25519="true")
    assert e["ed25519_public_key"].startswith("whpk_")
    create_payment(api)
    deliver(runtime)
    [req] = receiver.on("/ed")
    verified(e["secret"], req)
    parts = dict(p.split(",", 1) for p in req.headers["webhook-signature"].split(" "))
    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(e["ed25519_public_key"][5:]))
    content = f"{req.headers['webhook-id']}.{req.headers['webhook-timestamp']}.".encode()
    pub.verify(base64.b64decode(parts["v1a"]), content + req.body)


def test_manual_redelivery_over_the_api(api: Any, runtime: Runtime, receiver: Receiver) -> None:
    e = create_endpoint(api, receiver.url + "/re", ["payment_intent.created"])
    pi = create_payment(api)
    deliver(runtime)
    [first] = receiver.on("/re")
    event_id = first.headers["webhook-id"]
    r = api.post(f"/v1/webhook_endpoints/{e['id']}/redeliver", data={"event": event_id})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["object"] == "webhook_delivery"
    assert d["status"] == "pending"
    assert d["event"] == event_id
    deliver(runtime)
    again = receiver.on("/re")
    assert len(again) == 2
    assert verified(e["secret"], again[1])["data"]["object"]["id"] == pi["id"]
    log = attempts(api, e["id"], event=event_id)
    assert [a["trigger"] for a in log] == ["manual", "scheduled"]
    deliveries = api.get(f"/v1/webhook_endpoints/{e['id']}/deliveries").json()["data"]
    assert [x["status"] for x in deliveries] == ["succeeded"]


def test_an_unreachable_endpoint_records_a_connection_error(api: Any, runtime: Runtime) -> None:
    from support import free_port

    e = create_endpoint(api, f"http://127.0.0.1:{free_port()}/x", ["payment_intent.created"])
    create_payment(api)
    deliver(runtime)
    [a] = attempts(api, e["id"])
    assert a["status_code"] is None
    assert a["error"].startswith("connection error")


def test_private_destinations_are_refused_unless_allowed(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/private", ["payment_intent.created"])
    create_payment(api)
    deliver(runtime, allow_private=False)
    assert receiver.on("/private") == []
    [a] = attempts(api, e["id"])
    assert a["error"].startswith("destination refused")


def test_delivery_connects_to_the_resolved_address_with_the_original_host(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        assert host == "hooks.merchant.test"
        return ["127.0.0.1"]

    e = create_endpoint(
        api, f"http://hooks.merchant.test:{receiver.port}/named", ["payment_intent.created"]
    )
    create_payment(api)
    deliver(runtime, resolver=resolver)
    [req] = receiver.on("/named")
    assert req.headers["host"] == f"hooks.merchant.test:{receiver.port}"
    verified(e["secret"], req)


def test_two_workers_never_deliver_the_same_event_twice(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    endpoints = [create_endpoint(api, receiver.url + f"/w{i}", ["*"]) for i in range(4)]
    for _ in range(5):
        create_payment(api)
    fanout(runtime)
    workers = [deliverer(runtime) for _ in range(3)]
    threads = [threading.Thread(target=lambda w=w: asyncio.run(w.run_once())) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for w in workers:  # whatever one worker left for another
        asyncio.run(w.run_once())
    for i, e in enumerate(endpoints):
        ids = [verified(e["secret"], r)["id"] for r in receiver.on(f"/w{i}")]
        assert len(ids) == 5
        assert len(set(ids)) == 5


def test_a_slow_or_dead_endpoint_does_not_delay_the_others(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    """The fast endpoint gets all its events while the slow one still holds its first
    request (a condition, not a stopwatch: it holds until the test lets it go)."""
    from support import free_port

    slow = create_endpoint(api, receiver.url + "/slow", ["payment_intent.created"])
    create_endpoint(api, f"http://127.0.0.1:{free_port()}/dead", ["payment_intent.created"])
    fast = create_endpoint(api, receiver.url + "/fast", ["payment_intent.created"])
    held = threading.Event()
    receiver.reply = lambda p: Reply(200, hold=held) if p == "/slow" else Reply(200)
    w = deliverer(runtime, timeout_seconds=120.0)
    stop: asyncio.Event | None = None
    loop_ready = threading.Event()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        loop_ready.set()
        await w.run(stop)

    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_until_complete, args=(main(),))
    t.start()
    assert loop_ready.wait(60)
    try:
        for _ in range(3):
            create_payment(api)
            fanout(runtime)
            w.wake()
        deadline = time.monotonic() + 120
        while len(receiver.on("/fast")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(receiver.on("/fast")) == 3
        assert not held.is_set()  # ... all while the slow endpoint still holds its request
        assert len(receiver.on("/slow")) <= 1
    finally:
        held.set()
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        t.join(120)
        loop.close()
    with runtime.db.read() as s:
        slow_row = s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id == slow["id"])).one()
        assert slow_row.claimed_until is None  # released on stop
    assert fast["id"]


def test_deleting_an_endpoint_cancels_its_pending_deliveries(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/del", ["payment_intent.created"])
    create_payment(api)
    fanout(runtime)
    api.delete(f"/v1/webhook_endpoints/{e['id']}")
    assert deliver(runtime) == 0
    with runtime.db.read() as s:
        assert [d.status for d in s.scalars(select(WebhookDelivery))] == ["canceled"]
    assert receiver.on("/del") == []


def test_event_body_is_the_stripe_event(api: Any, runtime: Runtime, receiver: Receiver) -> None:
    e = create_endpoint(api, receiver.url + "/body", ["payment_intent.created"])
    pi = create_payment(api)
    deliver(runtime)
    [req] = receiver.on("/body")
    body = orjson.loads(req.body)
    ev = api.get(f"/v1/events/{body['id']}").json()
    assert body == ev
    assert body["data"]["object"]["id"] == pi["id"]
    assert verified(e["secret"], req) == body


def test_redelivery_before_fan_out_is_not_duplicated(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/early", ["payment_intent.created"])
    create_payment(api)
    [event] = api.get("/v1/events").json()["data"]
    r = api.post(f"/v1/webhook_endpoints/{e['id']}/redeliver", data={"event": event["id"]})
    assert r.status_code == 200
    deliver(runtime)  # fans out, then delivers
    assert len(receiver.on("/early")) == 1


def test_a_failing_endpoint_is_backed_off_not_hammered(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    e = create_endpoint(api, receiver.url + "/down", ["payment_intent.created"])
    receiver.reply = lambda _p: Reply(503)
    for _ in range(3):
        create_payment(api)
    deliver(runtime)
    deliver(runtime)
    # One attempt, not one per due event: the rest wait with the endpoint.
    assert len(receiver.on("/down")) == 1
    assert len(attempts(api, e["id"])) == 1
    receiver.reply = lambda _p: Reply(200)
    make_due(runtime)
    deliver(runtime)
    assert len(receiver.on("/down")) == 4


def test_redelivery_racing_the_fan_out_restarts_the_fanned_out_delivery(
    api: Any, runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = create_endpoint(api, receiver.url + "/race", ["payment_intent.created"])
    create_payment(api)
    [event] = api.get("/v1/events").json()["data"]
    deliver(runtime)  # fanned out and delivered once
    assert len(receiver.on("/race")) == 1
    # The redelivery's first look misses the row, as if the fan-out committed it just after.
    real = service.repo.get_delivery
    calls: list[int] = []

    def late(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(service.repo, "get_delivery", late)
    r = api.post(f"/v1/webhook_endpoints/{e['id']}/redeliver", data={"event": event["id"]})
    assert r.status_code == 200, r.text
    assert len(calls) == 2  # the insert met the unique key; the existing row was restarted
    monkeypatch.undo()
    with runtime.db.read() as s:
        rows = [
            (d.manual, d.status)
            for d in s.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == e["id"])
            )
        ]
    assert rows == [(True, "pending")]
    deliver(runtime)
    assert len(receiver.on("/race")) == 2


def test_a_claim_takes_the_same_statements_for_any_number_of_endpoints(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    from sqlalchemy import event

    from strongbox.webhooks.delivery import Deliverer, DeliveryConfig

    endpoints = [create_endpoint(api, receiver.url + f"/c{i}", ["*"]) for i in range(3)]
    for _ in range(3):
        create_payment(api)
    fanout(runtime)
    with runtime.db.read() as s:
        order = list(s.scalars(select(OutboxEvent.id).order_by(OutboxEvent.seq)))
    config = DeliveryConfig(allow_private=True, batch_per_endpoint=2)
    w = Deliverer(runtime.db, runtime.sealer, config)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        one = w.claim(1, set())
        for_one = len(statements)
        statements.clear()
        rest = w.claim(10, set())
        for_two = len(statements)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert (len(one), len(rest)) == (1, 2)
    assert for_one == for_two
    assert {b.endpoint_id for b in one + rest} == {e["id"] for e in endpoints}
    for b in one + rest:
        # each endpoint's first two due deliveries, in event order
        assert [m.msg_id for m in b.messages] == order[:2]


def test_due_deliveries_take_each_endpoints_first_due_ones_with_uneven_backlogs(
    api: Any, runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from strongbox.webhooks import repository as repo

    a, b, c = (create_endpoint(api, receiver.url + f"/u{i}", ["*"])["id"] for i in range(3))
    for _ in range(6):
        create_payment(api)
    fanout(runtime)
    with runtime.db.unit_of_work() as uow:
        now = uow.clock.now()
        rows = {
            e: list(
                uow.session.scalars(
                    select(WebhookDelivery.id)
                    .where(WebhookDelivery.endpoint_id == e)
                    .order_by(WebhookDelivery.event_seq)
                )
            )
            for e in (a, b, c)
        }
        assert len(rows[a]) >= 5
        # B: only its third delivery is still due; C: all pending but due later.
        done = [d for i, d in enumerate(rows[b]) if i != 2]
        uow.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(done)).values(status="delivered")
        )
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == c)
            .values(next_attempt_at=now + timedelta(hours=1))
        )
        uow.commit()
    with runtime.db.read() as s:
        got = repo.due_deliveries(s, [a, b, c], now, 4)
        everything = repo.due_deliveries(s, [a], now, 1000)
        assert [d.delivery_id for d in got[a]] == rows[a][:4]
        assert [d.delivery_id for d in got[b]] == [rows[b][2]]
        assert got[c] == []
        events = {
            d.id: d.event_id for d in s.scalars(select(WebhookDelivery)) if d.endpoint_id == a
        }
        assert all(events[d.delivery_id] == d.id for d in got[a])  # each with its own event
        assert [d.delivery_id for d in everything[a]] == rows[a]
        monkeypatch.setattr(repo, "_SQLITE_UNION", 1)  # SQLite: one statement per endpoint
        chunked = repo.due_deliveries(s, [a, b, c], now, 4)
        assert {e: [d.delivery_id for d in v] for e, v in chunked.items()} == {
            e: [d.delivery_id for d in v] for e, v in got.items()
        }


def test_a_redelivery_asked_while_the_first_attempt_is_in_flight_is_delivered(
    api: Any, runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23 item 6: the redelivery lands between the first attempt's POST and the
    worker's record of it (forced by running it from inside ``Deliverer.record``)."""
    from strongbox.webhooks.delivery import Deliverer

    e = create_endpoint(api, receiver.url + "/inflight", ["payment_intent.created"])
    create_payment(api)
    [event] = api.get("/v1/events").json()["data"]
    real = Deliverer.record
    asked: list[int] = []

    def redeliver_then_record(self: Deliverer, endpoint_id: str, results: Any) -> None:
        if not asked:
            assert len(receiver.on("/inflight")) == 1  # sent, not yet recorded
            path = f"/v1/webhook_endpoints/{e['id']}/redeliver"
            asked.append(api.post(path, data={"event": event["id"]}).status_code)
        real(self, endpoint_id, results)

    monkeypatch.setattr(Deliverer, "record", redeliver_then_record)
    deliver(runtime)
    assert asked == [200]
    # The first attempt is on record; the delivery still waits for the redelivery.
    [first] = attempts(api, e["id"])
    assert (first["number"], first["trigger"], first["outcome"]) == (1, "scheduled", "succeeded")
    [d] = api.get(f"/v1/webhook_endpoints/{e['id']}/deliveries").json()["data"]
    assert (d["status"], d["attempts"]) == ("pending", 0)
    assert deliver(runtime) == 1
    assert len(receiver.on("/inflight")) == 2
    log = attempts(api, e["id"])
    assert [(a["number"], a["trigger"]) for a in log] == [(1, "manual"), (1, "scheduled")]
    [d] = api.get(f"/v1/webhook_endpoints/{e['id']}/deliveries").json()["data"]
    assert (d["status"], d["attempts"]) == ("succeeded", 1)
    assert deliver(runtime) == 0  # and nothing more


def test_a_result_on_a_canceled_delivery_changes_nothing(
    api: Any, runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strongbox.webhooks.delivery import Deliverer

    e = create_endpoint(api, receiver.url + "/gone-meanwhile", ["payment_intent.created"])
    create_payment(api)
    real = Deliverer.record

    def delete_then_record(self: Deliverer, endpoint_id: str, results: Any) -> None:
        assert api.delete(f"/v1/webhook_endpoints/{e['id']}").status_code == 200
        real(self, endpoint_id, results)

    monkeypatch.setattr(Deliverer, "record", delete_then_record)
    deliver(runtime)
    assert len(receiver.on("/gone-meanwhile")) == 1
    with runtime.db.read() as s:
        assert [d.status for d in s.scalars(select(WebhookDelivery))] == ["canceled"]


def test_recording_a_batch_takes_the_same_statements_for_any_number_of_results(
    api: Any, runtime: Runtime, receiver: Receiver
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import event

    from strongbox.webhooks.delivery import Deliverer, DeliveryConfig

    one = create_endpoint(api, receiver.url + "/one", ["payment_intent.succeeded"])["id"]
    many = create_endpoint(api, receiver.url + "/many", ["*"])["id"]
    create_payment(api, confirm="true")
    for _ in range(2):
        create_payment(api)  # created only: more events for "*"
    fanout(runtime)
    w = Deliverer(runtime.db, runtime.sealer, DeliveryConfig(allow_private=True))
    batches = {b.endpoint_id: b for b in w.claim(10, set())}
    assert len(batches[one].messages) == 1
    assert len(batches[many].messages) >= 4
    counts: dict[str, int] = {}
    for endpoint_id, batch in batches.items():
        results = [
            service.AttemptResult(m.claimed, 200, 1, started_at=datetime.now(UTC))
            for m in batch.messages
        ]
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)  # noqa: B023 - read right after this record

        event.listen(runtime.db.engine, "before_cursor_execute", count)
        try:
            w.record(endpoint_id, results)
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", count)
        counts[endpoint_id] = len(statements)
    assert counts[one] == counts[many]
    with runtime.db.read() as s:
        statuses = {d.status for d in s.scalars(select(WebhookDelivery))}
    assert statuses == {"succeeded"}
    assert len(attempts(api, many)) == len(batches[many].messages)
