"""Small helpers shared by the routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from fastapi import Request
from starlette.responses import Response

from strongbox.api.context import Caller
from strongbox.api.operations import WriteRequest
from strongbox.api.responses import dumps, json_response
from strongbox.core.errors import InvalidRequestError
from strongbox.core.params import ListParams
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.payments.schemas import check_expand, render_list

T = TypeVar("T")


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


def list_expand(expand: list[str] | None, allowed: frozenset[str]) -> set[str]:
    """The expansions of a list request: ``data.customer`` names ``customer`` of each item."""
    return check_expand([e.removeprefix("data.") for e in expand or []], allowed)


def list_response(
    caller: Caller,
    url: str,
    fetch: Callable[[UnitOfWork], Page[T]],
    render: Callable[[UnitOfWork, T], dict[str, Any]],
) -> Response:
    """A Stripe list (``object``, ``url``, ``has_more``, ``data``) of one page, fetched and
    rendered in one read-only unit of work. ``fetch`` gets the page (``page_of(p)`` carries
    ``limit``, ``starting_after``, ``ending_before``), ``render`` renders one item."""
    with caller.runtime.db.reader() as uow:
        page = fetch(uow)
        body = render_list(url, [render(uow, item) for item in page.data], page.has_more)
    return json_response(200, dumps(body))


def read_response(caller: Caller, read: Callable[[UnitOfWork], dict[str, Any]]) -> Response:
    """200 with the object ``read`` renders in a read-only unit of work. A retrieve's lookup
    raises ``ResourceMissingError`` (404 ``resource_missing``) for an unknown or other
    merchant's id before anything is rendered."""
    with caller.runtime.db.reader() as uow:
        body = read(uow)
    return json_response(200, dumps(body))


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
