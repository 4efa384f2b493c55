"""API parameter shapes for connector accounts and routing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from strongbox.core.params import IdString, IntParam, ListParams, Metadata, Params

Name = Annotated[str, Field(min_length=1, max_length=64)]


class CreateConnectorAccountParams(Params):
    connector: Name
    label: Annotated[str, Field(max_length=200)] | None = None
    credentials: dict[Name, str] = Field(default_factory=dict)
    settings: dict[Name, Annotated[str, Field(max_length=500)]] = Field(default_factory=dict)


class UpdateConnectorAccountParams(Params):
    label: Annotated[str, Field(max_length=200)] | None = None
    status: Literal["enabled", "disabled"] | None = None
    credentials: dict[Name, str] | None = None
    settings: dict[Name, Annotated[str, Field(max_length=500)]] | None = None


class ListConnectorAccountsParams(ListParams):
    pass


class DecideParams(Params):
    """A dry run of the routing decision for hypothetical payment facts."""

    amount: IntParam
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    payment_id: IdString | None = None
    brand: Name | None = None
    card_country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] | None = None
    metadata: Metadata = Field(default_factory=dict)
    capture_method: Literal["automatic", "manual"] = "automatic"
