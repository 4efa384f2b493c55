"""Request-parameter models and validation with Stripe-shaped errors.

Domain schemas subclass ``Params`` and use the annotated types below; the API edge calls
``validate_params(Model, await read_params(request))``. Input is either form-encoded (every leaf
a string) or JSON (numbers, booleans, null), so the types accept both, but strictly:
``IntParam`` takes ``1000`` or ``"1000"`` and rejects ``"10.5"``, ``"1e3"``, ``" 12"``, ``""``
and ``true``; ``BoolParam`` takes ``true``/``false`` or ``"true"``/``"false"`` only.

``validate_params`` turns the first pydantic error into a ``StrongboxError`` with ``param`` in
bracket notation (``metadata[order_id]``, ``items[0][price]``, ``expand[0]``). Codes:

==================================  ==============================================================
``parameter_unknown``               ``ParameterUnknownError``: "Received unknown parameter: x"
``parameter_missing``               ``ParameterMissingError``: "Missing required param: x."
``parameter_invalid_empty``         ``""`` where a value is required (Stripe's wording)
``parameter_invalid_integer``       not an integer, or an integer bound (``ge``/``le``...) failed
``parameter_invalid_boolean``       not ``true``/``false``
``parameter_invalid_string``        a string was expected
``parameter_invalid_string_length`` too long / too short (also metadata keys and values)
``parameters_exclusive``            mutually exclusive parameters given together
``parameter_invalid``               anything else: enums, arrays, objects, formats, custom checks
==================================  ==============================================================

Messages never contain pydantic's wording nor input values, except integer and boolean errors,
which echo the value (at most 40 characters, and never when it holds 12 or more digits, so a card
number typed into the wrong field is not reflected back). Validation errors are raised ``from
None`` so the pydantic error (which holds the input) is not chained into tracebacks.

Custom checks in domain schemas should raise ``invalid_param(...)`` (a ``PydanticCustomError``)
from their validators to control the message and code; a plain ``ValueError`` is reported as
"Invalid x." without its text. Avoid bare unions other than ``X | None`` in ``Params`` models
(pydantic adds the union member to the error location); use a before-validator instead, as
``RangeQuery`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, NoReturn, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from strongbox.core.errors import (
    InvalidRequestError,
    ParameterMissingError,
    ParameterUnknownError,
    StrongboxError,
    param_path,
)

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "EXPAND_MAX_DEPTH",
    "ID_MAX_LENGTH",
    "METADATA_KEY_MAX_LENGTH",
    "METADATA_MAX_KEYS",
    "METADATA_VALUE_MAX_LENGTH",
    "BoolParam",
    "Description",
    "Expand",
    "IdString",
    "IndexedList",
    "IntParam",
    "Limit",
    "ListParams",
    "Metadata",
    "MetadataUpdate",
    "Params",
    "RangeQuery",
    "invalid_param",
    "validate_params",
]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
METADATA_MAX_KEYS: Final = 50
METADATA_KEY_MAX_LENGTH: Final = 40
METADATA_VALUE_MAX_LENGTH: Final = 500
EXPAND_MAX_DEPTH: Final = 4
"""``expand[]`` paths have at most 4 levels, i.e. at most 3 dots (Stripe's limit)."""
ID_MAX_LENGTH: Final = 255
DESCRIPTION_MAX_LENGTH: Final = 1000
"""Our limit for free-text ``description`` parameters. Stripe's limits vary by object and are
not all documented; 1000 characters is enough for any description and keeps rows, events and
webhook payloads bounded. Use a wider ``Annotated[str, Field(max_length=...)]`` where needed."""
LIMIT_MIN: Final = 1
LIMIT_MAX: Final = 100
LIMIT_DEFAULT: Final = 10

_ECHO_MAX: Final = 40
_ECHO_MAX_DIGITS: Final = 11
_ECHO_SCAN_MAX: Final = 10_000
_CUSTOM_ERROR: Final = "strongbox_param"
_PARAM_PLACEHOLDER: Final = "{param}"
_INT_RE: Final = re.compile(r"-?[0-9]{1,19}")
_EXPAND_RE: Final = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")


class Params(BaseModel):
    """Base for request-parameter models: unknown parameters are errors; instances are frozen.

    ``hide_input_in_errors`` keeps input values (possibly secrets) out of ``ValidationError``
    text, should one ever be logged.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=False,
        frozen=True,
        hide_input_in_errors=True,
    )


M = TypeVar("M", bound=BaseModel)


class IndexedList(list[Any]):
    """A list the form parser built from dense index keys (``a[0]=x&a[1]=y``), as opposed to
    ``a[]=x`` appends or JSON arrays: for objects whose keys may be digits (metadata)."""


def invalid_param(
    message: str, *, code: str = "parameter_invalid", param: str | None = None
) -> PydanticCustomError:
    """An error for validators in ``Params`` models, rendered by ``validate_params``.

    ``message`` is shown to the client as is, with ``{param}`` replaced by the parameter's
    bracket-notation name. ``param`` (a field name) is appended to the error location, for
    model-level validators that blame one field. Do not put input values in ``message``.
    """
    ctx: dict[str, Any] = {"message": message, "code": code}
    if param is not None:
        ctx["param"] = param
    return PydanticCustomError(_CUSTOM_ERROR, "Invalid parameter", ctx)


def _echo(value: Any) -> str | None:
    """A value safe to quote in a message, or None: short scalars without card-like digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        return None
    if isinstance(value, str) and len(value) > _ECHO_SCAN_MAX:
        return None
    text = str(value)
    if sum(ch.isdigit() for ch in text) > _ECHO_MAX_DIGITS:
        return None
    shown = "".join(ch if ch.isprintable() else "?" for ch in text[:_ECHO_MAX])
    return shown if len(text) <= _ECHO_MAX else shown + "..."


def _empty_message(param: str) -> str:
    return (
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
        "from your request or supply a non-empty value."
    )


def _invalid_integer(value: Any) -> NoReturn:
    if value == "":
        raise invalid_param(_empty_message(_PARAM_PLACEHOLDER), code="parameter_invalid_empty")
    shown = _echo(value)
    message = f"Invalid integer: {shown}" if shown else "Invalid {param}: must be an integer."
    raise invalid_param(message, code="parameter_invalid_integer")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        _invalid_integer(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_RE.fullmatch(value):
        number = int(value)
    else:
        _invalid_integer(value)
    if not INT64_MIN <= number <= INT64_MAX:
        _invalid_integer(value)
    return number


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    if value == "":
        raise invalid_param(_empty_message(_PARAM_PLACEHOLDER), code="parameter_invalid_empty")
    shown = _echo(value)
    message = f"Invalid boolean: {shown}" if shown else "Invalid {param}: must be true or false."
    raise invalid_param(message, code="parameter_invalid_boolean")


IntParam = Annotated[int, BeforeValidator(_parse_int)]
"""A 64-bit integer: ``int`` (not ``bool``) or a string of ASCII digits with an optional ``-``.
Add bounds with ``Annotated[IntParam, Field(ge=1)]`` (rendered "Invalid x: must be greater than
or equal to 1.", code ``parameter_invalid_integer``)."""

BoolParam = Annotated[bool, BeforeValidator(_parse_bool)]
"""``true``/``false`` (JSON) or ``"true"``/``"false"`` (forms); nothing else."""

IdString = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH)]
"""An object id or similar token: non-empty, at most 255 characters."""

Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]
"""Free text up to 1000 characters; ``""`` is allowed (on updates it means "unset")."""


