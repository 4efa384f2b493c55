"""A merchant's routing configuration: its shape, validation, and the compiled form.

JSON shape (``GET``/``POST /v1/routing``)::

    {
      "rules": [
        {"name": "eur-large",
         "when": {"currency": ["eur"], "amount_gte": 10000, "amount_lte": null,
                  "brand": ["visa", "mastercard"], "card_country": ["DE", "FR"],
                  "metadata": {"channel": "web"}},
         "connectors": ["mca_…", "mca_…"],
         "weights": {"mca_…": 70, "mca_…": 30}}
      ],
      "default": {"connectors": ["mca_…"], "weights": null}
    }

Rules are tried in order; the first whose every condition holds picks the target. A target
is a priority list (``connectors``, first is preferred) and optionally ``weights``, a volume
split over some of them: the primary is picked by weight, deterministically from the
payment id (a retry routes the same way), and the others follow in list order as failover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_RULES = 50
MAX_CONNECTORS = 10

Code = Annotated[str, Field(min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Model):
    currency: list[Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]] | None = None
    amount_gte: Annotated[int, Field(ge=0)] | None = None
    amount_lte: Annotated[int, Field(ge=0)] | None = None
    brand: list[Code] | None = None
    card_country: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]] | None = None
    metadata: dict[Code, Annotated[str, Field(max_length=500)]] | None = None

    @model_validator(mode="after")
    def _range(self) -> Conditions:
        if (
            self.amount_gte is not None
            and self.amount_lte is not None
            and self.amount_gte > self.amount_lte
        ):
            raise ValueError("amount_gte must not be greater than amount_lte")
        return self


class Target(_Model):
    connectors: Annotated[list[Code], Field(min_length=1, max_length=MAX_CONNECTORS)]
    weights: dict[Code, Annotated[int, Field(ge=0, le=10_000)]] | None = None

    @field_validator("connectors")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a connector may appear only once in a target")
        return value

    @model_validator(mode="after")
    def _weights(self) -> Target:
        if self.weights is not None:
            unknown = sorted(set(self.weights) - set(self.connectors))
            if unknown:
                raise ValueError(f"weights name connectors not in the list: {unknown}")
            if sum(self.weights.values()) <= 0:
                raise ValueError("at least one weight must be positive")
        return self


class Rule(Target):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    when: Conditions = Conditions()


class RoutingConfigIn(_Model):
    rules: Annotated[list[Rule], Field(max_length=MAX_RULES)] = []
    default: Target | None = None

    @field_validator("rules")
    @classmethod
    def _names(cls, value: list[Rule]) -> list[Rule]:
        names = [r.name for r in value]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        return value

    def connector_ids(self) -> set[str]:
        ids = {c for r in self.rules for c in r.connectors}
        if self.default is not None:
            ids.update(self.default.connectors)
        return ids


# ---------------------------------------------------------------------------- compiled


@dataclass(frozen=True, slots=True)
class CompiledTarget:
    connectors: tuple[str, ...]
    weighted: tuple[tuple[str, int], ...]  # connectors with a positive weight, in list order
    total_weight: int


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    target: CompiledTarget
    currencies: frozenset[str] | None
    amount_gte: int | None
    amount_lte: int | None
    brands: frozenset[str] | None
    countries: frozenset[str] | None
    metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    rules: tuple[CompiledRule, ...]
    default: CompiledTarget | None
    connector_ids: tuple[str, ...] = ()  # every account the configuration names, sorted


def _target(t: Target) -> CompiledTarget:
    weighted = tuple((c, t.weights[c]) for c in t.connectors if t.weights and t.weights.get(c))
    return CompiledTarget(
        connectors=tuple(t.connectors),
        weighted=weighted,
        total_weight=sum(w for _, w in weighted),
    )


def _lower(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(v.lower() for v in values)


def compile_config(config: RoutingConfigIn) -> CompiledConfig:
    return CompiledConfig(
        rules=tuple(
            CompiledRule(
                name=r.name,
                target=_target(r),
                currencies=_lower(r.when.currency),
                amount_gte=r.when.amount_gte,
                amount_lte=r.when.amount_lte,
                brands=_lower(r.when.brand),
                countries=_lower(r.when.card_country),
                metadata=tuple(sorted((r.when.metadata or {}).items())),
            )
            for r in config.rules
        ),
        default=_target(config.default) if config.default is not None else None,
        connector_ids=tuple(sorted(config.connector_ids())),
    )
