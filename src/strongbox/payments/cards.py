"""Where the payments service gets card data for one connector call.

``CardSource`` is the seam the vault plugs into: it returns detokenized card data as
``Secret`` values, only inside the payments service, only for one gateway call.
"""

from __future__ import annotations

from typing import Protocol

from strongbox.connectors.base import CardData
from strongbox.core.errors import InvalidRequestError
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork
from strongbox.payments.models import PaymentMethod
from strongbox.payments.test_methods import lookup_test_card


class CardSource(Protocol):
    def card_data(self, uow: UnitOfWork, pm: PaymentMethod) -> CardData: ...


class TestCardSource:
    """Resolves Stripe's public test payment methods (``card_source = "test:<name>"``)."""

    __test__ = False

    def card_data(self, uow: UnitOfWork, pm: PaymentMethod) -> CardData:
        kind, _, name = pm.card_source.partition(":")
        card = lookup_test_card(name) if kind == "test" else None
        if card is None:
            raise InvalidRequestError(
                "This PaymentMethod's card data is not available.",
                code="payment_method_unavailable",
                param="payment_method",
            )
        return CardData(
            number=Secret(card.pan),
            exp_month=pm.card_exp_month,
            exp_year=pm.card_exp_year,
            cvc=Secret("123"),
        )
