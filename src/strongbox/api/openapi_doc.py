"""The OpenAPI document, made accurate enough to fuzz from (schemathesis, ``scripts/fuzz``).

Routes read their parameters themselves (``api.context.params_of``) and describe them with
``routers.common.body_doc`` / ``query_doc`` from the pydantic params models. This module
post-processes the generated document, generically for every route:

- Stripe's wire format: form bodies and query strings cannot carry ``null``, so nullable
  alternatives are dropped there; array parameters are named ``name[]`` (``expand[]=a``) and
  object parameters use ``deepObject`` style (``metadata[k]=v``, ``created[gte]=1``).
- What the params types accept: integers are int64 (and may be JSON strings of digits),
  booleans may be the strings ``"true"``/``"false"`` in JSON, metadata values are short
  strings (JSON numbers and booleans are accepted and stored as strings).
- Authentication: every route but ``api.security``'s public ones requires a secret key
  (``bearer`` or ``basic``), so schemathesis also checks that unauthenticated calls fail.
- Responses: the Stripe error envelope for the 4xx statuses the API uses, and the shape of
  the object (or list) each ``/v1`` route returns.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from strongbox.api.security import is_public_path, public_paths

__all__ = ["document", "install_openapi"]

INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
INT_STRING = {"type": "string", "pattern": "^-?[0-9]{1,19}$"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [
                        "api_error",
                        "card_error",
                        "idempotency_error",
                        "invalid_request_error",
                        "permission_error",
                    ],
                },
                "message": {"type": "string", "minLength": 1},
                "code": {"type": "string"},
                "decline_code": {"type": "string"},
                "param": {"type": "string"},
                "payment_intent": {"type": "object"},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "Invalid request (parameters, state, idempotency key reuse)",
    "401": "No valid API key",
    "402": "The card was declined",
    "403": "A publishable key where a secret key is required",
    "404": "No such object (or another merchant's)",
    "409": "Idempotency key in use by a concurrent request",
    "413": "Request body too large",
    "429": "Rate limited (see Retry-After)",
}

_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_METADATA_OUT: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_INTENT_STATUSES = [
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
]


def _resource(prefix: str, obj: str, **props: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "object"],
        "properties": {
            "id": {"type": "string", "pattern": f"^{prefix}_"},
            "object": {"type": "string", "enum": [obj]},
            **props,
        },
    }


RESOURCES: dict[str, dict[str, Any]] = {
    "payment_intents": _resource(
        "pi",
        "payment_intent",
        amount={"type": "integer", "minimum": 0},
        currency={"type": "string", "pattern": "^[a-z]{3}$"},
        status={"type": "string", "enum": _INTENT_STATUSES},
        livemode={"type": "boolean"},
        created={"type": "integer"},
        metadata=_METADATA_OUT,
        client_secret=_STR_OR_NULL,
    ),
    "refunds": _resource(
        "re",
        "refund",
        amount={"type": "integer", "minimum": 0},
        currency={"type": "string", "pattern": "^[a-z]{3}$"},
        status={"type": "string"},
        created={"type": "integer"},
        metadata=_METADATA_OUT,
    ),
    "customers": _resource(
        "cus",
        "customer",
        email=_STR_OR_NULL,
        name=_STR_OR_NULL,
        deleted={"type": "boolean"},
        metadata=_METADATA_OUT,
    ),
    "payment_methods": _resource(
        "pm",
        "payment_method",
        type={"type": "string"},
        created={"type": "integer"},
        customer={"type": ["string", "object", "null"]},
    ),
    "events": _resource(
        "evt",
        "event",
        type={"type": "string"},
        created={"type": "integer"},
        data={"type": "object", "required": ["object"]},
    ),
}
HISTORY: dict[str, Any] = {
    "type": "object",
    "required": ["object", "payment_intent", "status_changes", "attempts"],
    "properties": {
        "object": {"type": "string", "enum": ["payment_intent_history"]},
        "payment_intent": {"type": "string"},
        "status_changes": {"type": "array", "items": {"type": "object"}},
        "attempts": {"type": "array", "items": {"type": "object"}},
    },
}
ANY_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["object"],
    "properties": {"object": {"type": "string"}},
}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "url"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "url": {"type": "string"},
        },
    }


#: ``/v1/<name>`` resources that are one object per merchant, not a collection.
SINGLETONS = frozenset({"balance", "routing", "account", "payout_schedule"})


def _success_schema(path: str, method: str) -> dict[str, Any]:
    parts = path.strip("/").split("/")  # v1, resource, {id}, action
    if len(parts) < 2:
        return ANY_OBJECT
    item = RESOURCES.get(parts[1], ANY_OBJECT)
    if parts[-1] == "history":
        return HISTORY
    if len(parts) == 2 and method == "get" and parts[1] not in SINGLETONS:
        return _list_of(item)
    return item


# ---------------------------------------------------------------------- request schemas


def _without_null(schema: Any) -> Any:
    """Drop ``null`` alternatives (form bodies and query strings cannot express null)."""
    if isinstance(schema, list):
        return [_without_null(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_null(v) for k, v in schema.items()}
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list):
            kept = [o for o in options if o != {"type": "null"}]
            if len(kept) == 1:
                del out[key]
                out = {**kept[0], **out}
            else:
                out[key] = kept
    if out.get("default", 0) is None:
        del out["default"]
    return out


def _wire_types(schema: Any, *, json: bool) -> Any:
    """Integers are int64 (JSON: also digit strings); JSON booleans may be "true"/"false"."""
    if isinstance(schema, list):
        return [_wire_types(s, json=json) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _wire_types(v, json=json) for k, v in schema.items()}
    kind = out.get("type")
    if kind == "integer":
        bounded = {**out, **{k: v for k, v in INT64.items() if k not in out}}
        if not json:
            return bounded
        rest = {k: v for k, v in bounded.items() if k in ("title", "description", "default")}
        core = {k: v for k, v in bounded.items() if k not in rest}
        return {**rest, "anyOf": [core, INT_STRING]}
    if kind == "boolean" and json:
        rest = {k: v for k, v in out.items() if k != "type"}
        return {
            **rest,
            "anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}],
        }
    if kind == "object" and out.get("additionalProperties") == {"type": "string"}:
        # Metadata: at most 50 keys of 1-40 characters without brackets, short values.
        value: dict[str, Any] = {"type": "string", "maxLength": 500, "pattern": "^[^\\r\\n]*$"}
        out["additionalProperties"] = (
            {"anyOf": [value, {"type": ["number", "boolean", "null"]}]} if json else value
        )
        out["maxProperties"] = 50
        out["propertyNames"] = {"minLength": 1, "maxLength": 40, "pattern": "^[^\\[\\]\\r\\n]+$"}
    return out


def _is_type(schema: dict[str, Any], kind: str) -> bool:
    if schema.get("type") == kind:
        return True
    return any(isinstance(o, dict) and o.get("type") == kind for o in schema.get("anyOf", []))


def _form_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form-encoded body schema (bracket names) and its ``encoding`` object."""
    schema = _wire_types(_without_null(schema), json=False)
    props: dict[str, Any] = schema.get("properties", {})
    renamed: dict[str, Any] = {}
    encoding: dict[str, Any] = {}
    required = list(schema.get("required", []))
    for name, prop in props.items():
        if _is_type(prop, "array"):
            renamed[name + "[]"] = prop
            required = [name + "[]" if r == name else r for r in required]
        else:
            renamed[name] = prop
            if _is_type(prop, "object"):
                encoding[name] = {"style": "deepObject", "explode": True}
    out = {**schema, "properties": renamed}
    if encoding:
        # Bracketed names (metadata[k]=v) are how object parameters travel in a form: a
        # "metadata[0]" property is the same bytes on the wire as metadata={"0": ...}.
        out["patternProperties"] = {"\\[": {}}
    if required:
        out["required"] = required
    return out, encoding


