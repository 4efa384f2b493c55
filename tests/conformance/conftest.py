"""Fixtures for the shared connector conformance suite.

``harness`` is parametrized over ``HARNESSES``; each name ``n`` needs a fixture
``n_harness`` yielding a ``ConnectorHarness`` (see ``conformance_harness.py``). To add a
connector, write that fixture here and append its name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conformance_harness import ConnectorHarness, FaultKind, RecordedOperation

from connectors.fakes.adyen_fake import AdyenFake
from connectors.fakes.braintree_fake import BraintreeFake
from connectors.fakes.stripe_fake import StripeFake, engine_ref
from strongbox.connectors.adyen import AdyenConnector
from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    Connector,
    Credentials,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    StatusRequest,
    TokenDetails,
    TokenRequest,
    VoidRequest,
)
from strongbox.connectors.braintree import BraintreeConnector
from strongbox.connectors.simulator import SimulatorConnector, SimulatorEngine
from strongbox.connectors.simulator.engine import OperationRecord
from strongbox.connectors.simulator.http import BackgroundServer, HttpSimulatorConnector
from strongbox.connectors.stripe import StripeConnector
from strongbox.core.secret import Secret
from strongbox.payments.reports import ReportKind
from strongbox.webhooks import providers

HARNESSES = ["simulator_inprocess", "simulator_http", "stripe", "braintree", "adyen"]

# Short client timeouts keep the timeout tests quick; the server holds "hung" requests for
# longer than the client waits.
CLIENT_TIMEOUT = 2.0
HANG_MS = 3500


def _recorded(op: OperationRecord) -> RecordedOperation:
    return RecordedOperation(
        kind=op.kind,
        idempotency_key=op.idempotency_key,
        status=op.status,
        amount=op.amount,
        reference=op.reference,
    )


class InProcessSimulatorHarness:
    """The in-process simulator: faults and challenges go straight to the engine."""

    asynchronous = False

    name = "simulator_inprocess"

    def __init__(self) -> None:
        self.engine = SimulatorEngine(base_url="http://simulator.test/simulator")
        self.connector: Connector = SimulatorConnector(self.engine)

    def inject_fault(
        self, fault: FaultKind, *, operations: set[OperationKind] | None = None, count: int = 1
    ) -> None:
        self.engine.inject(fault, operations=operations, count=count)

    def clear_faults(self) -> None:
        self.engine.clear_faults()

    def complete_challenge(self, reference: str, succeed: bool) -> None:
        self.engine.complete_challenge(reference, succeed)

    def operations(self) -> list[RecordedOperation]:
        return [_recorded(op) for op in self.engine.operations()]

    def close(self) -> None:
        self.connector.close()


class HttpSimulatorHarness:
    """The HTTP simulator: everything goes over the wire, control API and 3DS pages too."""

    asynchronous = False

    name = "simulator_http"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.control = httpx.Client(base_url=base_url, timeout=60.0, trust_env=False)
        self.control.post("/_control/reset").raise_for_status()
        self.control.post(
            "/_control/latency", json={"latency_ms": 0, "hang_ms": HANG_MS}
        ).raise_for_status()
        self.connector: Connector = HttpSimulatorConnector(
            base_url, connect_timeout=CLIENT_TIMEOUT, read_timeout=CLIENT_TIMEOUT
        )

    def inject_fault(
        self, fault: FaultKind, *, operations: set[OperationKind] | None = None, count: int = 1
    ) -> None:
        ops = None if operations is None else sorted(str(op) for op in operations)
        self.control.post(
            "/_control/faults", json={"fault": fault, "operations": ops, "count": count}
        ).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/_control/faults").raise_for_status()

    def complete_challenge(self, reference: str, succeed: bool) -> None:
        action = "complete" if succeed else "fail"
        self.control.post(
            f"/3ds/{reference}/{action}", headers={"Accept": "application/json"}
        ).raise_for_status()

    def operations(self) -> list[RecordedOperation]:
        response = self.control.get("/_control/operations")
        response.raise_for_status()
        return [
            RecordedOperation(
                kind=OperationKind(op["kind"]),
                idempotency_key=op["idempotency_key"],
                status=OperationStatus(op["status"]),
                amount=op["amount"],
                reference=op["reference"],
            )
            for op in response.json()["data"]
        ]

    def close(self) -> None:
        self.connector.close()
        self.control.close()


@pytest.fixture
def simulator_inprocess_harness() -> Iterator[InProcessSimulatorHarness]:
    harness = InProcessSimulatorHarness()
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def simulator_http_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(SimulatorEngine()) as server:
        yield server


@pytest.fixture
def simulator_http_harness(
    simulator_http_server: BackgroundServer,
) -> Iterator[HttpSimulatorHarness]:
    harness = HttpSimulatorHarness(simulator_http_server.url)
    yield harness
    harness.close()


class WithCredentials(Connector):
    """Adds a connector account's credentials to every request, as the payments service does."""

    def __init__(self, inner: Connector, credentials: Credentials) -> None:
        self.inner = inner
        self.credentials = credentials
        self.name = inner.name
        self.capabilities = inner.capabilities

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        return self.inner.authorize(dataclasses.replace(request, credentials=self.credentials))

    def capture(self, request: CaptureRequest) -> OperationResult:
        return self.inner.capture(dataclasses.replace(request, credentials=self.credentials))

    def void(self, request: VoidRequest) -> OperationResult:
        return self.inner.void(dataclasses.replace(request, credentials=self.credentials))

    def refund(self, request: RefundRequest) -> OperationResult:
        return self.inner.refund(dataclasses.replace(request, credentials=self.credentials))

    def get_status(self, request: StatusRequest) -> OperationResult:
        return self.inner.get_status(dataclasses.replace(request, credentials=self.credentials))

    def describe_token(self, request: TokenRequest) -> TokenDetails:
        return self.inner.describe_token(dataclasses.replace(request, credentials=self.credentials))

    def close(self) -> None:
        self.inner.close()


