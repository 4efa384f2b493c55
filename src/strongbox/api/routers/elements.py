"""Hosted card fields: the card-entry page for an iframe, ``strongbox.js`` and their assets.

``GET /elements/card?key=pk_…&origin=https://shop.example`` serves the card form only for a
valid publishable key and an origin registered for its merchant; anything else gets an error
page without a form. The page is framed only by that origin (CSP ``frame-ancestors``), loads
nothing but Strongbox's own files (``default-src 'self'``, no inline script) and posts the card
straight to ``/v1/payment_methods``. Templates and static files live in ``dashboard/``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from strongbox.api.context import get_runtime
from strongbox.auth import origins
from strongbox.auth import service as auth
from strongbox.core.errors import StrongboxError

router = APIRouter(prefix="/elements", tags=["elements"], include_in_schema=False)

_DASHBOARD = files("strongbox").joinpath("dashboard")
ASSETS: Final = {
    "card.js": "text/javascript; charset=utf-8",
    "card.css": "text/css; charset=utf-8",
}
BASE_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; object-src 'none'; "
    "frame-src 'none'"
)
# The error page has no form and no script, so any site may show it (a merchant sees why
# its iframe is empty); it still loads nothing but Strongbox's stylesheet.
ERROR_POLICY: Final = (
    "default-src 'none'; style-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors *"
)
PERMISSIONS_POLICY: Final = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(_DASHBOARD.joinpath("templates"))),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )


@cache
def _static(name: str) -> bytes:
    return _DASHBOARD.joinpath("static").joinpath(name).read_bytes()


def _page_headers(policy: str) -> dict[str, str]:
    return {
        **BASE_HEADERS,
        "Content-Security-Policy": policy,
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def _error_page(status: int, message: str) -> HTMLResponse:
    html = _templates().get_template("error.html").render(message=message)
    return HTMLResponse(html, status_code=status, headers=_page_headers(ERROR_POLICY))


@router.get("/card", summary="The hosted card-entry page (for an iframe)")
def card_page(request: Request) -> Response:
    rt = get_runtime(request)
    key = request.query_params.get("key", "")
    origin = request.query_params.get("origin", "")
    if not key.startswith("pk_"):
        # Never echo the value: a secret key pasted here must not be reflected anywhere.
        return _error_page(400, "A publishable key (pk_…) is required as the key parameter.")
    try:
        ctx = auth.authenticate(rt.db.read, key, rt.key_cache)
        rt.rate_limiter.check(ctx.key_id)
    except StrongboxError as exc:
        if exc.status == 429:
            return _error_page(429, "Too many requests. Try again in a moment.")
        return _error_page(401, "The publishable key is not valid.")
    if ctx.kind != "publishable":
        return _error_page(400, "A publishable key (pk_…) is required as the key parameter.")
    with rt.db.reader() as uow:
        allowed = origins.is_registered(uow, ctx.merchant_id, origin)
    if allowed is None:
        return _error_page(
            403,
            "This page's origin is not registered for the merchant. Register it with "
            "`strongbox merchants origins add` or POST /v1/merchant_origins.",
        )
    html = _templates().get_template("card.html").render(key=key, origin=allowed)
    policy = f"{PAGE_POLICY}; frame-ancestors {allowed}"
    return HTMLResponse(html, status_code=200, headers=_page_headers(policy))


@router.get("/strongbox.js", summary="The script that mounts the hosted card fields")
def strongbox_js() -> Response:
    return Response(
        _static("strongbox.js"),
        media_type="text/javascript; charset=utf-8",
        headers={
            **BASE_HEADERS,
            "Cache-Control": "public, max-age=300",
            # Loaded by merchant pages on other origins as a classic <script>.
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.get("/assets/{name}", summary="Assets of the card page")
def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404)
    return Response(
        _static(name),
        media_type=media_type,
        headers={
            **BASE_HEADERS,
            "Cache-Control": "public, max-age=300",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )
