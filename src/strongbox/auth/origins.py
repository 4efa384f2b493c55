"""Merchant origins: the web origins allowed to embed Strongbox's hosted card fields.

An origin is ``scheme://host[:port]`` exactly as a browser serializes it (``location.origin``,
``MessageEvent.origin``): lower-case scheme and host, no default port, no path, query,
fragment or user info. ``https`` is required except on loopback hosts (``localhost``,
``127.0.0.0/8``, ``[::1]``), where ``http`` is allowed for development.

The card page sends its result by ``postMessage`` only to a registered origin and is framed
only by it (CSP ``frame-ancestors``). Changes raise internal events for the audit log.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final

from strongbox.auth import repository
from strongbox.auth.models import MerchantOrigin
from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

MAX_ORIGINS_PER_MERCHANT: Final = 100
MAX_ORIGIN_LENGTH: Final = 300
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_LABEL: Final = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ORIGIN_RE: Final = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/?#@\[\]]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


class OriginError(InvalidRequestError):
    default_code = "url_invalid"


def _invalid(reason: str) -> OriginError:
    return OriginError(
        f"Invalid origin: {reason} An origin is scheme://host[:port], for example "
        "https://shop.example.com.",
        param="origin",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_origin(value: str) -> str:
    """The browser serialization of an origin, or ``OriginError`` (nothing else accepted)."""
    if not isinstance(value, str) or not value:
        raise _invalid("it is empty.")
    if len(value) > MAX_ORIGIN_LENGTH:
        raise _invalid(f"it is longer than {MAX_ORIGIN_LENGTH} characters.")
    m = _ORIGIN_RE.fullmatch(value)
    if m is None:
        raise _invalid("it must not contain a path, query, fragment or user info.")
    scheme = m["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        raise _invalid("the scheme must be https (or http on localhost).")
    host = m["host"].lower()
    if host.startswith("["):
        try:
            ip6 = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _invalid("the IPv6 address is malformed.") from None
        host = f"[{ip6.compressed}]"
    else:
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            if _HOSTNAME_RE.fullmatch(host) is None or host.rsplit(".", 1)[-1].isdigit():
                raise _invalid("the host name is malformed.") from None
    port_text = m["port"]
    port = int(port_text) if port_text is not None else None
    if port is not None and not 1 <= port <= 65535:
        raise _invalid("the port must be between 1 and 65535.")
    if scheme == "http" and not _is_loopback(host):
        raise _invalid("the scheme must be https (http is allowed only on localhost).")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def render_origin(o: MerchantOrigin, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": o.id,
        "object": "merchant_origin",
        "origin": o.origin,
        "created": to_unix(o.created),
        "livemode": livemode,
    }


def _event(uow: UnitOfWork, ctx: RequestContext, type_: str, o: MerchantOrigin) -> None:
    raise_event(uow, ctx, type_, "merchant_origin", o.id, render_origin(o, ctx.livemode))


def add_origin(uow: UnitOfWork, ctx: RequestContext, origin: str) -> MerchantOrigin:
    normalized = normalize_origin(origin)
    if repository.find_origin(uow.session, ctx.merchant_id, normalized) is not None:
        raise InvalidRequestError(
            f"The origin {normalized} is already registered.",
            code="resource_already_exists",
            param="origin",
        )
    if repository.count_origins(uow.session, ctx.merchant_id) >= MAX_ORIGINS_PER_MERCHANT:
        raise InvalidRequestError(
            f"A merchant can register at most {MAX_ORIGINS_PER_MERCHANT} origins.",
            code="resource_limit_exceeded",
            param="origin",
        )
    row = MerchantOrigin(
        id=new_id("merchant_origin"),
        merchant_id=ctx.merchant_id,
        origin=normalized,
        created=uow.clock.now(),
    )
    uow.session.add(row)
    uow.flush()
    _event(uow, ctx, "strongbox.merchant_origin.created", row)
    return row


def get_origin(uow: UnitOfWork, ctx: RequestContext, origin_id: str) -> MerchantOrigin:
    row = repository.get_origin(uow.session, ctx.merchant_id, origin_id)
    if row is None:
        raise ResourceMissingError(f"No such merchant origin: '{origin_id}'", param="id")
    return row


def find_by_origin(uow: UnitOfWork, ctx: RequestContext, origin: str) -> MerchantOrigin:
    """The registered row for ``origin`` (given in any accepted spelling), or 404."""
    normalized = normalize_origin(origin)
    row = repository.find_origin(uow.session, ctx.merchant_id, normalized)
    if row is None:
        raise ResourceMissingError(f"No such merchant origin: '{normalized}'", param="origin")
    return row


def remove_origin(uow: UnitOfWork, ctx: RequestContext, row: MerchantOrigin) -> None:
    _event(uow, ctx, "strongbox.merchant_origin.deleted", row)
    uow.session.delete(row)
    uow.flush()


def list_origins(uow: UnitOfWork, ctx: RequestContext, page: PageRequest) -> Page[MerchantOrigin]:
    return repository.list_origins(uow.session, ctx.merchant_id, page)


def is_registered(uow: UnitOfWork, merchant_id: str, origin: str) -> str | None:
    """The normalized origin if it is registered for the merchant, else None (never raises)."""
    try:
        normalized = normalize_origin(origin)
    except OriginError:
        return None
    found = repository.find_origin(uow.session, merchant_id, normalized)
    return normalized if found is not None else None