class FakeGatewayHarness:
    """A real connector against a local fake of its gateway's HTTP API (``connectors.fakes``).

    The fake's engine is in this process, so faults and challenges go straight to it."""

    asynchronous = False

    def __init__(self, name: str, engine: SimulatorEngine, connector: Connector) -> None:
        self.name = name
        self.engine = engine
        self.connector = connector
        engine.reset()
        engine.hang_seconds = HANG_MS / 1000

    def inject_fault(
        self, fault: FaultKind, *, operations: set[OperationKind] | None = None, count: int = 1
    ) -> None:
        self.engine.inject(fault, operations=operations, count=count)

    def clear_faults(self) -> None:
        self.engine.clear_faults()

    def complete_challenge(self, reference: str, succeed: bool) -> None:
        charge = self.engine.charge(engine_ref(reference))
        assert charge is not None
        assert charge.challenge_reference is not None
        self.engine.complete_challenge(charge.challenge_reference, succeed)

    def operations(self) -> list[RecordedOperation]:
        return [_recorded(op) for op in self.engine.operations()]

    def close(self) -> None:
        self.connector.close()


@pytest.fixture(scope="session")
def stripe_fake_server() -> Iterator[tuple[StripeFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = StripeFake(engine)
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


class StripeHarness(FakeGatewayHarness):
    """Stripe behind its fake; ``make_token`` plays Stripe.js: it posts the card to
    ``/v1/payment_methods`` with the account's publishable key (``key=pk_test_…``)."""

    def __init__(self, fake: StripeFake, base_url: str, connector: Connector) -> None:
        super().__init__("stripe", fake.engine, connector)
        fake.reset()
        self.fake = fake
        self.browser = httpx.Client(base_url=base_url, timeout=60.0, trust_env=False)

    def make_token(self, number: str, *, exp_month: int = 12, exp_year: int = 2039) -> str:
        response = self.browser.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": str(exp_month),
                "card[exp_year]": str(exp_year),
                "card[cvc]": "123",
                "key": STRIPE_PUBLISHABLE_KEY,
            },
        )
        response.raise_for_status()
        token: str = response.json()["id"]
        return token

    def close(self) -> None:
        super().close()
        self.browser.close()


STRIPE_PUBLISHABLE_KEY = "pk_test_conformance"


@pytest.fixture
def stripe_harness(
    stripe_fake_server: tuple[StripeFake, BackgroundServer],
) -> Iterator[StripeHarness]:
    fake, server = stripe_fake_server
    connector = WithCredentials(
        StripeConnector(server.url, connect_timeout=CLIENT_TIMEOUT, read_timeout=CLIENT_TIMEOUT),
        Credentials(secrets={"api_key": Secret("sk_test_conformance")}),
    )
    harness = StripeHarness(fake, server.url, connector)
    yield harness
    harness.close()


class BraintreeHarness(FakeGatewayHarness):
    """Braintree does not know our idempotency keys: the fake maps its own back to them (card
    and nonce sales alike: both go through the fake's one sale path). Nonces come from the
    fake's stand-in for Braintree's client SDK."""

    def __init__(self, fake: BraintreeFake, connector: Connector) -> None:
        super().__init__("braintree", fake.engine, connector)
        fake.reset()
        self.fake = fake

    def make_token(self, number: str, *, exp_month: int = 12, exp_year: int = 2039) -> str:
        return self.fake.make_nonce(number, exp_month=exp_month, exp_year=exp_year)

    def operations(self) -> list[RecordedOperation]:
        keys = self.fake.engine_keys
        return [
            dataclasses.replace(
                op, idempotency_key=keys.get(op.idempotency_key, op.idempotency_key)
            )
            for op in super().operations()
        ]


