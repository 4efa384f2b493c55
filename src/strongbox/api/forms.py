"""Stripe's wire format for request parameters, at the HTTP edge.

Stripe's official libraries send parameters form-encoded with bracket notation::

    amount=1000&currency=usd&metadata[order_id]=6735&expand[0]=customer
    &items[0][price]=price_1&items[0][quantity]=2

``parse_form`` / ``parse_pairs`` turn that into nested ``dict`` / ``list`` values whose leaves are
always ``str`` (an empty string stays ``""``: on updates Stripe reads it as "unset"). Typing and
validation happen later, in ``strongbox.core.params``.

Rules:

- ``a=v`` is a scalar, ``a[b][c]=v`` nests objects, ``a[]=x&a[]=y`` appends to a list. ``[]`` may
  only be the last segment; lists of objects use indexes (``items[0][price]=x``), which is what
  stripe-python and stripe-node send.
- An object whose keys are exactly ``"0" .. "n-1"`` (any order) becomes a list ordered by index.
  Digit keys that are not dense from 0 (``metadata[2024]=x``) stay an object with string keys,
  because Stripe allows numeric metadata keys; a list-typed parameter then fails validation with
  "array indexes must be consecutive integers starting at 0" (see ``core.params``).
- The same name given twice as a scalar, or with two shapes (``a=1&a[b]=2``, ``a[]=1&a[b]=2``),
  is rejected with ``param`` naming it.
- Limits against hostile input: at most ``MAX_PARAMS`` parameters (JSON: leaf values), names of at
  most ``MAX_KEY_LENGTH`` characters, nesting of at most ``MAX_DEPTH`` levels (``a[b][c]`` is 3),
  bodies of at most ``MAX_BODY_BYTES``.

Every failure is an ``InvalidRequestError`` (HTTP 400, or 413 for an oversized body); no other
exception escapes, whatever the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from starlette.requests import Request

from strongbox.core.errors import InvalidRequestError
from strongbox.core.params import IndexedList

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_KEY_LENGTH",
    "MAX_PARAMS",
    "parse_form",
    "parse_json",
    "parse_pairs",
    "read_params",
]

MAX_PARAMS = 1000
"""Most parameters (form pairs, or JSON leaf values) in one request."""
MAX_DEPTH = 10
"""Most nesting levels of one parameter name: ``a[b][c]`` has 3."""
MAX_KEY_LENGTH = 500
"""Longest parameter name (form key incl. brackets, or one JSON object key)."""
MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted by ``read_params``."""

_FORM_TYPE = "application/x-www-form-urlencoded"
_JSON_TYPE = "application/json"
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# name, then zero or more [segment]; neither may contain brackets. Linear: no backtracking.
_KEY_RE = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT_RE = re.compile(r"\[([^\[\]]*)\]")
_ASCII_DIGITS = re.compile(r"[0-9]+")

# A parsed key: the top-level name, then segments; None stands for "[]" (append).
_Path = list[str | None]


def _fail(message: str, param: str | None = None) -> NoReturn:
    raise InvalidRequestError(message, param=param)


def _render(path: _Path) -> str:
    head, *rest = path
    return str(head) + "".join("[]" if seg is None else f"[{seg}]" for seg in rest)


def _split_key(key: str) -> _Path:
    if len(key) > MAX_KEY_LENGTH:
        _fail(f"Invalid parameter name: longer than {MAX_KEY_LENGTH} characters.")
    match = _KEY_RE.fullmatch(key)
    if match is None:
        shown = key if len(key) <= 100 else key[:100] + "..."
        _fail(
            f"Invalid parameter name: {shown!r}. Use name, name[key] or name[0] bracket notation.",
            param=shown or None,
        )
    path: _Path = [match.group(1)]
    path.extend(seg or None for seg in _SEGMENT_RE.findall(match.group(2)))
    if len(path) > MAX_DEPTH:
        _fail(
            f"Parameter {_render(path)} is nested too deeply (at most {MAX_DEPTH} levels).",
            param=_render(path),
        )
    if None in path[:-1]:
        _fail(
            f"Invalid parameter name {_render(path)}: '[]' may only appear at the end. "
            "Use indexes for lists of objects, e.g. items[0][price].",
            param=_render(path),
        )
    return path


