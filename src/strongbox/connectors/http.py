"""HTTP plumbing shared by the connectors that speak HTTP themselves (Stripe, Adyen, the
simulator over HTTP): one ``httpx.Client`` with explicit timeouts and no proxy settings from
the environment, and the transport half of the error taxonomy (``connectors.base``):

* no connection, connect or pool timeout: ``RetryableError`` (nothing was sent);
* a read/write timeout or a connection lost after sending: ``UnknownOutcomeError``.

What an HTTP status or body means stays with each connector.
"""

from __future__ import annotations

from typing import Any

import httpx

from strongbox.connectors.base import RetryableError, UnknownOutcomeError


def gateway_client(
    *,
    connect_timeout: float,
    read_timeout: float,
    transport: httpx.BaseTransport | None,
    headers: dict[str, str],
    base_url: str = "",
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        ),
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        headers=headers,
    )


def send(
    client: httpx.Client, gateway: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One request; a transport failure becomes the taxonomy's error (no secret in it)."""
    try:
        return client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RetryableError(
            f"could not connect to {gateway} ({type(exc).__name__}); nothing was sent",
            gateway_code="connect_error",
        ) from exc
    except httpx.TimeoutException as exc:
        raise UnknownOutcomeError(
            f"no response from {gateway} in time ({type(exc).__name__}); the request may have "
            "been processed",
            gateway_code="timeout",
        ) from exc
    except httpx.HTTPError as exc:
        raise UnknownOutcomeError(
            f"the connection to {gateway} failed after sending ({type(exc).__name__})",
            gateway_code="network_error",
        ) from exc


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object; ``{}`` when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return obj(data)


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
