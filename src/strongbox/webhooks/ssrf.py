"""SSRF protection for outbound deliveries.

The endpoint's host is resolved once per attempt; every address must be public (unless
private destinations are allowed by settings), and the connection then goes to the checked
address, with the original name as ``Host`` header and TLS SNI, so DNS rebinding between
check and connect cannot reach an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Beyond what ``ipaddress`` calls non-global: the metadata endpoints, spelled out.
_BLOCKED_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT (Alibaba metadata lives at 100.100.100.200)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 (AWS/GCP/Azure metadata)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, incl. fd00:ec2::254 (AWS IPv6 metadata)
        "fe80::/10",
        "ff00::/8",
        "64:ff9b::/96",  # NAT64 can map to internal IPv4
    )
]


class DestinationRefused(Exception):
    """The URL may not be delivered to (bad form, unresolvable, or a non-public address)."""


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public(mapped)
    if any(ip in net for net in _BLOCKED_NETWORKS):
        return False
    return ip.is_global


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # the name as written in the URL (Host header, SNI)
    port: int
    ip: IPAddress  # where to connect
    path: str  # path and query

    @property
    def connect_url(self) -> str:
        host = f"[{self.ip}]" if isinstance(self.ip, ipaddress.IPv6Address) else str(self.ip)
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def parse_url(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("the URL must use http or https")
    if parts.username or parts.password:
        raise DestinationRefused("the URL must not contain credentials")
    host = parts.hostname
    if not host:
        raise DestinationRefused("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused("the URL has an invalid port") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def choose(addresses: list[str], allow_private: bool) -> IPAddress:
    """The address to connect to; refuses if *any* resolved address is not public."""
    ips: list[IPAddress] = []
    for a in addresses:
        try:
            ips.append(ipaddress.ip_address(a.split("%", 1)[0]))
        except ValueError:
            continue
    if not ips:
        raise DestinationRefused("the host did not resolve")
    if not allow_private:
        for ip in ips:
            if not is_public(ip):
                raise DestinationRefused(f"the host resolves to a non-public address ({ip})")
    return ips[0]


def resolve_target(url: str, allow_private: bool, resolver: Resolver) -> Target:
    scheme, host, port, path = parse_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except OSError:
            raise DestinationRefused("the host did not resolve") from None
    ip = choose(addresses, allow_private)
    return Target(scheme=scheme, host=host, port=port, ip=ip, path=path)