# --- metadata -----------------------------------------------------------------------------


def _metadata_value(value: Any) -> Any:
    """Coerce JSON scalars to strings like Stripe does; null means "" (delete on update)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_metadata_value(value: str) -> str:
    if len(value) > METADATA_VALUE_MAX_LENGTH:
        raise invalid_param(
            f"Metadata values can have up to {METADATA_VALUE_MAX_LENGTH} characters, but you "
            f"passed in a value that is {len(value)} characters long ({{param}}).",
            code="parameter_invalid_string_length",
        )
    if "\r" in value or "\n" in value:
        # Metadata is echoed into webhooks, exports and logs: no line breaks to forge lines.
        raise invalid_param("Metadata values may not contain line breaks ({param}).")
    return value


def _prepare_metadata(value: Any) -> Any:
    if value == "":
        return {}
    if isinstance(value, IndexedList):
        # The form parser turns metadata[0]=a&metadata[1]=b into a list; keys are indexes.
        # Any other list (metadata[]=a, JSON [..]) is not metadata.
        value = {str(index): item for index, item in enumerate(value)}
    if not isinstance(value, dict):
        return value  # the dict schema reports "must be an object"
    if len(value) > METADATA_MAX_KEYS:
        raise invalid_param(
            f"Metadata can have up to {METADATA_MAX_KEYS} keys, but you passed in "
            f"{len(value)} keys.",
            code="parameter_invalid",
        )
    for key in value:
        if not isinstance(key, str) or not key:
            raise invalid_param(
                "Metadata keys must be non-empty strings.", code="parameter_invalid_empty"
            )
        if len(key) > METADATA_KEY_MAX_LENGTH:
            raise invalid_param(
                f"Metadata keys can have up to {METADATA_KEY_MAX_LENGTH} characters, but you "
                f"passed in a key that is {len(key)} characters long.",
                code="parameter_invalid_string_length",
            )
        if "[" in key or "]" in key:
            raise invalid_param("Metadata keys may not contain square brackets.")
        if "\r" in key or "\n" in key:
            raise invalid_param("Metadata keys may not contain line breaks.")
    return {key: _metadata_value(item) for key, item in value.items()}


Metadata = Annotated[
    dict[str, Annotated[str, AfterValidator(_check_metadata_value)]],
    BeforeValidator(_prepare_metadata),
]
"""Stripe metadata: at most 50 keys; keys 1-40 characters without brackets; values strings of
at most 500 characters (``""`` = delete the key on updates). JSON numbers and booleans become
strings, JSON null becomes ``""``. A top-level ``""`` is accepted as ``{}``; use
``MetadataUpdate`` where ``metadata=""`` must mean "clear all keys"."""


def _metadata_update_schema(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    def empty_or_metadata(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
        return "" if value == "" else validate(value)

    return core_schema.no_info_wrap_validator_function(
        empty_or_metadata,
        handler.generate_schema(Metadata),
        serialization=core_schema.plain_serializer_function_ser_schema(lambda value: value),
    )


class _MetadataUpdateMarker:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _metadata_update_schema(source, handler)


MetadataUpdate = Annotated[dict[str, str] | Literal[""], _MetadataUpdateMarker]
"""Metadata on update endpoints: a dict as for ``Metadata`` (``""`` values delete keys), or
``""`` itself, which clears all metadata (Stripe's ``metadata=""``)."""


# --- expand -------------------------------------------------------------------------------


def _check_expand_path(value: str) -> str:
    if value.count(".") >= EXPAND_MAX_DEPTH:
        raise invalid_param(
            f"You cannot expand more than {EXPAND_MAX_DEPTH} levels of a property ({{param}}).",
        )
    if not _EXPAND_RE.fullmatch(value):
        raise invalid_param(
            "Invalid {param}: must be a field name or a dot-separated path of field names."
        )
    return value


Expand = list[
    Annotated[
        str, Field(min_length=1, max_length=ID_MAX_LENGTH), AfterValidator(_check_expand_path)
    ]
]
"""``expand[]``: field paths such as ``customer`` or ``latest_charge.balance_transaction``, each
at most 4 levels deep."""


# --- lists --------------------------------------------------------------------------------


def _check_limit(value: int) -> int:
    if not LIMIT_MIN <= value <= LIMIT_MAX:
        raise invalid_param(
            f"Invalid {{param}}: must be between {LIMIT_MIN} and {LIMIT_MAX}.",
            code="parameter_invalid_integer",
        )
    return value


Limit = Annotated[IntParam, AfterValidator(_check_limit)]
"""Page size for list endpoints: 1 to 100."""


class RangeQuery(Params):
    """A range filter such as ``created[gte]=...&created[lt]=...``.

    A plain integer (``created=1700000000``) is accepted too and means ``gte = lte = value``, so
    consumers only ever deal with the four bounds.
    """

    gt: IntParam | None = None
    gte: IntParam | None = None
    lt: IntParam | None = None
    lte: IntParam | None = None

    @model_validator(mode="before")
    @classmethod
    def _exact_value(cls, data: Any) -> Any:
        if isinstance(data, dict | RangeQuery):
            return data
        if isinstance(data, list):
            raise invalid_param(
                "Invalid {param}: must be an integer or an object with gt, gte, lt or lte."
            )
        value = _parse_int(data)
        return {"gte": value, "lte": value}


class ListParams(Params):
    """Common parameters of list endpoints (newest first; cursors are object ids)."""

    limit: Limit = LIMIT_DEFAULT
    starting_after: IdString | None = None
    ending_before: IdString | None = None
    expand: Expand = Field(default_factory=list)
    created: RangeQuery | None = None

    @model_validator(mode="after")
    def _one_cursor(self) -> Self:
        if self.starting_after is not None and self.ending_before is not None:
            raise invalid_param(
                "You may only specify one of these parameters: ending_before, starting_after.",
                code="parameters_exclusive",
                param="ending_before",
            )
        return self


# --- errors -------------------------------------------------------------------------------

_INTEGER_TYPES: Final = frozenset({"int_type", "int_parsing", "int_from_float", "int_parsing_size"})
_BOOL_TYPES: Final = frozenset({"bool_type", "bool_parsing"})
_STRING_TYPES: Final = frozenset({"string_type", "string_unicode", "string_sub_type"})
_ARRAY_TYPES: Final = frozenset({"list_type", "tuple_type", "set_type", "frozen_set_type"})
_OBJECT_TYPES: Final = frozenset(
    {"dict_type", "model_type", "model_attributes_type", "dataclass_type", "mapping_type"}
)
_BOUNDS: Final = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "greater than or equal to"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "less than or equal to"),
}


