"""API parameter models of the privacy domain."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from strongbox.core.params import Expand, ListParams, Params


class CreatePrivacyRequestParams(Params):
    type: Literal["access", "portability", "erasure"]
    customer: str | None = Field(default=None, min_length=1, max_length=64)
    email: str | None = Field(default=None, min_length=3, max_length=512)
    expand: Expand | None = None


class ListPrivacyRequestsParams(ListParams):
    pass


class ExportParams(Params):
    format: Literal["json", "html"] = "json"
