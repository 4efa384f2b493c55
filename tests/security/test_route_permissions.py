"""Every route declares the permission it needs, and every route goes through the check.

Walks ``app.routes``: an API-key route must map to a ``(resource, action)`` in
``api/route_permissions.py``; an operator route must map to one or be the operator's own
(sign-in, factors, asking for access). Then every API-key route is called with a restricted
key that holds nothing: 403 ``permission_error`` naming exactly the declared permission, and
nothing changes; with a key holding just that permission the check lets it through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from security.test_auth_matrix import _path
from strongbox.api.app import create_app
from strongbox.api.route_permissions import is_self_service, required
from strongbox.api.security import is_operator_route, is_public_route, iter_routes
from strongbox.auth.permissions import ALL_PERMISSIONS
from strongbox.runtime import Runtime
from support import Merchant, error_of


def _all(runtime: Runtime) -> list[tuple[str, str, Any]]:
    app = create_app(runtime, run_workers=False)
    return [
        (method, path, endpoint)
        for path, methods, endpoint in iter_routes(app.routes)
        if not is_public_route(path, endpoint)
        for method in sorted(methods - {"HEAD"})
    ]


def test_every_route_declares_a_permission(runtime: Runtime) -> None:
    undeclared = []
    for method, path, endpoint in _all(runtime):
        need = required(method, path)
        if need is not None:
            assert f"{need[0]}:{need[1]}" in ALL_PERMISSIONS, (method, path, need)
            continue
        if is_operator_route(endpoint) and is_self_service(method, path):
            continue
        undeclared.append((method, path))
    assert undeclared == []


def _key(api: TestClient, levels: dict[str, str]) -> str:
    r = api.post("/v1/api_keys", json={"name": "matrix", "permissions": levels})
    assert r.status_code == 200, r.text
    return str(r.json()["secret"])


def test_every_api_route_refuses_a_key_without_its_permission(
    runtime: Runtime,
    api: TestClient,
    objects: dict[str, str],
    snapshot: Callable[[], Any],
    merchant: Merchant,
) -> None:
    nothing = _key(api, {"customers": "none"})
    anonymous = TestClient(api.app, raise_server_exceptions=False)
    routes = [(m, p) for m, p, e in _all(runtime) if not is_operator_route(e)]
    assert len(routes) >= 90
    before = snapshot()
    for method, template in routes:
        resource, action = required(method, template) or ("?", "?")
        r = anonymous.request(method, _path(template, objects),
                              headers={"Authorization": f"Bearer {nothing}"},
                              data={"name": "x"} if method == "POST" else None)  # fmt: skip
        err = error_of(r, 403)
        assert err["type"] == "permission_error", (method, template, err)
        assert f"'{resource}:{action}'" in err["message"], (method, template, err)
    assert snapshot() == before


@pytest.mark.parametrize("action", ["read", "write"])
def test_the_declared_permission_is_enough(
    runtime: Runtime, api: TestClient, objects: dict[str, str], action: str
) -> None:
    anonymous = TestClient(api.app, raise_server_exceptions=False)
    keys: dict[str, str] = {}
    for method, template, endpoint in _all(runtime):
        if is_operator_route(endpoint):
            continue
        need = required(method, template)
        assert need is not None
        if need[1] != action:
            continue
        if need[0] not in keys:
            keys[need[0]] = _key(api, {need[0]: action})
        r = anonymous.request(method, _path(template, objects),
                              headers={"Authorization": f"Bearer {keys[need[0]]}"})  # fmt: skip
        if r.status_code == 403:
            assert r.json()["error"]["type"] != "permission_error", (method, template, r.text)
