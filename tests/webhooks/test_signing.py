from __future__ import annotations

import base64
import time

import orjson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from strongbox.webhooks import signing


def _keys(*secrets: str) -> signing.SigningKeys:
    from strongbox.core.secret import Secret

    return signing.SigningKeys(tuple(signing.secret_bytes(Secret(s)) for s in secrets))


def test_new_secret_has_the_standard_form() -> None:
    s = signing.new_secret()
    assert repr(s) == "Secret('**********')"
    raw = s.reveal()
    assert raw.startswith("whsec_")
    assert len(base64.b64decode(raw[6:])) == 32
    assert signing.new_secret().reveal() != raw


@given(
    data=st.dictionaries(
        st.text(max_size=10), st.text(max_size=30) | st.integers(-(2**53), 2**53), max_size=5
    ),
    msg_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=40),
)
def test_reference_package_verifies_our_signature(data: dict[str, object], msg_id: str) -> None:
    body = orjson.dumps(data)
    secret = signing.new_secret().reveal()
    ts = int(time.time())
    headers = signing.headers(_keys(secret), msg_id, ts, body)
    assert Webhook(secret).verify(body, headers) == data


def test_a_changed_body_id_or_timestamp_fails_verification() -> None:
    secret = signing.new_secret().reveal()
    ts = int(time.time())
    headers = signing.headers(_keys(secret), "evt_1", ts, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":1}', {**headers, "webhook-id": "evt_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":1}', {**headers, "webhook-timestamp": str(ts - 1)})
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret().reveal()).verify(b'{"a":1}', headers)


def test_rotation_sends_one_signature_per_secret_and_either_verifies() -> None:
    old, new = signing.new_secret().reveal(), signing.new_secret().reveal()
    ts = int(time.time())
    headers = signing.headers(_keys(new, old), "evt_9", ts, b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(b"{}", headers)
    Webhook(new).verify(b"{}", headers)


def test_v1a_ed25519_signature_verifies_with_the_public_key() -> None:
    private, public = signing.new_ed25519_key()
    assert public.startswith("whpk_")
    key = Ed25519PrivateKey.from_private_bytes(private.reveal())
    secret = signing.new_secret().reveal()
    keys = signing.SigningKeys((signing.secret_bytes(signing.Secret(secret)),), (key,))
    assert "bytes" not in repr(keys)
    headers = signing.headers(keys, "evt_7", 1700000000, b"body")
    parts = dict(p.split(",", 1) for p in headers["webhook-signature"].split(" "))
    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public[5:]))
    pub.verify(base64.b64decode(parts["v1a"]), b"evt_7.1700000000.body")
    with pytest.raises(InvalidSignature):
        pub.verify(base64.b64decode(parts["v1a"]), b"evt_7.1700000000.other")


def test_verify_v1_checks_every_value_and_rejects_garbage() -> None:
    secret = signing.new_secret()
    key = signing.secret_bytes(secret)
    header = signing.sign(signing.SigningKeys((key,)), "m", 5, b"x")
    assert signing.verify_v1([key], "m", "5", "v1,bm9wZQ== " + header, b"x")
    assert not signing.verify_v1([key], "m", "5", "v1,!!! v2,abc", b"x")
    assert not signing.verify_v1([key], "m", "notint", header, b"x")
    assert not signing.verify_v1([b"other"], "m", "5", header, b"x")
