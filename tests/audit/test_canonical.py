"""Canonical JSON: our fast path is byte-identical to the rfc8785 package."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.audit import service

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.text(),
    st.floats(allow_nan=False, allow_infinity=False),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_canonical_equals_rfc8785(obj: Any) -> None:
    try:
        expected = rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError:
        return
    assert service.canonical(obj) == expected


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), st.text(), max_size=8))
def test_flat_string_objects_take_the_fast_path_when_keys_are_ascii(obj: dict[str, str]) -> None:
    assert service.canonical(obj) == rfc8785.dumps(obj)


def test_special_strings_and_keys() -> None:
    for s in ["\u2028\u2029", "\x00\x1f\x7f", '"\\/', "é", "\U0001f600"]:
        obj = {"k": s, "é": 1, "\U0001f600": 2, "\ue000": 3}
        assert service.canonical(obj) == rfc8785.dumps(obj)
    assert service.canonical({"b": 1, "a": [True, None, 2**53 - 1]}) == (
        b'{"a":[true,null,9007199254740991],"b":1}'
    )


def test_digest_outside_rfc8785_domain_still_works() -> None:
    big = {"n": 2**64}
    d = service.digest(big)
    assert len(d) == 64
    assert d == service.digest({"n": 2**64})
    assert service.digest({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()
    assert len(service.digest({"s": "\ud800", "f": float("nan")})) == 64


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {k: st.one_of(st.none(), st.text()) for k in service.LEAF_FIELDS if k != "sequence"}
    ),
    st.integers(0, 2**53 - 1),
)
def test_leaf_bytes_are_rfc8785(fields: dict[str, Any], sequence: int) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    row = SimpleNamespace(**{**fields, "created": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)})
    leaf = service.leaf_of(row, sequence)
    try:
        expected = rfc8785.dumps(leaf)
    except rfc8785.CanonicalizationError:
        return
    assert service.leaf_bytes(row, sequence) == expected
