"""The built-in ``simulator`` connector: a card network for Stripe's test cards.

``SimulatorEngine`` is the simulated network (in memory, thread-safe, with latency and fault
injection); ``SimulatorConnector`` calls it in-process and ``HttpSimulatorConnector`` over the
HTTP API built by ``simulator.http.create_app`` (import ``simulator.http`` for the server
side, it pulls in FastAPI and uvicorn).
"""

from strongbox.connectors.simulator.cards import CardBehaviour, CardOutcome, card_behaviour
from strongbox.connectors.simulator.connector import ALL_CAPABILITIES, SimulatorConnector
from strongbox.connectors.simulator.engine import (
    AUTHENTICATION_FAILURE,
    ChargeRecord,
    ChargeStatus,
    FaultKind,
    OperationRecord,
    SimulatorEngine,
)

__all__ = [
    "ALL_CAPABILITIES",
    "AUTHENTICATION_FAILURE",
    "CardBehaviour",
    "CardOutcome",
    "ChargeRecord",
    "ChargeStatus",
    "FaultKind",
    "OperationRecord",
    "SimulatorConnector",
    "SimulatorEngine",
    "card_behaviour",
]
