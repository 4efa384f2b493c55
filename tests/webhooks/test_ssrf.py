from __future__ import annotations

import ipaddress

import pytest

from strongbox.webhooks.ssrf import DestinationRefused, is_public, parse_url, resolve_target

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "100.100.100.200",  # Alibaba metadata
    "0.0.0.0",
    "::1",
    "fe80::1",
    "fd00:ec2::254",  # AWS IPv6 metadata
    "fc00::5",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "224.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]


@pytest.mark.parametrize("addr", BLOCKED)
def test_private_and_metadata_addresses_are_not_public(addr: str) -> None:
    assert not is_public(ipaddress.ip_address(addr))


@pytest.mark.parametrize("addr", ALLOWED)
def test_public_addresses_are_public(addr: str) -> None:
    assert is_public(ipaddress.ip_address(addr))


def fake_resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError("no such host")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def target(url: str, allow: bool, table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return resolve_target(url, allow, fake_resolver(table))


@pytest.mark.parametrize("addr", ["127.0.0.1", "169.254.169.254", "fd00:ec2::254", "10.0.0.7"])
def test_a_name_resolving_to_a_private_address_is_refused(addr: str) -> None:
    with pytest.raises(DestinationRefused):
        target("https://hooks.example.com/x", False, {"hooks.example.com": [addr]})


def test_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(DestinationRefused):
        target("https://h.example.com/", False, {"h.example.com": ["8.8.8.8", "127.0.0.1"]})


def test_literal_private_ips_are_refused_without_asking_dns() -> None:
    for url in ("http://127.0.0.1:8080/", "http://[::1]/", "http://169.254.169.254/latest"):
        with pytest.raises(DestinationRefused):
            target(url, False, {})


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(DestinationRefused, match="resolve"):
        target("https://nowhere.invalid/", False, {})


def test_allow_private_lets_loopback_through() -> None:
    t = target("http://localhost:9000/hook", True, {"localhost": ["127.0.0.1"]})
    assert str(t.ip) == "127.0.0.1"


def test_the_connection_goes_to_the_checked_address_with_the_original_host() -> None:
    t = target(
        "https://hooks.example.com:8443/in?x=1", False, {"hooks.example.com": ["93.184.216.34"]}
    )
    assert t.connect_url == "https://93.184.216.34:8443/in?x=1"
    assert t.host_header == "hooks.example.com:8443"
    assert t.host == "hooks.example.com"  # used as TLS SNI
    t6 = target("https://v6.example.com/", False, {"v6.example.com": ["2606:4700:4700::1111"]})
    assert t6.connect_url == "https://[2606:4700:4700::1111]:443/"
    assert t6.host_header == "v6.example.com"


def test_dns_is_asked_once_per_target_so_rebinding_cannot_swap_the_address() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    t = resolve_target("https://rebind.example.com/", False, rebinding)
    assert str(t.ip) == "93.184.216.34"
    assert calls == ["rebind.example.com"]


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "http://user:pw@example.com/", "http:///nohost", "http://e.com:99999/"],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefused):
        parse_url(url)
