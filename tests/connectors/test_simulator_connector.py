from __future__ import annotations

from simulator_helpers import auth

from strongbox.connectors.base import Capability, OperationStatus
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.connectors.simulator import ALL_CAPABILITIES, SimulatorConnector, SimulatorEngine
from strongbox.connectors.simulator.http import HttpSimulatorConnector


def test_name_and_capabilities() -> None:
    for conn in (SimulatorConnector(), HttpSimulatorConnector("http://sim.test")):
        assert conn.name == "simulator"
        # Every capability but gateway tokens: the simulator takes card data (and, in
        # process, ACH debits of bank accounts) only.
        expected = [c for c in Capability if c not in (Capability.NONE, Capability.GATEWAY_TOKEN)]
        if isinstance(conn, HttpSimulatorConnector):
            assert conn.capabilities == ALL_CAPABILITIES & ~Capability.BANK_DEBIT
            expected.remove(Capability.BANK_DEBIT)
        else:
            assert conn.capabilities == ALL_CAPABILITIES
        assert all(conn.supports(c) for c in expected)
        assert not conn.supports(Capability.GATEWAY_TOKEN)
        conn.close()


def test_connector_uses_the_given_engine() -> None:
    engine = SimulatorEngine()
    conn = SimulatorConnector(engine)
    assert conn.engine is engine
    assert conn.authorize(auth()).status is OperationStatus.CAPTURED
    assert len(engine.charges()) == 1


def test_registry_builds_the_simulator() -> None:
    registry = ConnectorRegistry()
    engine = SimulatorEngine()
    registry.register("simulator", lambda: SimulatorConnector(engine))
    conn = registry.get("simulator")
    assert isinstance(conn, SimulatorConnector)
    assert registry.get("simulator") is conn
    registry.close()
