"""Headless Chromium that cannot reach the network, and a NetLog check that proves it.

Every browser test launches Chromium through ``launch`` (via the ``browser`` fixture of
``tests/e2e/conftest.py``). Chromium's own background services (sign-in, component updates,
DNS probes after a failed navigation, DNS-over-HTTPS, the IPv6 reachability probe) try to
reach Google's hosts even with ``--disable-background-networking``, so the launch closes
every way out but loopback:

* ``--host-resolver-rules``: every name but ``localhost`` (and the loopback literals)
  resolves to nothing, so no DNS query is ever sent, to the system resolver or any other;
* ``--proxy-server`` pointing at a loopback port bound by the test and never listening:
  anything not for loopback (which Chromium never proxies) fails to connect, on loopback,
  so a request the rules miss still cannot leave the machine (this also keeps the error-page
  DNS probe, which asks public resolvers directly, from ever starting: a failed navigation
  is a proxy error, not a DNS error);
* QUIC, DNS-over-HTTPS and the built-in DNS client off, no proxy auto-detection (the proxy
  is fixed), WebRTC without non-proxied UDP;
* ``--log-net-log``: the network stack's own record of every resolution, socket and
  request, which ``trace`` reads after the browser closed.

What remains, and is not traffic: Chromium's IPv6 reachability check ``connect()``s a UDP
socket to ``[2001:4860:4860::8888]:443`` and reads its local address; a UDP ``connect`` only
asks the kernel for a route, and no datagram is sent (the NetLog shows none). ``trace``
lists such sockets as route probes and fails on any that sends or receives a datagram.
No switch of this Chromium (156) turns the check off (``EnableIPv6ReachabilityOverride``
did not, in our trials).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 60_000  # a page's waits: a bound for a stuck page, not for a slow machine
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")

# Playwright passes its own --disable-features / --enable-features lists; a second switch of
# the same name replaces the first, so its entries are repeated here (playwright-core's
# chromiumSwitches.ts) with ours added.
_PLAYWRIGHT_DISABLED = [
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
]
_DISABLED = [
    *_PLAYWRIGHT_DISABLED,
    "DnsOverHttps",
    "AsyncDns",
    "DialMediaRouteProvider",
    "Translate",
    "AutofillServerCommunication",
    "CertificateTransparencyComponentUpdater",
]
_ENABLED = ["CDPScreenshotNewSurface", "SkipListAccountsWithoutGaiaCookies"]


def resolver_rules() -> str:
    return "MAP * ~NOTFOUND, " + ", ".join(f"EXCLUDE {n}" for n in LOOPBACK_NAMES)


def chromium_args(dead_proxy_port: int, netlog: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--host-resolver-rules={resolver_rules()}",
        f"--proxy-server=http://127.0.0.1:{dead_proxy_port}",
        "--disable-quic",
        "--disable-features=" + ",".join(_DISABLED),
        "--enable-features=" + ",".join(_ENABLED),
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-breakpad",
        "--metrics-recording-only",
        "--no-pings",
        f"--log-net-log={netlog}",
        "--net-log-capture-mode=Default",
    ]


@dataclass
class Chromium:
    """One launched browser, the loopback port it proxies to, and its NetLog file."""

    browser: Any
    netlog: Path
    hole: socket.socket  # bound, never listening: connecting to it is refused
    browser_args: list[str]
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.browser.close()  # writes the NetLog's end
            self.hole.close()


def launch(playwright: Any, netlog: Path) -> Chromium:
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    port = hole.getsockname()[1]
    args = chromium_args(port, netlog)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    return Chromium(browser, netlog, hole, args)


# ---------------------------------------------------------------- reading the NetLog


def read_netlog(path: Path) -> dict[str, Any]:
    """The NetLog as JSON; a log cut short (a browser that died) is closed first."""
    text = path.read_text()
    try:
        data: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        data = json.loads(text.rstrip().rstrip(",") + "]}")
    return data


def _is_loopback_host(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint_host(endpoint: str) -> str:
    """'127.0.0.1:80' -> '127.0.0.1', '[::1]:443' -> '::1'."""
    if endpoint.startswith("["):
        return endpoint[1 : endpoint.index("]")]
    return endpoint.rsplit(":", 1)[0]


def _resolver_host(value: str) -> str:
    """A resolver job's host ('https://name:443', 'name:443', 'name') -> 'name'."""
    if "://" in value:
        value = value.split("://", 1)[1]
    if value.startswith("["):
        return value[1 : value.index("]")]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass
class Trace:
    violations: list[str] = field(default_factory=list)
    loopback_connections: int = 0
    route_probes: list[str] = field(default_factory=list)  # UDP connect, nothing sent


_ADDRESS_EVENTS = {
    "TCP_CONNECT_ATTEMPT",
    "TCP_CONNECT",
    "SOCKET_CONNECT",
    "UDP_CONNECT",
    "UDP_BYTES_SENT",
    "UDP_BYTES_RECEIVED",
    "TCP_CONNECT_JOB_CONNECTOR_CONNECT_START",
}


def trace(netlog: dict[str, Any]) -> Trace:
    """Every destination the browser's network stack used, judged.

    A violation is a DNS query (Chromium's client or the system resolver) for a name that is
    not loopback, a resolver job for such a name that was not sent to nothing by the rules,
    or any TCP/UDP socket towards a non-loopback address. A UDP socket that was only
    ``connect``ed, with no datagram sent or received, is a route lookup (the kernel picks a
    source address; nothing goes on the wire): listed as such, not a violation.
    """
    names = {v: k for k, v in netlog["constants"]["logEventTypes"].items()}
    out = Trace()
    udp_outside: dict[int, list[str]] = defaultdict(list)
    udp_traffic: set[int] = set()
    for event in netlog.get("events", []):
        name = names.get(event["type"], str(event["type"]))
        params: dict[str, Any] = event.get("params") or {}
        source = int(event.get("source", {}).get("id", -1))
        hostname = str(params.get("hostname", "localhost"))
        if name == "DNS_TRANSACTION" and not _is_loopback_host(hostname):
            out.violations.append(f"DNS query for {hostname}")
        if name.startswith("HOST_RESOLVER") and name.endswith("_JOB") and "host" in params:
            host = _resolver_host(str(params["host"]))
            if host != "~notfound" and not _is_loopback_host(host):
                out.violations.append(f"{name}: resolving {params['host']}")
        if name not in _ADDRESS_EVENTS:
            continue
        endpoints: Iterable[str] = []
        if isinstance(params.get("address"), str):
            endpoints = [params["address"]]
        elif isinstance(params.get("address_list"), list):
            endpoints = [str(a) for a in params["address_list"]]
        if name.startswith("UDP_BYTES"):
            udp_traffic.add(source)
        for endpoint in endpoints:
            if _is_loopback_host(_endpoint_host(endpoint)):
                out.loopback_connections += 1
            elif name in ("UDP_CONNECT", "SOCKET_CONNECT"):
                udp_outside[source].append(endpoint)  # judged once the socket's events are in
            else:
                out.violations.append(f"{name} to {endpoint}")
    for source, endpoints in udp_outside.items():
        if source in udp_traffic:
            out.violations += [f"UDP datagrams to {e}" for e in endpoints]
        else:
            out.route_probes += endpoints
    return out
