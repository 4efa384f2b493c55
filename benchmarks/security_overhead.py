"""Cost of the security middleware and of redacted JSON logging, against baselines measured in
the same run (ratios; the machine is noisy).

1. ASGI requests to a trivial route, called in-process (no sockets): the bare app vs the same
   app behind ``GuardMiddleware`` (body limit + per-address moving-window limit, in memory)
   and ``SecurityHeadersMiddleware``. Reported as µs per request and the added µs.
2. Formatting one log record: ``logging.Formatter`` (plain text, the baseline) vs
   ``JsonLogFormatter`` (JSON, request id, redaction of message and extra fields), for a
   line without secrets and a line with a card number and a key.

Usage: ``.venv/bin/python benchmarks/security_overhead.py [--requests N] [--records N]``
(defaults 20,000 and 50,000; about 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from strongbox.api.security import GuardMiddleware, SecurityHeadersMiddleware, TrustedProxies
from strongbox.auth.ratelimit import address_limiter
from strongbox.core.logging import JsonLogFormatter


def _app() -> Starlette:
    async def ok(_request: Any) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return Starlette(routes=[Route("/v1/ping", ok)])


def _secured() -> ASGIApp:
    proxies = TrustedProxies("")
    limiter = address_limiter(10**9)
    guarded = GuardMiddleware(
        _app(), max_body_bytes=1024 * 1024, limiter=lambda: limiter, proxies=proxies
    )
    return SecurityHeadersMiddleware(guarded, proxies=proxies)


async def _drive(app: ASGIApp, n: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/ping",
        "raw_path": b"/v1/ping",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / n * 1e6


def bench_middleware(n: int, rounds: int = 5) -> tuple[float, float]:
    bare, secured = _app(), _secured()
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):  # interleaved, median of rounds
        a.append(asyncio.run(_drive(bare, n // rounds)))
        b.append(asyncio.run(_drive(secured, n // rounds)))
    return statistics.median(a), statistics.median(b)


def bench_logging(n: int) -> dict[str, float]:
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    json_fmt = JsonLogFormatter()

    def record(msg: str, args: tuple[Any, ...], **extra: Any) -> logging.LogRecord:
        r = logging.LogRecord("strongbox.bench", logging.INFO, __file__, 1, msg, args, None)
        r.__dict__.update(extra)
        return r

    clean = ("payment %s succeeded for %d %s", ("pi_3KxAbCdEfGhIjKlMnOpQrStU", 2000, "usd"))
    dirty = ("card %s with key %s", ("4242 4242 4242 4242", "sk_test_abcdefghijklmnop1234"))
    out: dict[str, float] = {}
    for label, (msg, args) in (("clean", clean), ("secret", dirty)):
        for name, fmt in (("text", plain), ("json", json_fmt)):
            start = time.perf_counter()
            for _ in range(n):
                fmt.format(record(msg, args, merchant="acct_123", amount=2000))
            out[f"{label}/{name}"] = (time.perf_counter() - start) / n * 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--records", type=int, default=50_000)
    args = ap.parse_args()
    bare, secured = bench_middleware(args.requests)
    print(f"ASGI request, bare app:          {bare:7.1f} µs")
    print(f"ASGI request, + guard + headers: {secured:7.1f} µs  (+{secured - bare:.1f} µs, "
          f"x{secured / bare:.2f})")  # fmt: skip
    logs = bench_logging(args.records)
    for label in ("clean", "secret"):
        text, js = logs[f"{label}/text"], logs[f"{label}/json"]
        print(f"log record ({label:6}): text {text:5.1f} µs, redacted JSON {js:5.1f} µs "
              f"(x{js / text:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