def _document_body(op: dict[str, Any]) -> None:
    content = op.get("requestBody", {}).get("content", {})
    form = content.get("application/x-www-form-urlencoded")
    if form and "schema" in form:
        form["schema"], encoding = _form_schema(form["schema"])
        if encoding:
            form["encoding"] = encoding
    body = content.get("application/json")
    if body and "schema" in body:
        body["schema"] = _wire_types(body["schema"], json=True)


def _document_query(op: dict[str, Any]) -> None:
    for param in op.get("parameters", []):
        if param.get("in") != "query":
            continue
        schema = _wire_types(_without_null(param.get("schema", {})), json=False)
        if _is_type(schema, "array") and not param["name"].endswith("[]"):
            param["name"] += "[]"
        elif _is_type(schema, "object"):
            param["style"] = "deepObject"
            param["explode"] = True
        param["schema"] = schema


# ---------------------------------------------------------------------- responses


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


ERROR_REF = {"$ref": "#/components/schemas/Error"}


OAUTH_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "minLength": 1},
        "error_description": {"type": "string"},
        "state": {"type": "string"},
    },
}
"""RFC 6749 §5.2 error body of the OAuth2 endpoints (what OAuth client libraries read)."""


def _oauth_responses(path: str, method: str) -> dict[str, Any] | None:
    either = {"anyOf": [OAUTH_ERROR, ERROR_REF]}  # protocol errors, or a malformed body
    if path == "/.well-known/oauth-authorization-server":
        meta = {"type": "object", "required": ["issuer", "token_endpoint"]}
        return {"200": _json(meta, "RFC 8414 metadata")}
    if path == "/oauth/jwks":
        return {"200": _json({"type": "object", "required": ["keys"]}, "The public keys")}
    if path == "/oauth/authorize" and method == "get":
        return {
            "200": _html("The consent page"),
            "302": {"description": "Back to the client's redirect URI with an error"},
            "400": _json(OAUTH_ERROR, "Unknown client, redirect URI or malformed request"),
        }
    if path == "/oauth/authorize":
        return {
            "302": {"description": "Back to the client's redirect URI (code or error)"},
            "400": _json(either, "Malformed request"),
            "401": _json(ERROR_REF, "No or invalid secret key"),
            "403": _json(ERROR_REF, "Not a secret key, or another merchant's client"),
        }
    if path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        return {
            "200": _json({"type": "object"}, "Tokens, {} (revoked) or the introspection"),
            "400": _json(either, "Invalid request, grant or scope (RFC 6749 §5.2)"),
            "401": _json(OAUTH_ERROR, "Client authentication failed"),
        }
    return None


