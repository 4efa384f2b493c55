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
from strongbox.events.types import RequestContext
from strongbox.payments.models import PaymentMethod
from strongbox.payments.test_methods import lookup_test_card
from strongbox.vault.service import VaultService

VAULT_PREFIX = "vault:"


class CardSource(Protocol):
    def card_data(self, uow: UnitOfWork, ctx: RequestContext, pm: PaymentMethod) -> CardData: ...


def _unavailable() -> InvalidRequestError:
    return InvalidRequestError(
        "This PaymentMethod's card data is not available.",
        code="payment_method_unavailable",
        param="payment_method",
    )


class TestCardSource:
    """Resolves Stripe's public test payment methods (``card_source = "test:<name>"``)."""

    __test__ = False

    def card_data(self, uow: UnitOfWork, ctx: RequestContext, pm: PaymentMethod) -> CardData:
        kind, _, name = pm.card_source.partition(":")
        card = lookup_test_card(name) if kind == "test" else None
        if card is None:
            raise _unavailable()
        return CardData(
            number=Secret(card.pan),
            exp_month=pm.card_exp_month,
            exp_year=pm.card_exp_year,
            cvc=Secret("123"),
        )


class VaultCardSource:
    """Vault tokens (``card_source = "vault:vtok_…"``), falling back to test methods.

    Detokenization raises ``strongbox.vault.detokenized`` in the caller's unit of work (the
    attempt's "started" transaction, which commits before the gateway call).
    """

    def __init__(self, vault: VaultService, fallback: CardSource | None = None) -> None:
        self.vault = vault
        self.fallback = fallback or TestCardSource()

    def card_data(self, uow: UnitOfWork, ctx: RequestContext, pm: PaymentMethod) -> CardData:
        if not pm.card_source.startswith(VAULT_PREFIX):
            return self.fallback.card_data(uow, ctx, pm)
        token = pm.card_source[len(VAULT_PREFIX) :]
        # A CVC is held only until the first authorization, while the check is "unchecked".
        card = self.vault.detokenize(
            uow,
            ctx,
            pm.merchant_id,
            pm.id,
            token,
            purpose="authorization",
            with_cvc=pm.card_cvc_check == "unchecked",
        )
        return CardData(
            number=card.number,
            exp_month=pm.card_exp_month,
            exp_year=pm.card_exp_year,
            cvc=card.cvc,
        )
