"""WebAuthn security keys (py_webauthn): registration and authentication ceremonies.

The relying party id is ``STRONGBOX_WEBAUTHN_RP_ID`` or the host of ``STRONGBOX_PUBLIC_URL``;
the expected origin is the public URL's origin. A ceremony's challenge lives on the session
row (one open ceremony per session) and is cleared when used, so a response is accepted once.
Attestation ``none`` is requested (we trust the key the operator registers, not a vendor).
A signature counter that does not grow (a cloned key) is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import PublicKeyCredentialDescriptor

from strongbox.auth import operator_repository as repo
from strongbox.auth.operator_models import Operator, OperatorSession, WebAuthnCredential
from strongbox.auth.operators import complete_login, context_for, event, is_locked, record_failure
from strongbox.core.errors import AuthenticationError, InvalidRequestError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    origin: str
    name: str = "Strongbox"

    @classmethod
    def from_settings(cls, public_url: str, rp_id: str | None) -> RelyingParty:
        parts = urlsplit(public_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        return cls(id=rp_id or (parts.hostname or "localhost"), origin=origin)


def _descriptors(creds: list[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id)) for c in creds]


def registration_options(
    uow: UnitOfWork, rp: RelyingParty, op: Operator, row: OperatorSession
) -> dict[str, Any]:
    creds = repo.webauthn_credentials(uow.session, op.id)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=op.email,
        user_id=op.id.encode(),
        exclude_credentials=_descriptors(creds),
    )
    row.challenge = bytes_to_base64url(options.challenge)
    uow.flush()
    out: dict[str, Any] = json.loads(options_to_json(options))
    return out


def _take_challenge(row: OperatorSession) -> bytes:
    if row.challenge is None:
        raise InvalidRequestError("Ask for options first.", code="webauthn_no_challenge")
    challenge = base64url_to_bytes(row.challenge)
    row.challenge = None  # one response per challenge
    return challenge


def register(
    uow: UnitOfWork,
    rp: RelyingParty,
    op: Operator,
    row: OperatorSession,
    credential: dict[str, Any],
) -> WebAuthnCredential:
    challenge = _take_challenge(row)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError):
        uow.flush()
        raise InvalidRequestError(
            "The security key's registration could not be verified.",
            code="webauthn_registration_invalid",
            param="credential",
        ) from None
    cred = WebAuthnCredential(
        id=new_id("webauthn_credential"),
        merchant_id=op.merchant_id,
        operator_id=op.id,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        created=uow.clock.now(),
    )
    uow.session.add(cred)
    uow.flush()
    event(uow, context_for(op), "factor_added", op, factor="webauthn", credential=cred.id)
    if row.second_factor_at is None:
        complete_login(uow, op, row, "webauthn")
    return cred


def authentication_options(
    uow: UnitOfWork, rp: RelyingParty, op: Operator, row: OperatorSession
) -> dict[str, Any]:
    creds = repo.webauthn_credentials(uow.session, op.id)
    if not creds:
        raise InvalidRequestError("No security key is registered.", code="webauthn_no_keys")
    options = generate_authentication_options(rp_id=rp.id, allow_credentials=_descriptors(creds))
    row.challenge = bytes_to_base64url(options.challenge)
    uow.flush()
    out: dict[str, Any] = json.loads(options_to_json(options))
    return out


def authenticate(
    uow: UnitOfWork,
    rp: RelyingParty,
    op: Operator,
    row: OperatorSession,
    credential: dict[str, Any],
) -> bool:
    """Second step with a security key; False (recorded as a failure) when refused."""
    if is_locked(uow, op):
        raise AuthenticationError("This account is locked for 30 minutes.", code="account_locked")
    challenge = _take_challenge(row)
    raw_id = str(credential.get("id", ""))
    match = next((c for c in repo.webauthn_credentials(uow.session, op.id)
                  if c.credential_id == raw_id), None)  # fmt: skip
    if match is None:
        record_failure(uow, op, context_for(op), "webauthn")
        return False
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(match.public_key),
            credential_current_sign_count=match.sign_count,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
        record_failure(uow, op, context_for(op), "webauthn")
        return False
    match.sign_count = verified.new_sign_count
    complete_login(uow, op, row, "webauthn")
    return True