def _conflict(path: _Path) -> NoReturn:
    name = _render(path)
    _fail(
        f"Parameter {name} was given with conflicting shapes (as a value, an object "
        "and/or a list). Send it in one form only.",
        param=name,
    )


def _insert(root: dict[str, Any], path: _Path, value: str) -> None:
    node: dict[str, Any] = root
    last = len(path) - 1
    for i in range(last):
        seg = path[i]
        assert seg is not None  # only the last segment may be "[]" (checked in _split_key)
        child: Any = node.get(seg)
        if path[i + 1] is None:  # name[] = value: append to a list
            if child is None:
                node[seg] = [value]
            elif isinstance(child, list):
                child.append(value)
            else:
                _conflict(path[: i + 1])
            return
        if child is None:
            child = node[seg] = {}
        elif not isinstance(child, dict):
            _conflict(path[: i + 1])
        node = child
    seg = path[last]
    assert seg is not None
    existing = node.get(seg)
    if existing is None:
        node[seg] = value
    elif isinstance(existing, str):
        name = _render(path)
        _fail(f"Parameter {name} was given more than once.", param=name)
    else:
        _conflict(path)


def _finalize(node: Any) -> Any:
    """Turn objects keyed exactly "0".."n-1" into lists, depth first."""
    if isinstance(node, dict):
        for key, child in node.items():
            if isinstance(child, dict):
                node[key] = _finalize(child)
        if node and node.keys() == {str(i) for i in range(len(node))}:
            return IndexedList(node[str(i)] for i in range(len(node)))
    return node


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested parameters from decoded ``(name, value)`` pairs in bracket notation."""
    root: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > MAX_PARAMS:
            _fail(f"Too many parameters: at most {MAX_PARAMS} are allowed in one request.")
        _insert(root, _split_key(key), value)
    for key, child in root.items():
        root[key] = _finalize(child)
    return root


def _parse_urlencoded(data: bytes, where: str) -> dict[str, Any]:
    if not data:
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _fail(f"The {where} is not valid UTF-8.")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_PARAMS,
        )
    except UnicodeDecodeError:
        _fail(f"The {where} contains percent-encoded bytes that are not valid UTF-8.")
    except ValueError:  # max_num_fields exceeded
        _fail(f"Too many parameters: at most {MAX_PARAMS} are allowed in one request.")
    return parse_pairs(pairs)


def parse_form(body: bytes) -> dict[str, Any]:
    """Parse an ``application/x-www-form-urlencoded`` body (or query string) in bracket notation.

    ``+`` is a space, percent-escapes are UTF-8. Raises only ``InvalidRequestError``.
    """
    return _parse_urlencoded(body, "request body")


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def _reject_constant(name: str) -> NoReturn:
    _fail(f"Invalid JSON in request body: {name} is not a valid JSON number.")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _fail("Invalid JSON in request body: a string contains an unpaired surrogate escape.")


def _check_json(value: Any, path: list[str | int], leaves: list[int]) -> None:
    """Enforce the same limits as for forms: depth, key length, number of values."""
    if len(path) > MAX_DEPTH:
        name = str(path[0]) + "".join(f"[{p}]" for p in path[1:MAX_DEPTH])
        _fail(
            f"Parameter {name}... is nested too deeply (at most {MAX_DEPTH} levels).",
            param=str(path[0]),
        )
    if isinstance(value, dict) and value:
        for key, child in value.items():
            if len(key) > MAX_KEY_LENGTH:
                _fail(f"Invalid parameter name: longer than {MAX_KEY_LENGTH} characters.")
            _check_text(key)
            _check_json(child, [*path, key], leaves)
        return
    if isinstance(value, list) and value:
        for index, child in enumerate(value):
            _check_json(child, [*path, index], leaves)
        return
    leaves[0] += 1
    if leaves[0] > MAX_PARAMS:
        _fail(f"Too many parameters: at most {MAX_PARAMS} values are allowed in one request.")
    if isinstance(value, str):
        _check_text(value)


def parse_json(body: bytes) -> dict[str, Any]:
    """Parse a JSON request body; the top level must be an object. Empty body = ``{}``.

    Rejects invalid UTF-8, duplicate keys, ``NaN``/``Infinity``, unpaired surrogates, and input
    beyond the form limits. Raises only ``InvalidRequestError``.
    """
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        _fail("The request body is not valid UTF-8.")
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
        )
    except _DuplicateKeyError as exc:
        shown = exc.key if len(exc.key) <= 100 else exc.key[:100] + "..."
        _fail(f"Invalid JSON in request body: duplicate key {shown!r}.")
    except json.JSONDecodeError as exc:
        _fail(f"Invalid JSON in request body: {exc.msg} at line {exc.lineno} column {exc.colno}.")
    except RecursionError:
        _fail(f"Invalid JSON in request body: nested too deeply (at most {MAX_DEPTH} levels).")
    except ValueError:  # e.g. an integer literal with more digits than Python allows
        _fail("Invalid JSON in request body.")
    if not isinstance(data, dict):
        _fail("Invalid JSON in request body: the top level must be an object.")
    leaves = [0]
    for key, value in data.items():
        if len(key) > MAX_KEY_LENGTH:
            _fail(f"Invalid parameter name: longer than {MAX_KEY_LENGTH} characters.")
        _check_text(key)
        _check_json(value, [key], leaves)
    return data


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """``(media type, charset)`` from a Content-Type header, both lower-case."""
    media, _, rest = (content_type or "").partition(";")
    charset: str | None = None
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _too_large() -> NoReturn:
    raise InvalidRequestError(
        f"Request body too large: at most {MAX_BODY_BYTES} bytes are accepted.", status=413
    )


async def read_params(request: Request) -> dict[str, Any]:
    """All request parameters, parsed per Stripe's conventions.

    GET, HEAD and DELETE: the query string only. POST, PUT, PATCH: the body, by Content-Type
    (``application/x-www-form-urlencoded``, also when missing, or ``application/json``), merged
    with the query string; a top-level parameter given in both is rejected.
    """
    query = _parse_urlencoded(request.scope.get("query_string", b""), "query string")
    reject_nul(query)
    if request.method.upper() not in _BODY_METHODS:
        return query

    media, charset = _media_type(request.headers.get("content-type"))
    if media not in ("", _FORM_TYPE, _JSON_TYPE):
        shown = media if len(media) <= 100 else media[:100] + "..."
        _fail(
            f"Unsupported Content-Type {shown!r}: send parameters as {_FORM_TYPE} or {_JSON_TYPE}."
        )
    if charset is not None and charset not in _UTF8_CHARSETS:
        shown = charset if len(charset) <= 40 else charset[:40] + "..."
        _fail(f"Unsupported charset {shown!r}: request bodies must be UTF-8.")

    declared = request.headers.get("content-length", "").strip()
    if _ASCII_DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > MAX_BODY_BYTES):
        _too_large()
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        _too_large()

    params = parse_json(body) if media == _JSON_TYPE else parse_form(body)
    for name in params:
        if name in query:
            _fail(
                f"Parameter {name} was given in both the query string and the request body. "
                "Send it in one place only.",
                param=name,
            )
    reject_nul(params)
    return {**query, **params}


def reject_nul(value: Any, name: str = "") -> None:
    """No request parameter may hold NUL: PostgreSQL text cannot store or compare one."""
    if isinstance(value, str):
        if "\x00" in value:
            _fail("Invalid parameter: NUL characters are not allowed.", param=name or None)
    elif isinstance(value, dict):
        for key, child in value.items():
            if "\x00" in key:
                _fail("Invalid parameter name: NUL characters are not allowed.")
            reject_nul(child, f"{name}[{key}]" if name else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            reject_nul(child, f"{name}[{index}]")
