"""The OpenAPI document describes the wire format, authentication and responses accurately."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from strongbox.api.openapi_doc import ERROR_STATUSES
from strongbox.api.security import public_paths
from support import error_of


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    ]


def test_every_private_operation_requires_a_secret_key_and_documents_errors(
    client: TestClient,
) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["secretKey"] == {**schemes["secretKey"], "type": "http", "scheme": "bearer"}
    ops = _operations(doc)
    assert len(ops) >= 20
    public = public_paths(client.app.routes)  # type: ignore[attr-defined]
    assert "/healthz/keys" in public
    for path, method, op in ops:
        responses = op["responses"]
        assert "422" not in responses, (method, path)
        if path in public:
            assert "security" not in op, (method, path)
            continue
        assert op["security"] == [{"secretKey": []}, {"secretKeyBasic": []}], (method, path)
        for code in ERROR_STATUSES:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
        assert responses["200"]["content"]["application/json"]["schema"]["type"] == "object"


def test_form_bodies_use_stripe_bracket_notation(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    create = doc["paths"]["/v1/payment_intents"]["post"]["requestBody"]["content"]
    form = create["application/x-www-form-urlencoded"]
    props = form["schema"]["properties"]
    assert "payment_method_types[]" in props
    assert "expand[]" in props
    assert props["amount"]["type"] == "integer"
    assert props["amount"]["maximum"] == 2**63 - 1
    assert "anyOf" not in props["customer"]  # no null in a form
    assert form["encoding"]["metadata"] == {"style": "deepObject", "explode": True}
    meta = props["metadata"]
    assert meta["maxProperties"] == 50
    assert meta["propertyNames"]["maxLength"] == 40
    as_json = create["application/json"]["schema"]["properties"]
    assert {"type": "string", "pattern": "^-?[0-9]{1,19}$"} in as_json["amount"]["anyOf"]
    listing = {p["name"]: p for p in doc["paths"]["/v1/customers"]["get"]["parameters"]}
    assert "expand[]" in listing
    assert listing["created"]["style"] == "deepObject"
    links = doc["paths"]["/v1/customers"]["post"]["responses"]["200"]["links"]
    assert any(link["parameters"] == {"customer_id": "$response.body#/id"}
               for link in links.values())  # fmt: skip


def test_documented_shapes_are_what_the_api_sends(api: TestClient) -> None:
    """The success schemas hold for real responses (schemathesis checks this at scale)."""
    cus = api.post("/v1/customers", data={"name": "x", "metadata[k]": "v"})
    assert cus.status_code == 200
    body = cus.json()
    assert body["id"].startswith("cus_")
    assert body["object"] == "customer"
    listing = api.get("/v1/customers").json()
    assert set(listing) >= {"object", "data", "has_more", "url"}
    err = error_of(api.get("/v1/customers/cus_missing"), 404)
    assert set(err) <= {"type", "message", "code", "param", "decline_code", "payment_intent"}


def test_metadata_refuses_json_arrays_and_line_breaks(api: TestClient) -> None:
    for body in (
        {"metadata": [None, None]},
        {"metadata": ["a"]},
        {"metadata": {"k": "a\nb"}},
        {"metadata": {"k\r": "a"}},
    ):
        err = error_of(api.post("/v1/customers", json=body), 400)
        assert err["param"].startswith("metadata"), err
    form = api.post("/v1/customers", content=b"metadata[]=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert error_of(form, 400)["param"] == "metadata"
    # Dense index keys are still ordinary metadata keys.
    ok = api.post("/v1/customers", data={"metadata[0]": "a", "metadata[1]": "b"})
    assert ok.json()["metadata"] == {"0": "a", "1": "b"}
