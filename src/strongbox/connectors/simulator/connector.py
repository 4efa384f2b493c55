"""The in-process simulator connector: calls a ``SimulatorEngine`` directly."""

from __future__ import annotations

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CaptureRequest,
    Connector,
    OperationResult,
    RefundRequest,
    StatusRequest,
    VoidRequest,
)
from strongbox.connectors.simulator.engine import SimulatorEngine

ALL_CAPABILITIES = (
    Capability.MANUAL_CAPTURE
    | Capability.PARTIAL_CAPTURE
    | Capability.VOID
    | Capability.REFUND
    | Capability.PARTIAL_REFUND
    | Capability.MULTIPLE_REFUNDS
    | Capability.THREE_DS
    | Capability.STATUS_LOOKUP
    | Capability.IDEMPOTENT_REPLAY
    | Capability.BANK_DEBIT
)


class SimulatorConnector(Connector):
    """Talks to an in-process ``SimulatorEngine`` (latency and faults included).

    The engine plays the gateway; the connector itself keeps no state. Errors follow the
    contract in ``connectors.base``: injected ``error_5xx`` raises ``RetryableError``,
    ``timeout`` and ``drop_response`` raise ``UnknownOutcomeError``, illegal operations raise
    ``TerminalError``.
    """

    name = "simulator"
    capabilities = ALL_CAPABILITIES

    def __init__(self, engine: SimulatorEngine | None = None) -> None:
        self._engine = engine if engine is not None else SimulatorEngine()

    @property
    def engine(self) -> SimulatorEngine:
        return self._engine

    @property
    def blocking(self) -> bool:
        """In-process and instant unless latency was set (the engine then sleeps)."""
        return self._engine.latency_ms > 0 or self._engine.jitter_ms > 0

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        if request.bank_account is not None:  # ACH (connectors/simulator/ach.py)
            return self._engine.debit(request)
        return self._engine.authorize(request)

    def capture(self, request: CaptureRequest) -> OperationResult:
        return self._engine.capture(request)

    def void(self, request: VoidRequest) -> OperationResult:
        return self._engine.void(request)

    def refund(self, request: RefundRequest) -> OperationResult:
        return self._engine.refund(request)

    def get_status(self, request: StatusRequest) -> OperationResult:
        return self._engine.get_status(request)

    def __repr__(self) -> str:
        return f"SimulatorConnector(base_url={self._engine.base_url!r})"
