"""API parameter models of the auth domain (merchant origins, OAuth2 clients, API keys)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from strongbox.core.params import Expand, IntParam, ListParams, Params


class CreateMerchantOriginParams(Params):
    origin: str = Field(min_length=1, max_length=2048)
    expand: Expand | None = None


class ListMerchantOriginsParams(ListParams):
    pass


class CreateOAuthClientParams(Params):
    name: str = Field(min_length=1, max_length=200)
    client_type: str = Field(default="confidential", max_length=20)
    scope: str = Field(min_length=1, max_length=4000)
    redirect_uris: list[str] | None = Field(default=None, max_length=10)
    grant_types: list[str] | None = Field(default=None, max_length=3)
    expand: Expand | None = None


class ListOAuthClientsParams(ListParams):
    pass


# ---- API keys (issue 17): restricted keys and rolling

PermissionLevel = Literal["none", "read", "write"]


class CreateRestrictedKeyParams(Params):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    permissions: Annotated[dict[Annotated[str, Field(max_length=64)], PermissionLevel],
                           Field(min_length=1, max_length=64)]  # fmt: skip
    allowed_ips: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] | None
    ) = None
    expires_at: Annotated[IntParam, Field(ge=1, le=4_102_444_800)] | None = None  # by 2100
    expand: Expand | None = None


class RollKeyParams(Params):
    expires_in: Annotated[IntParam, Field(ge=0, le=7 * 24 * 3600)] = 0
    expand: Expand | None = None


class ListApiKeysParams(ListParams):
    pass
