"""The browser tests cannot reach the network (issue 23 item 7): Chromium's NetLog, read
after it closed, shows only loopback destinations, and names resolve to nothing."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.browser import Chromium, read_netlog, resolver_rules, trace


def _netlog(events: list[tuple[str, int, dict[str, Any]]]) -> dict[str, Any]:
    names = sorted({name for name, _, _ in events})
    types = {name: i for i, name in enumerate(names)}
    return {
        "constants": {"logEventTypes": types},
        "events": [
            {"type": types[name], "source": {"id": source}, "phase": 0, "params": params}
            for name, source, params in events
        ],
    }


def test_the_check_finds_every_way_out_of_loopback() -> None:
    found = trace(
        _netlog(
            [
                ("HOST_RESOLVER_MANAGER_JOB", 1, {"host": "https://~notfound"}),  # the rules
                ("HOST_RESOLVER_MANAGER_JOB", 2, {"host": "http://127.0.0.1:8080"}),
                ("HOST_RESOLVER_MANAGER_JOB", 3, {"host": "https://accounts.google.com:443"}),
                ("DNS_TRANSACTION", 4, {"hostname": "update.googleapis.com"}),
                ("UDP_CONNECT", 5, {"address": "8.8.8.8:53"}),
                ("UDP_BYTES_SENT", 5, {"byte_count": 40}),
                ("UDP_CONNECT", 6, {"address": "[2001:4860:4860::8888]:443"}),  # nothing sent
                ("UDP_LOCAL_ADDRESS", 6, {"address": "[fd00::2]:4000"}),
                ("TCP_CONNECT_ATTEMPT", 7, {"address": "127.0.0.1:8080"}),
                ("TCP_CONNECT", 7, {"address_list": ["[::1]:8080"]}),
                ("TCP_CONNECT_ATTEMPT", 8, {"address": "142.250.74.46:443"}),
                ("UDP_BYTES_SENT", 9, {"address": "224.0.0.251:5353", "byte_count": 9}),
            ]
        )
    )
    assert found.violations == [
        "HOST_RESOLVER_MANAGER_JOB: resolving https://accounts.google.com:443",
        "DNS query for update.googleapis.com",
        "TCP_CONNECT_ATTEMPT to 142.250.74.46:443",
        "UDP_BYTES_SENT to 224.0.0.251:5353",
        "UDP datagrams to 8.8.8.8:53",
    ]
    assert found.route_probes == ["[2001:4860:4860::8888]:443"]
    assert found.loopback_connections == 2


def test_a_netlog_cut_short_is_still_read(tmp_path: Any) -> None:
    path = tmp_path / "netlog.json"
    path.write_text(
        '{"constants": {"logEventTypes": {"DNS_TRANSACTION": 1}}, "events": [\n'
        '{"type": 1, "source": {"id": 1}, "params": {"hostname": "example.com"}},\n'
    )
    assert trace(read_netlog(path)).violations == ["DNS query for example.com"]


@pytest.fixture
def local_site() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>local</title><p id=x>local page</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_shared_browser_reaches_loopback_and_nothing_else(
    chromium: Chromium, page: Any, local_site: str
) -> None:
    page.goto(local_site + "/")
    assert page.inner_text("#x") == "local page"
    # Names resolve to nothing and requests that are not for loopback fail on loopback.
    with pytest.raises(Exception, match=r"ERR_(NAME_NOT_RESOLVED|PROXY_CONNECTION_FAILED)"):
        page.goto("http://accounts.google.com/")
    page = page.context.new_page()  # the first one is on Chromium's error page
    page.goto(local_site + "/again")
    refused = page.evaluate(
        """() => fetch("https://update.googleapis.com/").then(() => "fetched", e => String(e))"""
    )
    assert refused != "fetched"
    page.context.close()
    chromium.close()  # the NetLog is complete once the browser is gone
    netlog = read_netlog(chromium.netlog)
    found = trace(netlog)
    assert found.violations == []
    assert found.loopback_connections > 0  # the check saw this test's own connections
    args = " ".join(chromium.browser_args)
    assert f"--host-resolver-rules={resolver_rules()}" in args
    # The rules were in effect: every name the browser asked for went to ~NOTFOUND.
    names = {v: k for k, v in netlog["constants"]["logEventTypes"].items()}
    asked = [
        str(e["params"]["host"])
        for e in netlog["events"]
        if names[e["type"]] == "HOST_RESOLVER_MANAGER_REQUEST" and "host" in (e.get("params") or {})
    ]
    assert any("~notfound" in h for h in asked), asked
    assert all("~notfound" in h or "127.0.0.1" in h for h in asked), asked
