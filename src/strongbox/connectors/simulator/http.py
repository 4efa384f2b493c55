"""The simulator over HTTP: a small JSON API around a ``SimulatorEngine``, and its client.

Server (``create_app``)
-----------------------
Operations (JSON bodies, the idempotency key in the ``Idempotency-Key`` header):

* ``POST /v1/authorize`` ``{merchant_id, payment_id, amount, currency, capture, card: {number,
  exp_month, exp_year, cvc?, holder_name?}, return_url?, description?, metadata?}``
* ``POST /v1/capture`` ``{merchant_id, gateway_reference, amount, currency}``
* ``POST /v1/void`` ``{merchant_id, gateway_reference}``
* ``POST /v1/refund`` ``{merchant_id, gateway_reference, amount, currency, reason?}``
* ``GET /v1/operations/{idempotency_key}?kind=...&merchant_id=...[&gateway_reference=...]``

Every outcome the network reached, declines and ``not_found`` included, is a 200 with an
operation-result object (``status``, ``gateway_reference``, ``amount``, ``decline_code``,
``message``, ``next_action``, ``network_transaction_id``, ``raw_status``, ``details``).
Refusals are Stripe-shaped ``{"error": {"type", "code", "message"}}``: 400 (invalid request,
illegal state, idempotency clash), 404 (unknown payment). Injected faults: ``error_5xx`` →
503 before processing; ``timeout`` → the server waits ``engine.hang_seconds`` without
processing, then 504; ``drop_response`` → the server processes and records the operation,
then waits ``engine.hang_seconds`` before answering (the client has given up by then).

Control: ``POST /_control/faults`` ``{fault, operations?, count?}``, ``GET``/``DELETE
/_control/faults``, ``POST /_control/latency`` ``{latency_ms, jitter_ms?, hang_ms?}``,
``GET /_control/operations``, ``GET /_control/charges``, ``POST /_control/reset``.

3DS pages (also mountable in another app with ``create_3ds_router``): ``GET /3ds/{ref}`` (an
HTML page with Complete/Fail buttons), ``POST /3ds/{ref}/complete`` and ``/3ds/{ref}/fail``
(303 redirect to the ``return_url`` given at authorize, with ``redirect_status``, unless the
client accepts JSON; otherwise JSON, or a small HTML page for browsers).

Client (``HttpSimulatorConnector``)
-----------------------------------
Connection refused / connect timeout → ``RetryableError``; 5xx, 429 → ``RetryableError``;
a read timeout or broken connection after the request was sent → ``UnknownOutcomeError``;
other 4xx → ``TerminalError``. Status lookups have no side effects, so any transport failure
during ``get_status`` is a ``RetryableError``. Unknown status words map to ``PENDING``.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import uvicorn
from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CaptureRequest,
    CardData,
    Connector,
    NextAction,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TerminalError,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.connectors.http import gateway_client, send
from strongbox.connectors.simulator.connector import ALL_CAPABILITIES
from strongbox.connectors.simulator.engine import (
    CODE_IDEMPOTENCY,
    CODE_MISSING,
    CODE_SIMULATED_5XX,
    CODE_SIMULATED_TIMEOUT,
    FaultKind,
    SimulatorEngine,
)
from strongbox.core.secret import Secret

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
KeyHeader = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)]

# ---------------------------------------------------------------------------- wire format


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardIn(_Model):
    number: SecretStr
    exp_month: int
    exp_year: int
    cvc: SecretStr | None = None
    holder_name: str | None = None


class AuthorizeIn(_Model):
    merchant_id: str
    payment_id: str
    amount: int
    currency: str
    capture: bool
    card: CardIn
    return_url: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class CaptureIn(_Model):
    merchant_id: str
    gateway_reference: str
    amount: int
    currency: str


class VoidIn(_Model):
    merchant_id: str
    gateway_reference: str


class RefundIn(_Model):
    merchant_id: str
    gateway_reference: str
    amount: int
    currency: str
    reason: str | None = None


class FaultIn(_Model):
    fault: FaultKind
    operations: list[OperationKind] | None = None
    count: int = Field(default=1, ge=1)


class LatencyIn(_Model):
    latency_ms: int = Field(ge=0)
    jitter_ms: int = Field(default=0, ge=0)
    hang_ms: int | None = Field(default=None, ge=0)


def result_to_json(result: OperationResult) -> dict[str, Any]:
    """An ``OperationResult`` as the JSON object the simulator API sends."""
    return {
        "status": str(result.status),
        "gateway_reference": result.gateway_reference,
        "amount": result.amount,
        "decline_code": result.decline_code,
        "message": result.message,
        "next_action": (
            None
            if result.next_action is None
            else {
                "redirect_url": result.next_action.redirect_url,
                "reference": result.next_action.reference,
            }
        ),
        "network_transaction_id": result.network_transaction_id,
        "raw_status": result.raw_status,
        "details": dict(result.details),
    }


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def result_from_json(data: Any) -> OperationResult:
    """Map a simulator JSON result back; unknown status words become ``PENDING``.

    Raises ``ValueError`` if ``data`` is not a result object at all.
    """
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ValueError("not an operation result")
    word: str = data["status"]
    details = data.get("details")
    details = dict(details) if isinstance(details, dict) else {}
    try:
        status = OperationStatus(word)
    except ValueError:
        status = OperationStatus.PENDING
        details["unrecognised_status"] = word
    next_action = None
    na = data.get("next_action")
    if isinstance(na, dict):
        url, ref = _opt_str(na, "redirect_url"), _opt_str(na, "reference")
        if url is not None and ref is not None:
            next_action = NextAction(redirect_url=url, reference=ref)
    amount = data.get("amount")
    return OperationResult(
        status=status,
        gateway_reference=_opt_str(data, "gateway_reference"),
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        decline_code=_opt_str(data, "decline_code"),
        message=_opt_str(data, "message"),
        next_action=next_action,
        network_transaction_id=_opt_str(data, "network_transaction_id"),
        raw_status=_opt_str(data, "raw_status") or word,
        details=details,
    )


def _jsonable(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in asdict(record).items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _error(status: int, type_: str, message: str, code: str | None = None) -> JSONResponse:
    err: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        err["code"] = code
    return JSONResponse({"error": err}, status_code=status)


def _terminal_response(exc: TerminalError) -> JSONResponse:
    if exc.gateway_code == CODE_MISSING:
        return _error(404, "invalid_request_error", exc.message, exc.gateway_code)
    if exc.gateway_code == CODE_IDEMPOTENCY:
        return _error(400, "idempotency_error", exc.message, exc.gateway_code)
    return _error(400, "invalid_request_error", exc.message, exc.gateway_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """400 listing the bad fields; never echoes input (it may hold a PAN)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = []
    for err in errors[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return _error(400, "invalid_request_error", "invalid request: " + "; ".join(parts))


# ---------------------------------------------------------------------------- 3DS pages

_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head>"
        f"<body>{body}</body></html>",
        status_code=status,
    )


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _safe_return_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def create_3ds_router(
    engine: SimulatorEngine, on_complete: Callable[[str, bool], None] | None = None
) -> APIRouter:
    """The 3DS challenge pages for ``engine``, to mount anywhere (e.g. under ``/simulator``).

    ``on_complete(reference, succeeded)`` runs after every accepted completion request,
    repeats included, so it must be idempotent. The engine's ``base_url`` must point at the
    mount point so ``next_action.redirect_url`` reaches these pages.
    """
    router = APIRouter()

    @router.get("/3ds/{reference}", response_class=HTMLResponse)
    def challenge_page(reference: str) -> HTMLResponse:
        charge = engine.charge_for_challenge(reference)
        if charge is None:
            return _page("Not found", "<h1>No such 3DS challenge</h1>", status=404)
        ref = quote(reference, safe="")
        amount = f"{charge.amount} {charge.currency.upper()} (minor units)"
        return _page(
            "3D Secure challenge",
            "<h1>Simulated 3D Secure</h1>"
            f"<p>Authenticate a payment of <strong>{html.escape(amount)}</strong> with "
            f"{html.escape(charge.brand)} ending in {html.escape(charge.last4)}.</p>"
            f"<p>Status: {html.escape(str(charge.status))}</p>"
            f'<form method=post action="{ref}/complete" style="display:inline">'
            "<button type=submit>Complete</button></form>"
            f'<form method=post action="{ref}/fail" style="display:inline">'
            "<button type=submit>Fail</button></form>",
        )

    def finish(reference: str, succeed: bool, request: Request) -> Response:
        try:
            result = engine.complete_challenge(reference, succeed)
        except TerminalError as exc:
            status = 404 if exc.gateway_code == CODE_MISSING else 409
            return _error(status, "invalid_request_error", exc.message, exc.gateway_code)
        if on_complete is not None:
            on_complete(reference, succeed)
        accept = request.headers.get("accept", "")
        charge = engine.charge_for_challenge(reference)
        return_url = _safe_return_url(charge.return_url if charge else None)
        outcome = "succeeded" if succeed else "failed"
        if return_url is not None and "application/json" not in accept:
            target = _with_query(
                return_url,
                {
                    "redirect_status": outcome,
                    "challenge_reference": reference,
                    "gateway_reference": result.gateway_reference or "",
                },
            )
            return RedirectResponse(target, status_code=303)
        if "text/html" in accept and "application/json" not in accept:
            return _page("3D Secure", f"<h1>Authentication {outcome}</h1>")
        return JSONResponse(
            {"reference": reference, "succeeded": succeed, "result": result_to_json(result)}
        )

    @router.post("/3ds/{reference}/complete", response_model=None)
    def complete(reference: str, request: Request) -> Response:
        return finish(reference, True, request)

    @router.post("/3ds/{reference}/fail", response_model=None)
    def fail(reference: str, request: Request) -> Response:
        return finish(reference, False, request)

    return router


