"""The operator surface's own matrix, derived from the route table: every ``@operator_route``
but the three sign-in entry points refuses a request without a session (401); every
state-changing one refuses a session without its CSRF token (403); routes naming a
permission refuse an operator whose role lacks it (403 ``permission_error``). Nothing
changes in any refused case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth.conftest import Clocked, clocked, signed_in  # noqa: F401 (the fixture)
from security.conftest import dump_database
from strongbox.api.app import create_app
from strongbox.api.route_permissions import is_self_service, required
from strongbox.api.security import is_operator_route, iter_routes
from support import error_of

ENTRY_POINTS = {
    ("GET", "/operator/login"),
    ("POST", "/operator/login"),
    ("POST", "/operator/invitations/accept"),
}


def _operator_routes(env: Clocked) -> list[tuple[str, str]]:
    app = create_app(env.rt, run_workers=False)
    return [
        (method, path)
        for path, methods, endpoint in iter_routes(app.routes)
        if is_operator_route(endpoint)
        for method in sorted(methods - {"HEAD"})
    ]


def _fill(path: str) -> str:
    return path.replace("{grant_id}", "agr_nothing").replace("{operator_id}", "op_nothing")


def test_operator_routes_need_a_session_and_csrf(clocked: Clocked) -> None:  # noqa: F811
    routes = _operator_routes(clocked)
    assert len(routes) >= 20
    assert set(routes) >= ENTRY_POINTS
    user, _ = signed_in(clocked, "matrix@example.com", "owner")
    before = dump_database(clocked.rt)
    anonymous = clocked.client()
    for method, path in routes:
        if (method, path) in ENTRY_POINTS:
            continue
        r = anonymous.request(method, _fill(path), json={} if method == "POST" else None)
        assert error_of(r, 401)["code"] == "session_invalid", (method, path)
    token = user.headers.pop("X-CSRF-Token")
    for method, path in routes:
        if method == "POST" and (method, path) not in ENTRY_POINTS:
            r = user.post(_fill(path), json={})
            assert error_of(r, 403)["code"] == "csrf_token_invalid", (method, path)
    user.headers["X-CSRF-Token"] = token
    after = dump_database(clocked.rt)
    # only the session's last_seen moved
    for table in before:
        if table != "operator_sessions":
            assert before[table] == after[table], table


def test_operator_permissions_come_from_the_role(clocked: Clocked) -> None:  # noqa: F811
    viewer, _ = signed_in(clocked, "viewer@example.com", "view_only")
    snapshot: Callable[[], Any] = lambda: dump_database(clocked.rt)  # noqa: E731
    checked = 0
    for method, path in _operator_routes(clocked):
        need = required(method, path)
        if is_self_service(method, path):
            continue
        assert need is not None, (method, path)
        before = snapshot()
        r = viewer.request(method, _fill(path), json={"role": "support"} if method == "POST"
                           else None)  # fmt: skip
        err = error_of(r, 403)
        assert err["type"] == "permission_error"
        assert f"'{need[0]}:{need[1]}'" in err["message"], (method, path)
        assert {k: v for k, v in snapshot().items() if k != "operator_sessions"} == {
            k: v for k, v in before.items() if k != "operator_sessions"
        }
        checked += 1
    assert checked >= 6
