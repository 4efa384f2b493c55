"""JSON responses with exact bytes (so idempotent replays are byte-identical)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from strongbox.core.errors import StrongboxError


def dumps(body: Any) -> bytes:
    return orjson.dumps(body)


def json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=body, status_code=status, media_type="application/json", headers=headers
    )


def error_body(exc: StrongboxError) -> bytes:
    return dumps(exc.to_dict())


def error_response(exc: StrongboxError, headers: dict[str, str] | None = None) -> Response:
    merged = {**exc.headers, **(headers or {})}
    return json_response(exc.status, error_body(exc), merged)
