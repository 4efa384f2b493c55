"""API parameter models of the auth domain (merchant origins)."""

from __future__ import annotations

from pydantic import Field

from strongbox.core.params import Expand, ListParams, Params


class CreateMerchantOriginParams(Params):
    origin: str = Field(min_length=1, max_length=2048)
    expand: Expand | None = None


class ListMerchantOriginsParams(ListParams):
    pass
