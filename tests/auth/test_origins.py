"""Rules for merchant origins: only ``scheme://host[:port]``, serialized as browsers do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.auth.origins import OriginError, normalize_origin


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("https://shop.example.com", "https://shop.example.com"),
        ("HTTPS://Shop.Example.COM", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://localhost:80", "http://localhost"),
        ("http://app.localhost:3000", "http://app.localhost:3000"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://127.8.9.10", "http://127.8.9.10"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://[2001:DB8:0:0:0:0:0:1]", "https://[2001:db8::1]"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ("https://a-b.c-d.example:1", "https://a-b.c-d.example:1"),
    ],
)
def test_accepted_origins_are_normalized(given_: str, expected: str) -> None:
    assert normalize_origin(given_) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "shop.example.com",
        "//shop.example.com",
        "https://",
        "https://shop.example.com/",
        "https://shop.example.com/checkout",
        "https://shop.example.com?x=1",
        "https://shop.example.com#top",
        "https://user:pw@shop.example.com",
        "https://user@shop.example.com",
        "ftp://shop.example.com",
        "javascript://shop.example.com",
        "file://localhost",
        "http://shop.example.com",  # http only on loopback hosts
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]",
        "https://shop.example.com:0",
        "https://shop.example.com:65536",
        "https://shop.example.com:99999",
        "https://shop.example.com:",
        "https://-shop.example.com",
        "https://shop-.example.com",
        "https://shop..example.com",
        "https://shop.example.com.",
        "https://shop_example.com",
        "https://1.2.3",
        "https://999.1.1.1",
        "https://[not-ipv6]",
        "https://bücher.example",
        "https://shop.example.com ",
        " https://shop.example.com",
        "https://shop.example.com\n",
        "https://" + "a" * 64 + ".example",
        "https://" + ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_anything_but_an_origin_is_rejected(bad: str) -> None:
    with pytest.raises(OriginError) as info:
        normalize_origin(bad)
    err = info.value
    assert (err.status, err.code, err.param) == (400, "url_invalid", "origin")
    assert err.message.startswith("Invalid origin: ")


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_host = (
    st.lists(_label, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: not h.rsplit(".", 1)[-1].isdigit())
)


@given(
    host=_host,
    port=st.none() | st.integers(1, 65535),
    upper=st.booleans(),
)
def test_normalization_is_idempotent_and_matches_the_browser_form(
    host: str, port: int | None, upper: bool
) -> None:
    raw = f"https://{host.upper() if upper else host}" + (f":{port}" if port else "")
    out = normalize_origin(raw)
    assert normalize_origin(out) == out
    expected_port = "" if port in (None, 443) else f":{port}"
    assert out == f"https://{host}{expected_port}"


@given(
    host=_host,
    tail=st.text(min_size=0, max_size=10).map(lambda t: "/" + t)
    | st.sampled_from(["?", "#", "?a=1", "#x", "@x", ":443/"]),
)
def test_anything_after_the_authority_is_rejected(host: str, tail: str) -> None:
    with pytest.raises(OriginError):
        normalize_origin(f"https://{host}{tail}")