def _is_index_object(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(key, str) and key.isascii() and key.isdigit() for key in value)
    )


def _to_error(error: ErrorDetails) -> StrongboxError:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    loc = list(error["loc"])
    value = error.get("input")

    if kind == _CUSTOM_ERROR:
        if "param" in ctx:
            loc.append(str(ctx["param"]))
        param = param_path(loc) or None
        message = str(ctx.get("message", "Invalid parameter."))
        message = message.replace(_PARAM_PLACEHOLDER, param or "request")
        return InvalidRequestError(
            message, code=str(ctx.get("code", "parameter_invalid")), param=param
        )

    param = param_path(loc)
    if kind == "extra_forbidden":
        return ParameterUnknownError(f"Received unknown parameter: {param}", param=param)
    if kind == "missing":
        return ParameterMissingError(f"Missing required param: {param}.", param=param)
    if not param:
        return InvalidRequestError("Invalid request parameters.", code="parameter_invalid")

    def invalid(message: str, code: str = "parameter_invalid") -> StrongboxError:
        return InvalidRequestError(message, code=code, param=param)

    if value == "" and kind not in ("string_too_long", "string_pattern_mismatch"):
        return invalid(_empty_message(param), "parameter_invalid_empty")
    if kind in _INTEGER_TYPES:
        shown = _echo(value)
        if not shown:
            return invalid(f"Invalid {param}: must be an integer.", "parameter_invalid_integer")
        return invalid(f"Invalid integer: {shown}", "parameter_invalid_integer")
    if kind in _BOOL_TYPES:
        shown = _echo(value)
        if not shown:
            return invalid(f"Invalid {param}: must be true or false.", "parameter_invalid_boolean")
        return invalid(f"Invalid boolean: {shown}", "parameter_invalid_boolean")
    if kind in _STRING_TYPES:
        return invalid(f"Invalid {param}: must be a string.", "parameter_invalid_string")
    if kind == "string_too_long":
        limit = ctx.get("max_length")
        return invalid(
            f"Invalid {param}: must be at most {limit} characters.",
            "parameter_invalid_string_length",
        )
    if kind == "string_too_short":
        limit = ctx.get("min_length")
        return invalid(
            f"Invalid {param}: must be at least {limit} characters.",
            "parameter_invalid_string_length",
        )
    if kind == "string_pattern_mismatch":
        return invalid(f"Invalid {param}: not in the expected format.")
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return invalid(f"Invalid {param}: must be one of {expected}")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        bound = ctx.get(key)
        code = "parameter_invalid_integer" if isinstance(bound, int) else "parameter_invalid"
        return invalid(f"Invalid {param}: must be {words} {bound}.", code)
    if kind in _ARRAY_TYPES:
        if _is_index_object(value):
            return invalid(
                f"Invalid {param}: array indexes must be consecutive integers starting at 0."
            )
        return invalid(f"Invalid {param}: must be an array.")
    if kind == "too_long":
        return invalid(f"Invalid {param}: must have at most {ctx.get('max_length')} items.")
    if kind == "too_short":
        return invalid(f"Invalid {param}: must have at least {ctx.get('min_length')} items.")
    if kind in _OBJECT_TYPES:
        return invalid(f"Invalid {param}: must be an object.")
    return invalid(f"Invalid {param}.")


def validate_params(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate request parameters; the first problem becomes a Stripe-shaped error."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not errors:  # pragma: no cover - pydantic always reports at least one
            raise InvalidRequestError("Invalid request parameters.") from None
        raise _to_error(errors[0]) from None
