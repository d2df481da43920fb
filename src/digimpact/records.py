"""The records a scenario is made of: sectors, use cases, drivers, targets and the rest.

Plain frozen dataclasses, built by :mod:`digimpact.schema` from a validated document and
held by :class:`~digimpact.scenario.Scenario`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, cast

from .adoption import CURVES, Curve
from .distributions import Distribution
from .errors import check_choice, check_whole
from .options import (
    BaseMeasure,
    Counterfactual,
    EffectName,
    Estimand,
    ObservationTarget,
    ObservationUse,
    PriceBasis,
    ReportMetric,
    RowLevel,
    SamplerName,
    SeriesKind,
    reported,
)

__all__ = ["NON_MARKET", "SEED_LIMIT", "Adoption", "Correlation", "Driver", "ErrorSpec", "IntensityCeiling",
           "Kpi", "Meta", "Model", "Observation", "ReportRow", "RunSettings", "Sector", "Settings", "Target",
           "UseCase", "parameters"]

NON_MARKET = "cost and time savings"
"""How the gains of a non-market sector (``market = false``) are labelled."""
SEED_LIMIT = 2**63
"""Seeds are below this: results store them as 64-bit integers (NetCDF attributes)."""


@dataclass(frozen=True)
class Meta:
    """The ``[scenario]`` table: what the model reports and in which unit."""

    title: str
    description: str
    unit: str
    base_year: int
    horizon: tuple[int, int]
    price_basis: PriceBasis
    estimand: Estimand
    metric: ReportMetric
    """What summaries report by default: the estimand, or ``"both"`` (annual and cumulative)
    for the older ``metric = "both"``."""
    target_year: int
    base_measure: BaseMeasure
    counterfactual: Counterfactual

    @property
    def years(self) -> range:
        """Every year of the horizon."""
        return range(self.horizon[0], self.horizon[1] + 1)

    @property
    def metrics(self) -> tuple[Estimand, ...]:
        """The estimands reported: ``(estimand,)``, or annual and cumulative."""
        return reported(self.metric)

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

    def base(self, measure: BaseMeasure, year: int) -> float:
        """Baseline ``measure`` (``value_added`` or ``gross_output``) grown to ``year``.

        Raises
        ------
        ValueError
            For ``gross_output`` of a sector that gives none.
        """
        level = self.value_added if measure == "value_added" else self.gross_output
        if level is None:
            raise ValueError(f"sector {self.id!r} has no {measure}")
        return float(level) * (1.0 + self.growth) ** (year - self.year)


@dataclass(frozen=True)
class Adoption:
    """An adoption curve: its kind, uncertain parameters and fixed milestone points."""

    kind: str
    params: Mapping[str, Distribution]
    points: Mapping[int, float] | None = None

    @property
    def curve(self) -> Curve:
        """The curve of :data:`digimpact.adoption.CURVES` named by ``kind``."""
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
    acts_on: EffectName
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
    estimand: Estimand
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
class Kpi:
    """A named model output: ``scale`` x the equal-weighted mean adoption share of
    ``use_cases`` (the enabled use cases it lists, or those of the profiles it lists), with
    the report's ``milestones`` (year -> value, in ``unit``)."""

    id: str
    name: str
    unit: str
    use_cases: tuple[str, ...]
    scale: float
    definition: str
    milestones: Mapping[int, float]
    source: str


class ErrorSpec(NamedTuple):
    """An observation's own error: a standard deviation, a relative error, or a 90% interval
    ``(low, high)``; exactly one is set."""

    sd: float | None = None
    relative: float | None = None
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class Observation:
    """An observed value of a model quantity in one year: a KPI (``target = "kpi"``), the
    adoption share of a use case or the mean over a profile's use cases, or a sector's value
    (in the scenario's unit)."""

    id: str
    target: ObservationTarget
    of: str  # the id of the KPI, use case, profile or sector
    year: int
    value: float
    error: ErrorSpec
    mismatch_sd: float
    series: SeriesKind
    use: ObservationUse
    source: str
    url: str
    note: str


class ReportRow(NamedTuple):
    """A row of a report: what it adds up (``groups`` and ``sectors``; both empty for the
    total) and, for a target row, the target (see
    :meth:`digimpact.Scenario.report_rows`)."""

    level: RowLevel
    id: str
    label: str
    groups: tuple[str, ...]
    sectors: tuple[str, ...]
    target: Target | None


class RunSettings(NamedTuple):
    """The settings of one run, checked: what :meth:`Settings.resolve` returns."""

    draws: int
    seed: int
    sampler: SamplerName


@dataclass(frozen=True)
class Settings:
    """Run defaults: number of draws, root seed, sampler."""

    draws: int
    seed: int
    sampler: SamplerName

    def resolve(self, *, draws: int | None = None, seed: int | None = None,
                sampler: SamplerName | None = None) -> RunSettings:
        """The settings of a run: each option given, else this default (``None`` means the
        default; ``0`` does not).

        Parameters
        ----------
        draws : int, optional
            At least 1; integral floats such as ``1e6`` are accepted.
        seed : int, optional
            ``0 <= seed < 2**63``.
        sampler : {"random", "lhs", "sobol"}, optional

        Raises
        ------
        UsageError
            For a value out of range or an unknown sampler, saying what is expected.

        Examples
        --------
        >>> Settings(draws=1000, seed=7, sampler="lhs").resolve(draws=1e4, seed=0)
        RunSettings(draws=10000, seed=0, sampler='lhs')
        """
        return RunSettings(
            draws=check_whole(self.draws if draws is None else draws, "draws", 1),
            seed=check_whole(self.seed if seed is None else seed, "seed", 0, SEED_LIMIT),
            sampler=cast(SamplerName, check_choice(self.sampler if sampler is None else sampler,
                                                   SamplerName, "sampler")))


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
    kpis: Mapping[str, Kpi]
    observations: Mapping[str, Observation]


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

