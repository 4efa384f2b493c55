"""Parameter models of the operator surface (``/operator/…``, issue 17)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from strongbox.auth.roles import ROLES
from strongbox.core.params import IntParam, ListParams, Params

Password = Annotated[str, Field(min_length=1, max_length=1024)]
Email = Annotated[str, Field(min_length=3, max_length=254)]
Role = Annotated[str, Field(min_length=1, max_length=32, pattern="^(" + "|".join(ROLES) + ")$")]


class LoginParams(Params):
    email: Email
    password: Password


class CodeParams(Params):
    code: Annotated[str, Field(min_length=1, max_length=64)]


class CredentialParams(Params):
    credential: dict[str, Any]


class AcceptInvitationParams(Params):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    password: Password


class AccessRequestParams(Params):
    role: Role
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    duration_minutes: Annotated[IntParam, Field(ge=1, le=7 * 24 * 60)]


class ListGrantsParams(ListParams):
    pass


class InviteParams(Params):
    email: Email
    role: Role


class RoleParams(Params):
    role: Role