# ---------------------------------------------------------------------------- server


def create_app(engine: SimulatorEngine) -> FastAPI:
    """The simulator's HTTP API around ``engine`` (see the module docstring)."""
    app = FastAPI(title="Strongbox card network simulator", docs_url=None, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.state.engine = engine

    async def pause(seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def execute(
        kind: OperationKind, key: str | None, process: Callable[[], OperationResult]
    ) -> Response:
        if not key:
            return _error(
                400, "invalid_request_error", f"the {IDEMPOTENCY_HEADER} header is required"
            )
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            return _error(400, "invalid_request_error", "the idempotency key is too long")
        await pause(engine.sample_latency())
        fault = engine.take_fault(kind)
        if fault == "error_5xx":
            return _error(
                503, "api_error", f"simulated 5xx: the {kind} was not processed", CODE_SIMULATED_5XX
            )
        if fault == "timeout":
            await pause(engine.hang_seconds)
            return _error(
                504,
                "api_error",
                f"simulated timeout: the {kind} was not processed",
                CODE_SIMULATED_TIMEOUT,
            )
        try:
            response: Response = JSONResponse(result_to_json(process()))
        except TerminalError as exc:
            response = _terminal_response(exc)
        if fault == "drop_response":
            await pause(engine.hang_seconds)  # processed; the answer comes too late
        return response

    @app.post("/v1/authorize", response_model=None)
    async def authorize(body: AuthorizeIn, idempotency_key: KeyHeader = None) -> Response:
        card = CardData(
            number=Secret(body.card.number.get_secret_value()),
            exp_month=body.card.exp_month,
            exp_year=body.card.exp_year,
            cvc=None if body.card.cvc is None else Secret(body.card.cvc.get_secret_value()),
            holder_name=body.card.holder_name,
        )
        req = AuthorizeRequest(
            idempotency_key=idempotency_key or "",
            amount=body.amount,
            currency=body.currency,
            capture=body.capture,
            card=card,
            merchant_id=body.merchant_id,
            payment_id=body.payment_id,
            return_url=body.return_url,
            description=body.description,
            metadata=body.metadata,
        )
        return await execute(
            OperationKind.AUTHORIZE, idempotency_key, lambda: engine.process_authorize(req)
        )

    @app.post("/v1/capture", response_model=None)
    async def capture(body: CaptureIn, idempotency_key: KeyHeader = None) -> Response:
        req = CaptureRequest(
            idempotency_key=idempotency_key or "",
            gateway_reference=body.gateway_reference,
            amount=body.amount,
            currency=body.currency,
            merchant_id=body.merchant_id,
        )
        return await execute(
            OperationKind.CAPTURE, idempotency_key, lambda: engine.process_capture(req)
        )

    @app.post("/v1/void", response_model=None)
    async def void(body: VoidIn, idempotency_key: KeyHeader = None) -> Response:
        req = VoidRequest(
            idempotency_key=idempotency_key or "",
            gateway_reference=body.gateway_reference,
            merchant_id=body.merchant_id,
        )
        return await execute(OperationKind.VOID, idempotency_key, lambda: engine.process_void(req))

    @app.post("/v1/refund", response_model=None)
    async def refund(body: RefundIn, idempotency_key: KeyHeader = None) -> Response:
        req = RefundRequest(
            idempotency_key=idempotency_key or "",
            gateway_reference=body.gateway_reference,
            amount=body.amount,
            currency=body.currency,
            merchant_id=body.merchant_id,
            reason=body.reason,
        )
        return await execute(
            OperationKind.REFUND, idempotency_key, lambda: engine.process_refund(req)
        )

    @app.get("/v1/operations/{idempotency_key:path}", response_model=None)
    async def operation_status(
        idempotency_key: str,
        kind: OperationKind,
        merchant_id: str,
        gateway_reference: Annotated[str | None, Query()] = None,
    ) -> Response:
        await pause(engine.sample_latency())
        result = engine.lookup(
            StatusRequest(
                kind=kind,
                idempotency_key=idempotency_key,
                merchant_id=merchant_id,
                gateway_reference=gateway_reference,
            )
        )
        return JSONResponse(result_to_json(result))

    def fault_list() -> dict[str, Any]:
        return {
            "faults": [
                {
                    "fault": f.kind,
                    "operations": None if f.operations is None else sorted(f.operations),
                    "remaining": f.remaining,
                }
                for f in engine.faults()
            ]
        }

    @app.get("/_control/faults")
    def get_faults() -> dict[str, Any]:
        return fault_list()

    @app.post("/_control/faults")
    def inject_fault(body: FaultIn) -> dict[str, Any]:
        ops = None if body.operations is None else set(body.operations)
        engine.inject(body.fault, operations=ops, count=body.count)
        return fault_list()

    @app.delete("/_control/faults")
    def clear_faults() -> dict[str, Any]:
        engine.clear_faults()
        return fault_list()

    @app.post("/_control/latency")
    def set_latency(body: LatencyIn) -> dict[str, Any]:
        engine.set_latency(body.latency_ms, body.jitter_ms)
        if body.hang_ms is not None:
            engine.hang_seconds = body.hang_ms / 1000.0
        return {
            "latency_ms": engine.latency_ms,
            "jitter_ms": engine.jitter_ms,
            "hang_ms": round(engine.hang_seconds * 1000),
        }

    @app.get("/_control/operations")
    def list_operations() -> dict[str, Any]:
        return {"data": [_jsonable(op) for op in engine.operations()]}

    @app.get("/_control/charges")
    def list_charges() -> dict[str, Any]:
        return {"data": [_jsonable(c) for c in engine.charges()]}

    @app.post("/_control/reset")
    def reset() -> dict[str, Any]:
        engine.reset()
        return {"reset": True}

    app.include_router(create_3ds_router(engine))
    from strongbox.connectors.simulator.report import create_report_router  # issue 25

    app.include_router(create_report_router(engine))
    return app


def _public_host(host: str) -> str:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if addr.is_unspecified:
        return "localhost"
    return f"[{host}]" if addr.version == 6 else host


def serve(host: str, port: int, latency_ms: int = 0, *, base_url: str | None = None) -> None:
    """Run the simulator API with uvicorn until interrupted (``strongbox simulator serve``).

    ``base_url`` is where browsers reach this server (for 3DS redirect URLs); by default
    ``http://{host}:{port}``, with ``localhost`` for an all-interfaces bind.
    """
    engine = SimulatorEngine(
        base_url=base_url or f"http://{_public_host(host)}:{port}", latency_ms=latency_ms
    )
    uvicorn.run(create_app(engine), host=host, port=port)


class BackgroundServer:
    """Runs the simulator API in a daemon thread: for tests and local tooling.

    ``port=0`` picks a free port. The engine's ``base_url`` is pointed at the server unless
    ``set_base_url=False``. ``app`` serves another app instead of ``create_app(engine)`` (e.g.
    one that mounts ``create_3ds_router``). Use as a context manager or ``start()``/``stop()``.
    """

    def __init__(
        self,
        engine: SimulatorEngine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app: FastAPI | None = None,
        set_base_url: bool = True,
        graceful_shutdown_seconds: int = 2,
    ) -> None:
        self.engine = engine
        self.app = app if app is not None else create_app(engine)
        self.host = host
        self.port = port
        self._set_base_url = set_base_url
        self._graceful = graceful_shutdown_seconds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{_public_host(self.host)}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        if self._set_base_url:
            self.engine.base_url = self.url
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=self._graceful,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="simulator-http", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        waited = 0.0
        while not server.started:
            if not thread.is_alive() or waited >= timeout:
                self.stop()
                raise RuntimeError("the simulator server did not start")
            threading.Event().wait(0.01)
            waited += 0.01

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------- client


class HttpSimulatorConnector(Connector):
    """Talks to a simulator server over HTTP with explicit timeouts."""

    name = "simulator"
    # ACH debits are in-process only (the HTTP API speaks cards).
    capabilities = ALL_CAPABILITIES & ~Capability.BANK_DEBIT

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (e.g. ``httpx.MockTransport`` in tests)."""
        self.base_url = base_url.rstrip("/")
        self._client = gateway_client(
            base_url=self.base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
            headers={"User-Agent": "strongbox-simulator-connector"},
        )

    def __repr__(self) -> str:
        return f"HttpSimulatorConnector(base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    # -- operations

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        card = request.require_card()
        body: dict[str, Any] = {
            "merchant_id": request.merchant_id,
            "payment_id": request.payment_id,
            "amount": request.amount,
            "currency": request.currency,
            "capture": request.capture,
            "card": {
                "number": card.number.reveal(),
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "cvc": None if card.cvc is None else card.cvc.reveal(),
                "holder_name": card.holder_name,
            },
            "return_url": request.return_url,
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        return self._post("/v1/authorize", request.idempotency_key, body)

    def capture(self, request: CaptureRequest) -> OperationResult:
        body = {
            "merchant_id": request.merchant_id,
            "gateway_reference": request.gateway_reference,
            "amount": request.amount,
            "currency": request.currency,
        }
        return self._post("/v1/capture", request.idempotency_key, body)

    def void(self, request: VoidRequest) -> OperationResult:
        body = {"merchant_id": request.merchant_id, "gateway_reference": request.gateway_reference}
        return self._post("/v1/void", request.idempotency_key, body)

    def refund(self, request: RefundRequest) -> OperationResult:
        body = {
            "merchant_id": request.merchant_id,
            "gateway_reference": request.gateway_reference,
            "amount": request.amount,
            "currency": request.currency,
            "reason": request.reason,
        }
        return self._post("/v1/refund", request.idempotency_key, body)

    def get_status(self, request: StatusRequest) -> OperationResult:
        params = {"kind": str(request.kind), "merchant_id": request.merchant_id}
        if request.gateway_reference is not None:
            params["gateway_reference"] = request.gateway_reference
        path = "/v1/operations/" + quote(request.idempotency_key, safe="")
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            # A lookup changes nothing at the gateway: any failure is safe to retry.
            raise RetryableError(
                f"simulator status lookup failed: {type(exc).__name__}",
                gateway_code="network_error",
            ) from exc
        self._raise_for_status(response)
        try:
            return result_from_json(response.json())
        except ValueError as exc:
            raise RetryableError(
                "simulator status lookup returned an unreadable body", gateway_code="bad_response"
            ) from exc

    # -- plumbing

    def _post(self, path: str, idempotency_key: str, body: dict[str, Any]) -> OperationResult:
        response = send(
            self._client,
            "the simulator",
            "POST",
            path,
            json=body,
            headers={IDEMPOTENCY_HEADER: idempotency_key},
        )
        self._raise_for_status(response)
        try:
            return result_from_json(response.json())
        except ValueError as exc:
            raise UnknownOutcomeError(
                "the simulator answered with an unreadable body", gateway_code="bad_response"
            ) from exc

    @staticmethod
    def _raise_for_status(response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message, code = f"simulator answered HTTP {status}", None
        try:
            err = response.json().get("error", {})
        except (ValueError, AttributeError):
            err = {}
        if isinstance(err, dict):
            if isinstance(err.get("message"), str):
                message = f"{message}: {err['message']}"
            code = err.get("code") if isinstance(err.get("code"), str) else None
        if status >= 500 or status == 429 or (status == 409 and code == "idempotency_key_in_use"):
            raise RetryableError(message, gateway_code=code or f"http_{status}")
        if 400 <= status < 500:
            raise TerminalError(message, gateway_code=code or f"http_{status}")
        raise UnknownOutcomeError(message, gateway_code=code or f"http_{status}")


__all__ = [
    "BackgroundServer",
    "HttpSimulatorConnector",
    "create_3ds_router",
    "create_app",
    "result_from_json",
    "result_to_json",
    "serve",
]
