"""The routing decision: a pure function from payment facts, the merchant's compiled routing
configuration and connector health to a ranked list of connector accounts.

No I/O, no clock, no randomness: the same inputs always give the same ranking, and a weighted
split is decided by a hash of the payment id, so retries of one payment route the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from strongbox.connectors.base import Capability
from strongbox.routing.config import CompiledConfig, CompiledRule, CompiledTarget


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    payment_id: str
    amount: int
    currency: str  # lower case
    brand: str | None = None
    card_country: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    manual_capture: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """What routing needs to know about one connector account."""

    id: str
    connector: str
    capabilities: Capability
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    ranked: tuple[str, ...]  # connector account ids, best first
    rule: str  # the rule's name, "default", or "none"
    reason: str  # why, in words, for the attempt record

    def as_record(self, position: int) -> dict[str, object]:
        return {
            "rule": self.rule,
            "reason": self.reason,
            "ranked": list(self.ranked),
            "position": position,
        }


def _matches(rule: CompiledRule, facts: PaymentFacts) -> bool:
    if rule.currencies is not None and facts.currency not in rule.currencies:
        return False
    if rule.amount_gte is not None and facts.amount < rule.amount_gte:
        return False
    if rule.amount_lte is not None and facts.amount > rule.amount_lte:
        return False
    if rule.brands is not None and (facts.brand or "").lower() not in rule.brands:
        return False
    if rule.countries is not None and (facts.card_country or "").lower() not in rule.countries:
        return False
    return all(facts.metadata.get(k) == v for k, v in rule.metadata)


def _bucket(payment_id: str, salt: str, total: int) -> int:
    digest = hashlib.blake2b(f"{salt}|{payment_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % total


def _order(target: CompiledTarget, facts: PaymentFacts, salt: str) -> tuple[list[str], str]:
    order = list(target.connectors)
    if target.total_weight <= 0:
        return order, "priority list"
    point = _bucket(facts.payment_id, salt, target.total_weight)
    for account, weight in target.weighted:
        if point < weight:
            order.remove(account)
            order.insert(0, account)
            share = ", ".join(f"{a}={w}" for a, w in target.weighted)
            return order, f"volume split ({share}) picked {account}"
        point -= weight
    return order, "priority list"  # pragma: no cover - the weights sum to total_weight


def decide(
    facts: PaymentFacts,
    config: CompiledConfig,
    candidates: Mapping[str, Candidate],
    open_circuits: Collection[str] = (),
) -> RoutingDecision:
    """Rank connector accounts for one payment.

    Accounts that are unknown, disabled or lack a needed capability are left out; accounts
    with an open circuit go last (a later failover may still reach them once they recover).
    """
    rule_name, target = "none", None
    for rule in config.rules:
        if _matches(rule, facts):
            rule_name, target = rule.name, rule.target
            break
    else:
        if config.default is not None:
            rule_name, target = "default", config.default
    if target is None:
        return RoutingDecision(ranked=(), rule="none", reason="no rule matched and no default")
    order, how = _order(target, facts, rule_name)
    usable: list[str] = []
    skipped: list[str] = []
    for account in order:
        cand = candidates.get(account)
        if cand is None or not cand.enabled:
            skipped.append(f"{account} unavailable")
        elif facts.manual_capture and Capability.MANUAL_CAPTURE not in cand.capabilities:
            skipped.append(f"{account} cannot capture manually")
        else:
            usable.append(account)
    healthy = [a for a in usable if a not in open_circuits]
    tripped = [a for a in usable if a in open_circuits]
    reason = f"rule {rule_name!r}: {how}"
    if tripped:
        reason += f"; circuit open, moved last: {', '.join(tripped)}"
    if skipped:
        reason += f"; skipped: {', '.join(skipped)}"
    return RoutingDecision(ranked=tuple(healthy + tripped), rule=rule_name, reason=reason)
