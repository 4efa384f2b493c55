"""Shared plumbing for the gateway fakes: one ``SimulatorEngine`` plays the card network
(test cards, 3DS, idempotency, the gateway's own record of charges); each fake translates
one gateway's documented wire format onto it. Faults follow the simulator's semantics:
``error_5xx`` refuses before processing, ``timeout`` hangs without processing, and
``drop_response`` processes, then answers too late. A ``TerminalError`` the engine raises
while processing becomes the gateway's own error response (``on_terminal``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from strongbox.connectors.base import OperationKind, TerminalError
from strongbox.connectors.simulator.engine import SimulatorEngine

Refusal = Callable[[], Response]


async def with_faults(
    engine: SimulatorEngine,
    kind: OperationKind,
    process: Callable[[], Awaitable[Response]],
    *,
    refuse_5xx: Refusal,
    timeout_response: Refusal,
    on_terminal: Callable[[TerminalError], Response] | None = None,
) -> Response:
    latency = engine.sample_latency()
    if latency > 0:
        await asyncio.sleep(latency)
    fault = engine.take_fault(kind)
    if fault == "error_5xx":
        return refuse_5xx()
    if fault == "timeout":
        await asyncio.sleep(engine.hang_seconds)
        return timeout_response()
    try:
        response = await process()
    except TerminalError as exc:
        if on_terminal is None:
            raise
        response = on_terminal(exc)
    if fault == "drop_response":
        await asyncio.sleep(engine.hang_seconds)
    return response
