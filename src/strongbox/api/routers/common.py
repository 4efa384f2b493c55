"""Small helpers shared by the routers."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import Request

from strongbox.api.operations import WriteRequest
from strongbox.core.errors import InvalidRequestError
from strongbox.core.params import ListParams
from strongbox.db.pagination import PageRequest


def search_not_supported() -> NoReturn:
    raise InvalidRequestError(
        "Search is not supported by Strongbox; use the list endpoint with its filters.",
        code="search_not_supported",
        status=404,
    )


def write_request(request: Request, params: dict[str, Any]) -> WriteRequest:
    return WriteRequest(
        method=request.method,
        path=request.url.path,
        params=params,
        idempotency_key=request.headers.get("idempotency-key"),
    )


def page_of(p: ListParams) -> PageRequest:
    return PageRequest(
        limit=p.limit, starting_after=p.starting_after, ending_before=p.ending_before
    )


def created_of(p: ListParams) -> dict[str, int] | None:
    if p.created is None:
        return None
    bounds: dict[str, int] = p.created.model_dump(exclude_none=True)
    return bounds


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def body_doc(model: Any) -> dict[str, Any]:
    """OpenAPI request body for a params model, form-encoded (Stripe's format) or JSON."""
    raw = model.model_json_schema()
    schema = _inline(raw, raw.get("$defs", {}))
    return {
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema},
                "application/json": {"schema": schema},
            },
        }
    }


def query_doc(model: Any) -> dict[str, Any]:
    raw = model.model_json_schema()
    schema = _inline(raw, raw.get("$defs", {}))
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
    }
