"""WebAuthn ceremonies against a software authenticator built here: an ECDSA P-256 key,
authenticatorData and clientDataJSON assembled per the WebAuthn spec, attestation ``none``
for registration, a signature over authenticatorData ‖ SHA-256(clientDataJSON) to sign in."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from webauthn.helpers import bytes_to_base64url

from auth.conftest import Clocked, sign_in
from strongbox.api.operator_context import relying_party
from support import error_of


@dataclass
class SoftKey:
    rp_id: str
    origin: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))  # fmt: skip
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    counter: int = 0

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})  # fmt: skip

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        auth_data = (rp_hash + bytes([0x41]) + self.counter.to_bytes(4, "big") + bytes(16)
                     + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                     + self._cose())  # fmt: skip
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        cid = bytes_to_base64url(self.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key", "response": {
            "clientDataJSON": bytes_to_base64url(
                self._client_data("webauthn.create", options["challenge"])),
            "attestationObject": bytes_to_base64url(attestation)}}  # fmt: skip

    def get(self, options: dict[str, Any], *, origin: str | None = None,
            counter: int | None = None) -> dict[str, Any]:  # fmt: skip
        self.counter = self.counter + 1 if counter is None else counter
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        auth_data = rp_hash + bytes([0x01]) + self.counter.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))  # fmt: skip
        cid = bytes_to_base64url(self.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key", "response": {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature)}}  # fmt: skip


def _registered(env: Clocked, email: str) -> tuple[TestClient, SoftKey]:
    env.operator(email)
    rp = relying_party(env.rt)
    key = SoftKey(rp.id, rp.origin)
    c = env.client()
    sign_in(c, email)
    options = c.post("/operator/factors/webauthn/options").json()
    assert options["rp"]["id"] == rp.id
    r = c.post("/operator/factors/webauthn", json={"credential": key.create(options)})
    assert r.status_code == 200, r.text
    return c, key


def test_register_then_sign_in_with_the_key(clocked: Clocked) -> None:
    c, key = _registered(clocked, "wa@example.com")
    me = c.get("/operator/session").json()  # registering completed the first sign-in
    assert me["operator"]["two_factor"]["webauthn"] == 1
    c2 = clocked.client()
    assert sign_in(c2, "wa@example.com")["second_factor"] == "required"
    options = c2.post("/operator/login/webauthn/options").json()
    assert (
        c2.post("/operator/login/webauthn", json={"credential": key.get(options)}).status_code
        == 200
    )
    assert c2.get("/operator/session").status_code == 200


def test_replays_clones_and_foreign_origins_are_refused(clocked: Clocked) -> None:
    _, key = _registered(clocked, "wb@example.com")
    c = clocked.client()
    sign_in(c, "wb@example.com")
    options = c.post("/operator/login/webauthn/options").json()
    answer = key.get(options, origin="https://evil.example")
    assert error_of(c.post("/operator/login/webauthn", json={"credential": answer}), 401)
    options = c.post("/operator/login/webauthn/options").json()
    good = key.get(options)
    assert c.post("/operator/login/webauthn", json={"credential": good}).status_code == 200
    c2 = clocked.client()
    sign_in(c2, "wb@example.com")
    c2.post("/operator/login/webauthn/options")
    # the same signed answer again: its challenge is not this ceremony's
    assert error_of(c2.post("/operator/login/webauthn", json={"credential": good}), 401)
    options = c2.post("/operator/login/webauthn/options").json()
    cloned = key.get(options, counter=1)  # a counter that did not grow
    assert error_of(c2.post("/operator/login/webauthn", json={"credential": cloned}), 401)
    assert error_of(c2.get("/operator/session"), 401)["code"] == "second_factor_required"


def test_a_second_key_needs_a_full_session(clocked: Clocked) -> None:
    clocked.operator("wc@example.com")
    c = clocked.client()
    sign_in(c, "wc@example.com")
    _registered_key = SoftKey(relying_party(clocked.rt).id, relying_party(clocked.rt).origin)
    options = c.post("/operator/factors/webauthn/options").json()
    c.post("/operator/factors/webauthn", json={"credential": _registered_key.create(options)})
    c2 = clocked.client()
    sign_in(c2, "wc@example.com")  # pending: may not add a factor of its own choosing
    assert error_of(c2.post("/operator/factors/webauthn/options"), 401)["code"] == (
        "second_factor_required"
    )
