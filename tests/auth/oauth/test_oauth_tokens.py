"""Access-token validation: every rejection reason, rotation, and tampering (property)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth.oauth.conftest import RegisteredClient, register
from strongbox.api.context import _oauth_context
from strongbox.auth.oauth.keys import SigningKeys
from strongbox.auth.oauth.tokens import AccessClaims, Issuer, TokenRejected, authenticate_bearer
from strongbox.core.clock import FrozenClock
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime
from support import Merchant

ISS = "https://strongbox.example"
AUD = "https://strongbox.example/v1"
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def issuer(runtime: Runtime, clock: FrozenClock) -> Issuer:
    keys = SigningKeys(runtime.sealer, clock, timedelta(days=30))
    return Issuer(keys=keys, issuer=ISS, audience=AUD, clock=clock, access_token_seconds=600)


@pytest.fixture
def client(runtime: Runtime, merchant: Merchant) -> RegisteredClient:
    return register(runtime, merchant.id)


def _ctx(merchant: Merchant) -> RequestContext:
    return RequestContext(merchant_id=merchant.id, actor="test")


def mint(
    runtime: Runtime, issuer: Issuer, merchant: Merchant, client: RegisteredClient
) -> tuple[str, AccessClaims]:
    with runtime.db.unit_of_work() as uow:
        out = issuer.mint(
            uow,
            _ctx(merchant),
            merchant_id=merchant.id,
            client_id=client.id,
            scope=frozenset({"customers:write", "refunds:read"}),
        )
        uow.commit()
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(body))),
    )


def _signing_key(runtime: Runtime, issuer: Issuer, merchant: Merchant) -> tuple[str, Any]:
    with runtime.db.unit_of_work() as uow:
        kid, private = issuer.keys.signing_key(uow, _ctx(merchant))
        uow.commit()
    return kid, private


def _reason(issuer: Issuer, runtime: Runtime, token: str) -> str:
    with pytest.raises(TokenRejected) as info:
        issuer.validate(token, runtime.db.read)
    assert info.value.status == 401
    assert token not in info.value.message
    return info.value.reason


@pytest.fixture
def token(
    runtime: Runtime, issuer: Issuer, merchant: Merchant, client: RegisteredClient
) -> Iterator[str]:
    return mint(runtime, issuer, merchant, client)[0]


def test_a_valid_token_gives_its_claims_and_a_context_with_its_permissions(
    runtime: Runtime, issuer: Issuer, merchant: Merchant, client: RegisteredClient, token: str
) -> None:
    claims = issuer.validate(token, runtime.db.read)
    assert claims.merchant_id == merchant.id
    assert claims.client_id == client.id
    assert claims.scope == frozenset({"customers:write", "refunds:read"})
    assert claims.expires_at - claims.issued_at == timedelta(seconds=600)
    header, payload = _parts(token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": header["kid"]}
    assert {"iss", "aud", "exp", "nbf", "iat", "jti", "scope"} <= set(payload)
    # the API's view of a bearer JWT (runtime.oauth is the system-clock issuer of this runtime)
    live_token, _ = mint(runtime, runtime.oauth, merchant, client)  # type: ignore[arg-type]
    ctx = _oauth_context(runtime, live_token)
    assert ctx.kind == "oauth"
    assert ctx.merchant_id == merchant.id
    assert ctx.key_id == client.id
    assert ctx.permissions == frozenset({"customers:write", "refunds:read"})


def test_alg_none_is_refused(runtime: Runtime, issuer: Issuer, token: str) -> None:
    header, payload = _parts(token)
    head = _b64(json.dumps({**header, "alg": "none"}).encode())
    forged = f"{head}.{_b64(json.dumps(payload).encode())}."
    assert _reason(issuer, runtime, forged) == "algorithm_not_allowed"


def test_hs256_signed_with_the_public_key_is_refused(
    runtime: Runtime, issuer: Issuer, merchant: Merchant, token: str
) -> None:
    """The classic key-confusion forgery: HMAC with the published public key as secret."""
    header, payload = _parts(token)
    _, private = _signing_key(runtime, issuer, merchant)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload["scope"] = "customers:write refunds:write"  # what the forger wants
    signing_input = (
        f"{_b64(json.dumps({**header, 'alg': 'HS256'}).encode())}."
        f"{_b64(json.dumps(payload).encode())}"
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert _reason(issuer, runtime, f"{signing_input}.{_b64(mac)}") == "algorithm_not_allowed"


def test_rs256_and_foreign_es256_keys_are_refused(
    runtime: Runtime, issuer: Issuer, token: str
) -> None:
    header, payload = _parts(token)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs = jwt.encode(
        payload, rsa_key, algorithm="RS256", headers={"kid": header["kid"], "typ": "at+jwt"}
    )
    assert _reason(issuer, runtime, rs) == "algorithm_not_allowed"
    foreign = ec.generate_private_key(ec.SECP256R1())
    es = jwt.encode(
        payload, foreign, algorithm="ES256", headers={"kid": header["kid"], "typ": "at+jwt"}
    )
    assert _reason(issuer, runtime, es) == "bad_signature"
    unknown = jwt.encode(
        payload, foreign, algorithm="ES256", headers={"kid": "oakey_nobody", "typ": "at+jwt"}
    )
    assert _reason(issuer, runtime, unknown) == "unknown_key"
    no_kid = jwt.encode(payload, foreign, algorithm="ES256", headers={"typ": "at+jwt"})
    assert _reason(issuer, runtime, no_kid) == "unknown_key"


def test_another_audience_or_issuer_is_refused(
    runtime: Runtime,
    issuer: Issuer,
    merchant: Merchant,
    client: RegisteredClient,
    clock: FrozenClock,
) -> None:
    other_aud = Issuer(issuer.keys, ISS, "https://other.example/api", clock, 600)
    other_iss = Issuer(issuer.keys, "https://evil.example", AUD, clock, 600)
    assert (
        _reason(issuer, runtime, mint(runtime, other_aud, merchant, client)[0]) == "wrong_audience"
    )
    assert _reason(issuer, runtime, mint(runtime, other_iss, merchant, client)[0]) == "wrong_issuer"


def _resign(
    runtime: Runtime, issuer: Issuer, merchant: Merchant, token: str, **changes: Any
) -> str:
    _header, payload = _parts(token)
    kid, private = _signing_key(runtime, issuer, merchant)
    for name, value in changes.items():
        if value is None:
            payload.pop(name)
        else:
            payload[name] = value
    typ = changes.pop("typ", "at+jwt") if "typ" in changes else "at+jwt"
    return jwt.encode(payload, private, algorithm="ES256", headers={"kid": kid, "typ": typ})


def test_claims_rules(runtime: Runtime, issuer: Issuer, merchant: Merchant, token: str) -> None:
    _, payload = _parts(token)
    long_lived = _resign(runtime, issuer, merchant, token, exp=payload["iat"] + 3600)
    assert _reason(issuer, runtime, long_lived) == "lifetime_too_long"
    for claim in ("jti", "aud", "iss", "exp", "nbf", "iat", "scope", "sub"):
        missing = _resign(runtime, issuer, merchant, token, **{claim: None})
        assert _reason(issuer, runtime, missing) == "missing_claim", claim
    unknown_scope = _resign(runtime, issuer, merchant, token, scope="customers:write root:all")
    assert _reason(issuer, runtime, unknown_scope) == "unknown_scope"
    kid, private = _signing_key(runtime, issuer, merchant)
    other_typ = jwt.encode(payload, private, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})
    assert _reason(issuer, runtime, other_typ) == "wrong_type"
    assert _reason(issuer, runtime, "eyJhbGciOi.broken.token") == "malformed"
    assert _reason(issuer, runtime, "ey" + "A" * 5000 + ".a.b") == "malformed"


def test_expiry_and_not_before_with_small_leeway(
    runtime: Runtime, issuer: Issuer, clock: FrozenClock, token: str
) -> None:
    clock.advance(timedelta(seconds=600 + 29))
    issuer.validate(token, runtime.db.read)  # within the 30 s leeway
    clock.advance(timedelta(seconds=2))
    assert _reason(issuer, runtime, token) == "expired"
    clock.advance(timedelta(seconds=-(600 + 31) - 60))
    assert _reason(issuer, runtime, token) == "not_yet_valid"


def test_rotation_keeps_old_tokens_valid_until_they_expire(
    runtime: Runtime,
    issuer: Issuer,
    merchant: Merchant,
    client: RegisteredClient,
    clock: FrozenClock,
    token: str,
) -> None:
    old_kid = _parts(token)[0]["kid"]
    with runtime.db.unit_of_work() as uow:
        issuer.keys.rotate(uow, _ctx(merchant))
        uow.commit()
    new_token, _ = mint(runtime, issuer, merchant, client)
    assert _parts(new_token)[0]["kid"] != old_kid
    issuer.validate(token, runtime.db.read)
    issuer.validate(new_token, runtime.db.read)
    with runtime.db.read() as session:
        assert {k["kid"] for k in issuer.keys.jwks(session)["keys"]} >= {old_kid}
    clock.advance(timedelta(seconds=900 + 31))  # past every token the old key signed
    assert _reason(issuer, runtime, token) == "unknown_key"
    with runtime.db.read() as session:
        assert old_kid not in {k["kid"] for k in issuer.keys.jwks(session)["keys"]}
    # another process (fresh key view) learns keys from the database and unseals none
    fresh = Issuer(SigningKeys(runtime.sealer, clock, timedelta(days=30)), ISS, AUD, clock, 600)
    clock.advance(timedelta(seconds=-(900 + 31)))
    fresh.validate(new_token, runtime.db.read)


def test_an_old_signing_key_rotates_by_itself(
    runtime: Runtime,
    issuer: Issuer,
    merchant: Merchant,
    client: RegisteredClient,
    clock: FrozenClock,
    token: str,
) -> None:
    clock.advance(timedelta(days=31))
    fresh, _ = mint(runtime, issuer, merchant, client)
    assert _parts(fresh)[0]["kid"] != _parts(token)[0]["kid"]


def test_a_revoked_client_makes_its_tokens_refused(
    runtime: Runtime, merchant: Merchant, client: RegisteredClient
) -> None:
    from strongbox.auth.oauth import clients

    assert runtime.oauth is not None
    live, _ = mint(runtime, runtime.oauth, merchant, client)
    authenticate_bearer(runtime.oauth, runtime.db.read, live)
    with runtime.db.unit_of_work() as uow:
        ctx = _ctx(merchant)
        clients.revoke_client(uow, ctx, clients.get_client(uow, ctx, client.id))
        uow.commit()
    with pytest.raises(TokenRejected) as info:
        authenticate_bearer(runtime.oauth, runtime.db.read, live)
    assert info.value.reason == "revoked"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw_-xyz019"))
def test_no_tampered_token_validates_with_other_claims(
    runtime: Runtime, issuer: Issuer, token: str, position: int, replacement: str
) -> None:
    i = position % len(token)
    if token[i] == "." or token[i] == replacement:
        return
    tampered = token[:i] + replacement + token[i + 1 :]
    original = issuer.validate(token, runtime.db.read)
    try:
        got = issuer.validate(tampered, runtime.db.read)
    except TokenRejected:
        return
    assert got == original  # only a base64 spelling of the same bytes may pass
