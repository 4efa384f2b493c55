"""API parameter models of the auth domain (merchant origins, OAuth2 clients)."""

from __future__ import annotations

from pydantic import Field

from strongbox.core.params import Expand, ListParams, Params


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
