"""The hosted card page (``/elements/card``), ``strongbox.js`` and their headers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.auth.models import ApiKey
from strongbox.runtime import Runtime
from support import Merchant

ORIGIN = "http://127.0.0.1:5000"


class _Page(HTMLParser):
    """Collects tags with their attributes and any inline script text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script += data.strip()

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _csp(r: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in r.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        assert name not in out, f"directive {name} twice"
        out[name] = values
    return out


@pytest.fixture
def registered(api: TestClient) -> str:
    assert api.post("/v1/merchant_origins", data={"origin": ORIGIN}).status_code == 200
    return ORIGIN


def _card(client: TestClient, key: str, origin: str | None = ORIGIN) -> Any:
    params = {"key": key} if origin is None else {"key": key, "origin": origin}
    return client.get("/elements/card", params=params)


def test_the_card_page_for_a_registered_origin(
    client: TestClient, merchant: Merchant, registered: str
) -> None:
    r = _card(client, merchant.publishable_key)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    csp = _csp(r)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == [registered]
    assert csp["form-action"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert not any("unsafe" in v or "*" in v for values in csp.values() for v in values)

    page = _parse(r.text)
    (form,) = page.all("form")
    assert form["data-key"] == merchant.publishable_key
    assert form["data-origin"] == registered
    inputs = {a["id"]: a for a in page.all("input")}
    assert set(inputs) == {"card-number", "card-expiry", "card-cvc"}
    assert inputs["card-number"]["autocomplete"] == "cc-number"
    assert inputs["card-cvc"]["autocomplete"] == "cc-csc"
    # Nothing is submitted without the script: no input has a name, no form has an action.
    assert all("name" not in a for a in inputs.values())
    assert "action" not in form
    # Only Strongbox's own files, no inline script or event handlers.
    assert [s["src"] for s in page.all("script")] == ["/elements/assets/card.js"]
    assert page.inline_script == ""
    assert [link["href"] for link in page.all("link")] == ["/elements/assets/card.css"]
    for _tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), attrs
        for name in ("src", "href"):
            assert not (attrs.get(name) or "/").startswith(("http:", "https:", "//"))


def test_the_origin_parameter_is_matched_in_its_normalized_form(
    client: TestClient, merchant: Merchant, registered: str
) -> None:
    r = _card(client, merchant.publishable_key, "HTTP://127.0.0.1:5000")
    assert r.status_code == 200
    assert _csp(r)["frame-ancestors"] == [registered]
    assert _parse(r.text).all("form")[0]["data-origin"] == registered


def _assert_error_page(r: Any, status: int, text: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    page = _parse(r.text)
    assert page.all("form") == []
    assert page.all("input") == []
    assert page.all("script") == []
    assert page.inline_script == ""
    csp = _csp(r)
    assert csp["default-src"] == ["'none'"]
    assert "script-src" not in csp
    assert text in r.text


def test_unregistered_origins_get_no_form(
    client: TestClient, merchant: Merchant, registered: str, new_merchant: Any
) -> None:
    pk = merchant.publishable_key
    _assert_error_page(_card(client, pk, "http://127.0.0.1:5001"), 403, "not registered")
    _assert_error_page(_card(client, pk, "https://127.0.0.1:5000"), 403, "not registered")
    _assert_error_page(_card(client, pk, ORIGIN + "/path"), 403, "not registered")
    _assert_error_page(_card(client, pk, "null"), 403, "not registered")
    _assert_error_page(_card(client, pk, None), 403, "not registered")
    # Another merchant's registered origin does not open this merchant's page, and vice versa.
    other = new_merchant("Other")
    _assert_error_page(_card(client, other.publishable_key, ORIGIN), 403, "not registered")


def test_a_merchant_without_origins_gets_no_form(client: TestClient, merchant: Merchant) -> None:
    _assert_error_page(_card(client, merchant.publishable_key), 403, "not registered")


def test_keys_that_are_not_valid_publishable_keys_get_no_form(
    client: TestClient, merchant: Merchant, registered: str, runtime: Runtime
) -> None:
    _assert_error_page(_card(client, ""), 400, "publishable key")
    _assert_error_page(_card(client, "pk_test_" + "x" * 32), 401, "not valid")
    _assert_error_page(_card(client, "pk_" + "x" * 300), 401, "not valid")
    r = _card(client, merchant.secret_key)
    _assert_error_page(r, 400, "publishable key")
    assert merchant.secret_key not in r.text
    assert merchant.secret_key[-8:] not in r.text
    # A revoked publishable key stops working (after the key cache's entry expires).
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(ApiKey)
            .where(ApiKey.merchant_id == merchant.id, ApiKey.kind == "publishable")
            .values(revoked_at=uow.clock.now())
        )
        uow.commit()
    runtime.key_cache.clear()
    _assert_error_page(_card(client, merchant.publishable_key), 401, "not valid")


def _post_targets(js: str) -> list[str]:
    """The targetOrigin argument of every ``postMessage`` call in a script."""
    calls = re.findall(r"postMessage\(([^;]*?)\);", js, flags=re.S)
    assert calls
    return [call.rsplit(",", 1)[-1].strip() for call in calls]


def test_strongbox_js(client: TestClient) -> None:
    r = client.get("/elements/strongbox.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    js = r.text
    assert "window.Strongbox = Strongbox" in js
    # Messages are checked against the Strongbox origin and posted only to it.
    assert "event.origin !== STRONGBOX_ORIGIN" in js
    assert _post_targets(js) == ["STRONGBOX_ORIGIN"]


def test_card_page_assets(client: TestClient) -> None:
    js = client.get("/elements/assets/card.js")
    assert js.status_code == 200
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.headers["x-content-type-options"] == "nosniff"
    assert _post_targets(js.text) == ["PARENT_ORIGIN"]
    assert "event.origin !== PARENT_ORIGIN" in js.text
    css = client.get("/elements/assets/card.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    for name in ("strongbox.js", "../templates/card.html", "card.html", "x.js"):
        assert client.get(f"/elements/assets/{name}").status_code == 404


def test_elements_routes_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith("/elements") for p in paths)
    assert "/v1/merchant_origins" in paths
