"""The records a scenario is made of: sectors, use cases, drivers, targets and the rest.

Plain frozen dataclasses, built by :mod:`digimpact.schema` from a validated document and
held by :class:`~digimpact.scenario.Scenario`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .adoption import CURVES, Curve
from .distributions import Distribution

__all__ = ["COUNTERFACTUALS", "EFFECTS", "ESTIMANDS", "METRICS", "SAMPLERS", "Adoption",
           "Correlation", "Driver", "IntensityCeiling", "Meta", "Model", "Sector", "Settings",
           "Target", "UseCase", "parameters"]

SAMPLERS = ("random", "lhs", "sobol")
METRICS = ("annual", "cumulative")
"""The readings of the deprecated ``metric`` key (besides ``"both"``), each an estimand."""
ESTIMANDS = ("annual", "cumulative", "full_potential")
"""What a scenario's figures are: the value realised in the target year, its sum over the
horizon up to that year, or the annual value in that year once adoption is complete."""
COUNTERFACTUALS = ("none", "first_year")
"""What uplift is measured against: no adoption, or the adoption of the horizon's first year."""
EFFECTS = ("speed", "ceiling", "value")

@dataclass(frozen=True)
class Meta:
    """The ``[scenario]`` table: what the model reports and in which unit."""

    title: str
    description: str
    unit: str
    base_year: int
    horizon: tuple[int, int]
    price_basis: str
    estimand: str
    metrics: tuple[str, ...]
    """The readings summaries report by default: ``(estimand,)``, or annual and cumulative
    for the deprecated ``metric = "both"``."""
    target_year: int
    base_measure: str
    counterfactual: str

    @property
    def years(self) -> range:
        """Every year of the horizon."""
        return range(self.horizon[0], self.horizon[1] + 1)

    @property
    def accounting_basis(self) -> str:
        """``"value added"`` or ``"gross output"``: what value potentials are shares of."""
        return self.base_measure.replace("_", " ")

    def reading(self) -> str:
        """What the figures are, in one line: estimand, counterfactual, basis, prices, unit.

        Examples
        --------
        >>> import digimpact
        >>> print(digimpact.load_scenario("scenarios/examples/minimal.toml").meta.reading())
        estimand: annual value at stake in 2030; accounting basis: gross output; prices: nominal; \
unit: JPY trillion
        """
        first, year = self.horizon[0], self.target_year
        what = {"annual": f"annual value at stake in {year}",
                "cumulative": f"value at stake summed over {first}-{year}",
                "full_potential": f"annual value at stake in {year} once adoption is complete"}
        uplift = f", over the adoption of {first}" if self.counterfactual == "first_year" else ""
        return (f"estimand: {what[self.estimand]}{uplift}; accounting basis: "
                f"{self.accounting_basis}; prices: {self.price_basis}; unit: {self.unit}")


@dataclass(frozen=True)
class IntensityCeiling:
    """A sector's plausibility bound: its value over its value added, with the source."""

    value: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class Sector:
    """A sector of the economy with its baseline from the national accounts."""

    id: str
    name: str
    group: str
    value_added: float
    gross_output: float | None
    year: int
    growth: float
    potential_scale: float
    source: str
    note: str
    market: bool = True
    """``False`` for non-market producers, whose output the national accounts value at cost
    (no operating surplus): their gains are cost and time savings, not value added."""
    intensity_ceiling: IntensityCeiling | None = None

    def base(self, measure: str, year: int) -> float:
        """Baseline ``measure`` (``value_added`` or ``gross_output``) grown to ``year``."""
        level = self.value_added if measure == "value_added" else self.gross_output
        return float(level) * (1.0 + self.growth) ** (year - self.year)


@dataclass(frozen=True)
class Adoption:
    """An adoption curve: its kind, uncertain parameters and fixed milestone points."""

    kind: str
    params: Mapping[str, Distribution]
    points: Mapping[int, float] | None = None

    @property
    def curve(self) -> Curve:
        return CURVES[self.kind]


@dataclass(frozen=True)
class UseCase:
    """A use case: where it applies, how much it is worth and how fast it spreads."""

    id: str
    name: str
    sector: str
    technology: str
    stage: str
    wave: int
    potential: Distribution
    adoption: Adoption
    drivers: tuple[str, ...]
    deep_dive: bool
    profile: str | None
    enabled: bool
    source: str
    note: str


@dataclass(frozen=True)
class Driver:
    """A shared uncertain factor that scales the ``speed``, ``ceiling`` or ``value`` of the
    use cases that name it; sharing a draw is what correlates them."""

    id: str
    name: str
    value: Distribution
    acts_on: str
    source: str
    note: str


@dataclass(frozen=True)
class Target:
    """A published figure the scenario should reproduce (low and/or high at quantiles)."""

    id: str
    name: str
    groups: tuple[str, ...]
    sectors: tuple[str, ...]
    year: int
    estimand: str
    low: float | None
    high: float | None
    quantiles: tuple[float, float]
    tolerance: float
    source: str

    def bounds(self) -> list[tuple[str, float, float]]:
        """``(which, quantile, published value)`` for each published bound."""
        pairs = [("low", self.quantiles[0], self.low), ("high", self.quantiles[1], self.high)]
        return [(k, q, v) for k, q, v in pairs if v is not None]


@dataclass(frozen=True)
class Correlation:
    """A target rank (Spearman) correlation between two named parameters."""

    params: tuple[str, str]
    rank: float


@dataclass(frozen=True)
class Settings:
    """Run defaults: number of draws, root seed, sampler."""

    draws: int
    seed: int
    sampler: str


@dataclass(frozen=True, eq=False)
class Model:
    """Everything a validated scenario holds besides its document: the base of
    :class:`~digimpact.scenario.Scenario`, built by :func:`digimpact.schema.validate`."""

    meta: Meta
    settings: Settings
    sectors: Mapping[str, Sector]
    drivers: Mapping[str, Driver]
    use_cases: Mapping[str, UseCase]
    targets: Mapping[str, Target]
    correlations: tuple[Correlation, ...]


def parameters(use_cases: Mapping[str, UseCase],
               drivers: Mapping[str, Driver]) -> dict[str, Distribution]:
    """Every parameter of ``use_cases`` and ``drivers``, by stream name (its key path)."""
    out: dict[str, Distribution] = {}
    for uc in use_cases.values():
        out[f"use_cases.{uc.id}.potential"] = uc.potential
        for name, dist in uc.adoption.params.items():
            out[f"use_cases.{uc.id}.adoption.{name}"] = dist
    for d in drivers.values():
        out[f"drivers.{d.id}.value"] = d.value
    return out