def _public_responses(path: str, method: str) -> dict[str, Any] | None:
    oauth = _oauth_responses(path, method)
    if oauth is not None:
        return oauth
    if path == "/healthz":
        health = {"type": "object", "required": ["status"], "properties": {"status": {}}}
        return {"200": _json(health, "Healthy"), "503": _json(health, "Database unreachable")}
    if path == "/metrics":
        return {
            "200": {
                "description": "Prometheus metrics",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "401": _json(ERROR_REF, "Missing or wrong metrics token"),
        }
    if path.startswith("/v1/webhooks/inbound/"):
        ack = {"type": "object", "required": ["received"], "properties": {"received": {}}}
        return {
            "200": _json(ack, "Verified and stored (or a duplicate)"),
            "400": _json(ERROR_REF, "Signature invalid or body malformed"),
            "404": _json(ERROR_REF, "No such inbound webhook endpoint"),
        }
    if path.startswith("/v1/financial_connections/webhooks/"):
        ack = {"type": "object", "required": ["received"], "properties": {"received": {}}}
        return {
            "200": _json(ack, "Verified and stored (or a duplicate)"),
            "400": _json(ERROR_REF, "Plaid signature invalid, or body malformed"),
            "401": _json(ERROR_REF, "Yodlee callback token missing or wrong"),
            "404": _json(ERROR_REF, "No such provider, or it is not configured"),
            "503": _json(ERROR_REF, "Plaid's verification key could not be fetched; retry"),
        }
    if path.startswith("/simulator/") and method == "get":
        return {"200": _html("Challenge page"), "404": _html("No such challenge")}
    if path.startswith("/simulator/"):
        return {
            "200": _json({"type": "object"}, "Challenge completed (JSON clients)"),
            "303": {"description": "Back to the return_url"},
            "404": _json(ERROR_REF, "No such challenge"),
            "409": _json(ERROR_REF, "Challenge already completed otherwise"),
        }
    return None


def document(schema: dict[str, Any], public: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Post-process a FastAPI OpenAPI document in place (see the module docstring).

    ``public``: paths of routes marked ``@public_route`` (``api.security.public_paths``).
    """
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = copy.deepcopy(ERROR_SCHEMA)
    components.setdefault("securitySchemes", {}).update(
        {
            "secretKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "A secret key: Authorization: Bearer sk_test_…",
            },
            "secretKeyBasic": {
                "type": "http",
                "scheme": "basic",
                "description": "HTTP basic with the secret key as user name, no password.",
            },
        }
    )
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            _document_body(op)
            _document_query(op)
            responses: dict[str, Any] = op["responses"]
            responses.pop("422", None)  # validation errors are rendered as 400
            public_responses = _public_responses(path, method)
            if path in public or is_public_path(path):
                if public_responses is not None:
                    op["responses"] = public_responses
                for code in ("400", "413", "429"):
                    op["responses"].setdefault(code, _json(ERROR_REF, ERROR_STATUSES[code]))
                continue
            op["security"] = [{"secretKey": []}, {"secretKeyBasic": []}]
            responses["200"] = _json(_success_schema(path, method), "The object")
            if path.startswith("/v1/privacy/requests/") and path.endswith("/export"):
                # ``format=html``: the human-readable summary of the same export.
                responses["200"]["content"]["text/html"] = {"schema": {"type": "string"}}
            for code, description in ERROR_STATUSES.items():
                responses[code] = _json(ERROR_REF, description)
    _add_links(schema)
    return schema


def _add_links(schema: dict[str, Any]) -> None:
    """OpenAPI links from each ``POST /v1/x`` (create) to the operations on ``/v1/x/{id}``,
    so schemathesis's stateful phase works on objects that exist."""
    paths: dict[str, Any] = schema.get("paths", {})
    for path, item in paths.items():
        create = item.get("post")
        if not path.startswith("/v1/") or path.count("/") != 2 or not isinstance(create, dict):
            continue
        links: dict[str, Any] = {}
        for other, other_item in paths.items():
            rest = other[len(path) :]
            if not other.startswith(path + "/{") or not rest.startswith("/{"):
                continue
            param = rest[2 : rest.index("}")]
            for method, op in other_item.items():
                if isinstance(op, dict) and op.get("operationId"):
                    links[f"{method}_{op['operationId']}"] = {
                        "operationId": op["operationId"],
                        "parameters": {param: "$response.body#/id"},
                    }
        if links:
            create["responses"]["200"]["links"] = links


def install_openapi(app: FastAPI) -> None:
    """Serve the post-processed document at ``app.openapi_url``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                ),
                public_paths(app.routes),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