@pytest.fixture(scope="session")
def braintree_fake_server() -> Iterator[tuple[BraintreeFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = BraintreeFake(engine, "merchant_conf", "public_conf", "private_conf")
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def braintree_harness(
    braintree_fake_server: tuple[BraintreeFake, BackgroundServer],
) -> Iterator[BraintreeHarness]:
    fake, server = braintree_fake_server
    connector = WithCredentials(
        BraintreeConnector(server.url, connect_timeout=CLIENT_TIMEOUT, read_timeout=CLIENT_TIMEOUT),
        Credentials(
            secrets={"private_key": Secret("private_conf")},
            settings={"merchant_id": "merchant_conf", "public_key": "public_conf"},
        ),
    )
    harness = BraintreeHarness(fake, connector)
    yield harness
    harness.close()


ADYEN_API_KEY = "AQE_test_conformance"  # pragma: allowlist secret
ADYEN_MERCHANT = "StrongboxConformanceECOM"
ADYEN_HMAC_KEY = (
    "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"  # pragma: allowlist secret
)

_REPORT_STATUS = {
    ReportKind.PAYMENT_CAPTURED: OperationStatus.CAPTURED,
    ReportKind.PAYMENT_FAILED: OperationStatus.DECLINED,
    ReportKind.PAYMENT_VOIDED: OperationStatus.VOIDED,
    ReportKind.VOID_FAILED: OperationStatus.DECLINED,
    ReportKind.REFUND_SUCCEEDED: OperationStatus.REFUNDED,
    ReportKind.REFUND_FAILED: OperationStatus.DECLINED,
}


class AdyenHarness(FakeGatewayHarness):
    """Adyen answers captures, cancels and refunds with ``received``: the outcome is the
    signed notification the fake queues, verified and translated by Strongbox's own inbound
    code (``webhooks.providers``), as the webhook path would."""

    asynchronous = True

    def __init__(self, fake: AdyenFake, connector: Connector) -> None:
        super().__init__("adyen", fake.engine, connector)
        fake.reset()
        self.fake = fake
        self.outcomes: dict[str, OperationResult] = {}  # what the webhooks told us, per key

    def complete_challenge(self, reference: str, succeed: bool) -> None:
        ref = self.fake.engine_ref(reference)
        charge = self.engine.charge(ref or "")
        assert charge is not None
        assert charge.challenge_reference is not None
        self.engine.complete_challenge(charge.challenge_reference, succeed)

    def notified(self, key: str) -> OperationResult | None:
        """Deliver the fake's notifications for ``key`` (merchantReference) through the
        provider's verification and translation; the outcome, or the one already known."""
        items = self.fake.take(key)
        if items:
            verified = providers.verify_adyen(
                self.fake.body(items), self.fake.headers(), [ADYEN_HMAC_KEY], None
            )
            for v in verified:
                report = providers.translate_adyen(v.payload)
                assert report is not None
                assert report.idempotency_key == key
                self.outcomes[key] = self._result(report)
        return self.outcomes.get(key)

    def _result(self, report: Any) -> OperationResult:
        if report.kind is ReportKind.PAYMENT_AUTHORIZED:
            charge = self.engine.charge(self.fake.engine_ref(report.gateway_reference) or "")
            assert charge is not None
            captured = charge.capture_requested and report.authorization_captures
            status = OperationStatus.CAPTURED if captured else OperationStatus.AUTHORIZED
        else:
            status = _REPORT_STATUS[report.kind]
        return OperationResult(
            status=status,
            gateway_reference=report.gateway_reference,
            amount=report.amount,
            decline_code=report.decline_code,
            raw_status=report.kind.value,
        )


@pytest.fixture(scope="session")
def adyen_fake_server() -> Iterator[tuple[AdyenFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = AdyenFake(engine, api_keys={ADYEN_API_KEY: {ADYEN_MERCHANT}}, hmac_key=ADYEN_HMAC_KEY)
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def adyen_harness(
    adyen_fake_server: tuple[AdyenFake, BackgroundServer],
) -> Iterator[AdyenHarness]:
    fake, server = adyen_fake_server
    connector = WithCredentials(
        AdyenConnector(server.url, connect_timeout=CLIENT_TIMEOUT, read_timeout=CLIENT_TIMEOUT),
        Credentials(
            secrets={"api_key": Secret(ADYEN_API_KEY)},
            settings={"merchant_account": ADYEN_MERCHANT},
        ),
    )
    harness = AdyenHarness(fake, connector)
    yield harness
    harness.close()


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> ConnectorHarness:
    value: ConnectorHarness = request.getfixturevalue(f"{request.param}_harness")
    return value


@pytest.fixture
def connector(harness: ConnectorHarness) -> Connector:
    return harness.connector
