"""The routing decision as a pure function: rules, priority, weighted split, health."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from strongbox.connectors.base import Capability
from strongbox.routing.config import RoutingConfigIn, compile_config
from strongbox.routing.engine import Candidate, PaymentFacts, decide

ALL = Capability.MANUAL_CAPTURE | Capability.REFUND
CANDIDATES = {
    "mca_a": Candidate("mca_a", "stripe", ALL),
    "mca_b": Candidate("mca_b", "simulator", ALL),
    "mca_c": Candidate("mca_c", "adyen", Capability.REFUND),  # no manual capture
}


def config(**data: object) -> RoutingConfigIn:
    return RoutingConfigIn.model_validate(data)


def facts(**kw: object) -> PaymentFacts:
    base: dict[str, object] = {"payment_id": "pi_1", "amount": 1000, "currency": "usd"}
    base.update(kw)
    return PaymentFacts(**base)  # type: ignore[arg-type]


def rank(cfg: RoutingConfigIn, f: PaymentFacts, open_: tuple[str, ...] = ()) -> tuple[str, ...]:
    return decide(f, compile_config(cfg), CANDIDATES, open_).ranked


def test_priority_list_default() -> None:
    cfg = config(default={"connectors": ["mca_b", "mca_a"]})
    d = decide(facts(), compile_config(cfg), CANDIDATES)
    assert d.ranked == ("mca_b", "mca_a")
    assert d.rule == "default"
    assert "priority list" in d.reason


@pytest.mark.parametrize(
    ("when", "matching", "other"),
    [
        ({"currency": ["EUR"]}, {"currency": "eur"}, {"currency": "usd"}),
        ({"amount_gte": 500, "amount_lte": 900}, {"amount": 500}, {"amount": 901}),
        ({"amount_gte": 500}, {"amount": 10_000}, {"amount": 499}),
        ({"brand": ["Visa"]}, {"brand": "visa"}, {"brand": "mastercard"}),
        ({"card_country": ["de", "FR"]}, {"card_country": "FR"}, {"card_country": "US"}),
        ({"card_country": ["de"]}, {"card_country": "DE"}, {"card_country": None}),
        ({"metadata": {"channel": "web"}}, {"metadata": {"channel": "web"}}, {"metadata": {}}),
    ],
)
def test_rule_conditions(
    when: dict[str, object], matching: dict[str, object], other: dict[str, object]
) -> None:
    cfg = config(
        rules=[{"name": "r", "when": when, "connectors": ["mca_a"]}],
        default={"connectors": ["mca_b"]},
    )
    hit = decide(facts(**matching), compile_config(cfg), CANDIDATES)
    miss = decide(facts(**other), compile_config(cfg), CANDIDATES)
    assert (hit.rule, hit.ranked) == ("r", ("mca_a",))
    assert (miss.rule, miss.ranked) == ("default", ("mca_b",))


def test_first_matching_rule_wins_and_all_conditions_must_hold() -> None:
    cfg = config(
        rules=[
            {
                "name": "eur-visa",
                "when": {"currency": ["eur"], "brand": ["visa"]},
                "connectors": ["mca_a"],
            },
            {"name": "eur", "when": {"currency": ["eur"]}, "connectors": ["mca_b"]},
        ]
    )
    assert (
        decide(facts(currency="eur", brand="visa"), compile_config(cfg), CANDIDATES).rule
        == "eur-visa"
    )
    assert (
        decide(facts(currency="eur", brand="amex"), compile_config(cfg), CANDIDATES).rule == "eur"
    )
    none = decide(facts(currency="gbp"), compile_config(cfg), CANDIDATES)
    assert (none.rule, none.ranked) == ("none", ())


def test_weighted_split_is_deterministic_and_follows_weights() -> None:
    cfg = config(default={"connectors": ["mca_a", "mca_b"], "weights": {"mca_a": 70, "mca_b": 30}})
    compiled = compile_config(cfg)
    firsts = Counter(
        decide(facts(payment_id=f"pi_{i}"), compiled, CANDIDATES).ranked[0] for i in range(4000)
    )
    assert 0.66 < firsts["mca_a"] / 4000 < 0.74
    # The same payment always routes the same way, and the other connector is its failover.
    for i in range(50):
        one = decide(facts(payment_id=f"pi_{i}"), compiled, CANDIDATES)
        assert one == decide(facts(payment_id=f"pi_{i}"), compiled, CANDIDATES)
        assert sorted(one.ranked) == ["mca_a", "mca_b"]
        assert "volume split" in one.reason


def test_zero_weight_is_failover_only() -> None:
    cfg = config(default={"connectors": ["mca_a", "mca_b"], "weights": {"mca_a": 0, "mca_b": 1}})
    compiled = compile_config(cfg)
    assert {
        decide(facts(payment_id=f"pi_{i}"), compiled, CANDIDATES).ranked for i in range(100)
    } == {("mca_b", "mca_a")}


def test_open_circuit_goes_last_and_unusable_are_skipped() -> None:
    cfg = config(default={"connectors": ["mca_a", "mca_b", "mca_missing"]})
    d = decide(facts(), compile_config(cfg), CANDIDATES, {"mca_a"})
    assert d.ranked == ("mca_b", "mca_a")
    assert "circuit open" in d.reason
    assert "mca_missing unavailable" in d.reason
    disabled = {**CANDIDATES, "mca_b": Candidate("mca_b", "simulator", ALL, enabled=False)}
    assert decide(facts(), compile_config(cfg), disabled).ranked == ("mca_a",)


def test_manual_capture_needs_the_capability() -> None:
    cfg = config(default={"connectors": ["mca_c", "mca_a"]})
    assert rank(cfg, facts(manual_capture=True)) == ("mca_a",)
    assert rank(cfg, facts()) == ("mca_c", "mca_a")


@pytest.mark.parametrize(
    "bad",
    [
        {"default": {"connectors": []}},
        {"default": {"connectors": ["mca_a", "mca_a"]}},
        {"default": {"connectors": ["mca_a"], "weights": {"mca_b": 1}}},
        {"default": {"connectors": ["mca_a"], "weights": {"mca_a": 0}}},
        {"default": {"connectors": ["mca_a"], "weights": {"mca_a": -1}}},
        {"rules": [{"name": "x", "connectors": ["mca_a"]}, {"name": "x", "connectors": ["mca_b"]}]},
        {
            "rules": [
                {"name": "x", "when": {"amount_gte": 10, "amount_lte": 5}, "connectors": ["mca_a"]}
            ]
        },
        {"rules": [{"name": "x", "when": {"currency": ["euro"]}, "connectors": ["mca_a"]}]},
        {"rules": [{"name": "x", "when": {"colour": "red"}, "connectors": ["mca_a"]}]},
        {"surprise": True},
    ],
)
def test_invalid_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RoutingConfigIn.model_validate(bad)


ids = st.sampled_from(["mca_a", "mca_b", "mca_c", "mca_x"])


@settings(max_examples=200, deadline=None)
@given(
    order=st.lists(ids, min_size=1, max_size=4, unique=True),
    weights=st.dictionaries(ids, st.integers(0, 100)),
    payment=st.text(min_size=1, max_size=30),
    amount=st.integers(1, 10**9),
    open_=st.sets(ids),
    manual=st.booleans(),
)
def test_ranking_properties(
    order: list[str],
    weights: dict[str, int],
    payment: str,
    amount: int,
    open_: set[str],
    manual: bool,
) -> None:
    w = {k: v for k, v in weights.items() if k in order}
    target: dict[str, object] = {"connectors": order}
    if sum(w.values()) > 0:
        target["weights"] = w
    compiled = compile_config(config(default=target))
    f = facts(payment_id=payment, amount=amount, manual_capture=manual)
    d = decide(f, compiled, CANDIDATES, open_)
    usable = {
        a
        for a in order
        if a in CANDIDATES
        and (not manual or Capability.MANUAL_CAPTURE in CANDIDATES[a].capabilities)
    }
    # A permutation of exactly the usable accounts, no duplicates, healthy ones first.
    assert sorted(d.ranked) == sorted(usable)
    healthy = [a for a in d.ranked if a not in open_]
    assert list(d.ranked[: len(healthy)]) == healthy
    assert d == decide(f, compiled, CANDIDATES, open_)  # pure: same inputs, same answer
