"""Scenario: one model of sectors, use cases, drivers and targets, validated and immutable.

A :class:`Scenario` is built from a document (the merged TOML tables of a scenario file and
the files it ``extends``). The document is the single source of truth: :meth:`Scenario.to_toml`
writes it back, :meth:`Scenario.with_overrides` edits it by key path and re-validates, and the
parsed objects (:class:`Sector`, :class:`UseCase`, ...) are views of it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import tomli_w

from . import distributions
from .adoption import CURVES, Curve
from .correlation import GaussianCopula
from .distributions import Distribution
from .errors import ScenarioError, did_you_mean
from .loader import Origins, merge, read_document
from .sampling import REACH_HIGH, REACH_LOW

__all__ = [
    "Adoption",
    "Correlation",
    "Driver",
    "Meta",
    "Scenario",
    "Sector",
    "Settings",
    "Target",
    "UseCase",
    "load_scenario",
]

SAMPLERS = ("random", "lhs", "sobol")
METRICS = ("annual", "cumulative")
EFFECTS = ("speed", "ceiling", "value")
SECTIONS = ("scenario", "settings", "sectors", "drivers", "profiles", "use_cases", "targets",
            "correlations")


# --------------------------------------------------------------------------- reading helpers
class _Table:
    """A table of the document being read: typed getters with key-path error messages."""

    def __init__(self, data: Any, path: str, origins: Origins, allowed: Sequence[str] | None):
        self.path, self.origins = path, origins
        if not isinstance(data, Mapping):
            self.fail(f"expected a table, got {data!r}")
        self.data = data
        for key in data if allowed is not None else ():
            if key not in allowed:
                self.fail(f"unknown key {key!r}{did_you_mean(key, allowed)}; expected one of "
                          f"{', '.join(allowed)}", key)

    def where(self, key: str | None = None) -> str:
        return f"{self.path}.{key}" if key and self.path else (key or self.path)

    def fail(self, message: str, key: str | None = None) -> None:
        raise ScenarioError(message, *self.origins.locate(self.where(key)))

    def _get(self, key: str, default: Any, required: bool) -> Any:
        if key not in self.data:
            if required:  # named where it is missing, not where a profile would hold it
                path = self.where(key)
                raise ScenarioError(f"missing required key {key!r}", path, self.origins.file_of(path))
            return default
        return self.data[key]

    def text(self, key: str, default: str | None = "", required: bool = False) -> str:
        value = self._get(key, default, required)
        if value is not None and not isinstance(value, str):
            self.fail(f"expected a string, got {value!r}", key)
        return value

    def choice(self, key: str, options: Sequence[str], default: str) -> str:
        value = self.text(key, default)
        if value not in options:
            self.fail(f"expected one of {', '.join(map(repr, options))}, got {value!r}"
                      f"{did_you_mean(str(value), options)}", key)
        return value

    def integer(self, key: str, default: int | None = None, required: bool = False,
                minimum: int | None = None) -> int:
        value = self._get(key, default, required)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected a whole number, got {value!r}", key)
        if minimum is not None and value < minimum:
            self.fail(f"expected a whole number >= {minimum}, got {value}", key)
        return value

    def number(self, key: str, default: float | None = None, required: bool = False,
               minimum: float | None = None, strict: bool = False) -> float | None:
        value = self._get(key, default, required)
        if value is None:
            return None
        number = distributions.parse(value, *self.origins.locate(self.where(key)))
        if not number.is_fixed:
            self.fail("expected a fixed number here, not a distribution", key)
        if minimum is not None and (number.value < minimum or (strict and number.value == minimum)):
            self.fail(f"expected a number {'>' if strict else '>='} {minimum:g}, got "
                      f"{number.value:g}", key)
        return number.value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            self.fail(f"expected true or false, got {value!r}", key)
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._get(key, [], False)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"expected a list of names, got {value!r}", key)
        return tuple(value)

    def param(self, key: str, domain: str, default: float | None = None) -> Distribution:
        value = self._get(key, default, default is None)
        where = self.origins.locate(self.where(key))
        dist = distributions.parse(value, *where)
        _check_domain(dist, domain, *where)
        return dist

    def sub(self, key: str, allowed: Sequence[str] | None = None) -> _Table:
        return _Table(self.data[key], self.where(key), self.origins, allowed)


_DOMAINS = {
    "share": ((0.0, 1.0), "within [0, 1]"),
    "positive": ((0.0, float("inf")), "greater than 0"),
    "nonnegative": ((0.0, float("inf")), "of at least 0"),
    "year": ((-float("inf"), float("inf")), "that is a finite year"),
}


def _reach(dist: Distribution) -> tuple[float, float]:
    """Smallest and largest value the samplers can produce for ``dist``."""
    lo, hi = dist.ppf([REACH_LOW, REACH_HIGH])
    return float(lo), float(hi)


def _check_domain(dist: Distribution, domain: str, path: str, file: str | None) -> None:
    (lo, hi), words = _DOMAINS[domain]
    s_lo, s_hi = _reach(dist)
    if domain == "year":
        bad = not (math.isfinite(s_lo) and math.isfinite(s_hi))
    else:
        bad = s_lo < lo or s_hi > hi or (domain == "positive" and s_lo <= 0)
    if bad:
        got = f"got {s_lo:g}" if dist.is_fixed else f"the distribution reaches [{s_lo:g}, {s_hi:g}]"
        raise ScenarioError(f"expected a value {words}; {got}", path, file)


# --------------------------------------------------------------------------- parsed objects
@dataclass(frozen=True)
class Meta:
    """The ``[scenario]`` table: what the model reports and in which unit."""

    title: str
    description: str
    unit: str
    base_year: int
    horizon: tuple[int, int]
    price_basis: str
    metric: str
    target_year: int
    base_measure: str

    @property
    def years(self) -> range:
        """Every year of the horizon."""
        return range(self.horizon[0], self.horizon[1] + 1)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics reported: ``("annual",)``, ``("cumulative",)`` or both."""
        return METRICS if self.metric == "both" else (self.metric,)


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
    metric: str
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


# --------------------------------------------------------------------------- the scenario
@dataclass(frozen=True, eq=False)
class Scenario:
    """An immutable, validated scenario.

    Build one with :func:`load_scenario` or :meth:`Scenario.from_dict`.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> s.meta.unit, len(s.use_cases) > 0
    ('JPY trillion', True)
    >>> later = s.with_overrides({"settings.seed": 7})
    >>> later.settings.seed, s.settings.seed != 7
    (7, True)
    """

    document: Mapping[str, Any] = field(repr=False)
    file: str | None
    meta: Meta
    settings: Settings
    sectors: Mapping[str, Sector]
    drivers: Mapping[str, Driver]
    use_cases: Mapping[str, UseCase]
    targets: Mapping[str, Target]
    correlations: tuple[Correlation, ...]

    # ---- construction
    @classmethod
    def from_dict(cls, document: Mapping[str, Any], file: str | Path | None = None,
                  origins: Origins | None = None) -> Scenario:
        """Validate a document (the tables of a scenario file) and build a Scenario."""
        doc = _string_keys(document)  # TOML keys are strings (e.g. table years from Python)
        origins = origins or Origins(default=str(file) if file else None)
        return _build(doc, str(file) if file else None, origins)

    # ---- derived views
    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def groups(self) -> tuple[str, ...]:
        """Sector groups in order of first appearance."""
        return tuple(dict.fromkeys(s.group for s in self.sectors.values()))

    @property
    def years(self) -> range:
        return self.meta.years

    @functools.cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical document: equal for equal models, whatever the files."""
        text = json.dumps(dict(self.document), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def parameters(self) -> dict[str, Distribution]:
        """Every parameter of the enabled use cases and the drivers, by stream name.

        Names are key paths, e.g. ``use_cases.pricing.adoption.midpoint``; random streams are
        derived from them.
        """
        return _parameters(self.use_cases, self.drivers)

    def sectors_in(self, groups: Sequence[str] = (), sectors: Sequence[str] = ()) -> list[str]:
        """Sector ids in any of ``groups`` or listed in ``sectors``, in scenario order."""
        return [s.id for s in self.sectors.values() if s.group in groups or s.id in sectors]

    def sources(self) -> pd.DataFrame:
        """Every cited source in the document: key path and citation."""
        rows = [{"key": k, "source": v} for k, v in _walk(self.document) if k.endswith("source")]
        return pd.DataFrame(rows, columns=["key", "source"])

    def sectors_frame(self) -> pd.DataFrame:
        """Sectors as a table (one row each)."""
        rows = [{"id": s.id, "name": s.name, "group": s.group, "value_added": s.value_added,
                 "gross_output": s.gross_output, "year": s.year, "growth": s.growth,
                 "use_cases": sum(u.sector == s.id for u in self.use_cases.values()),
                 "source": s.source} for s in self.sectors.values()]
        return pd.DataFrame(rows).set_index("id")

    def use_cases_frame(self) -> pd.DataFrame:
        """Enabled use cases as a table, with the median of each value potential."""
        rows = [{"id": u.id, "name": u.name, "sector": u.sector, "technology": u.technology,
                 "stage": u.stage, "wave": u.wave, "potential_median": u.potential.median(),
                 "adoption": u.adoption.kind, "drivers": ", ".join(u.drivers),
                 "source": u.source} for u in self.use_cases.values()]
        return pd.DataFrame(rows).set_index("id")

    # ---- editing (each returns a new, validated Scenario)
    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new scenario with values set at dotted key paths.

        Examples
        --------
        >>> import digimpact
        >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
        >>> s2 = s.with_overrides({"use_cases.dynamic_pricing.adoption.midpoint": 2026})
        >>> s2.use_cases["dynamic_pricing"].adoption.params["midpoint"].value
        2026.0
        """
        doc = copy.deepcopy(dict(self.document))
        for dotted, value in overrides.items():
            keys = dotted.split(".")
            node = doc
            for key in keys[:-1]:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise ScenarioError(f"cannot set a key inside {child!r}", dotted, self.file)
                node = child
            node[keys[-1]] = copy.deepcopy(value)
        return Scenario.from_dict(doc, self.file)

    def replace(self, **sections: Any) -> Scenario:
        """A new scenario with whole top-level tables merged in (``settings={"draws": 100}``).

        Keys are section names (``scenario``, ``settings``, ``sectors``, ``use_cases``, ...);
        values merge into the section by the rules of ``extends``.
        """
        for name in sections:
            if name not in SECTIONS:
                raise ScenarioError(f"unknown section {name!r}{did_you_mean(name, SECTIONS)}",
                                    name, self.file)
        return Scenario.from_dict(merge(self.document, sections), self.file)

    def diff(self, other: Scenario) -> pd.DataFrame:
        """What changed from this scenario to ``other``: one row per key path.

        Examples
        --------
        >>> import digimpact
        >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
        >>> s.diff(s.with_overrides({"settings.seed": 1})).to_dict("records")
        [{'key': 'settings.seed', 'old': 2030, 'new': 1}]
        """
        old, new = dict(_walk(self.document)), dict(_walk(other.document))
        rows = [{"key": k, "old": old.get(k), "new": new.get(k)} for k in dict.fromkeys([*old, *new])
                if old.get(k, _MISSING) != new.get(k, _MISSING)]
        return pd.DataFrame(rows, columns=["key", "old", "new"], dtype=object)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document."""
        return copy.deepcopy(dict(self.document))

    @functools.cached_property
    def _toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def to_toml(self, path: str | Path | None = None) -> str:
        """The document as TOML text (written atomically to ``path`` if given)."""
        text = self._toml
        if path is not None:
            from .atomic import atomic_write

            atomic_write(path, text.encode())
        return text

    # ---- display
    def __repr__(self) -> str:
        return (f"<Scenario {self.title!r}: {len(self.sectors)} sectors, "
                f"{len(self.use_cases)} use cases, {len(self.drivers)} drivers, "
                f"{len(self.targets)} targets>")

    def _repr_html_(self) -> str:
        head = (f"<h4>{html.escape(self.title)}</h4><p>{html.escape(self.meta.description)}</p>"
                f"<p>Unit: {html.escape(self.meta.unit)}; years {self.meta.horizon[0]}-"
                f"{self.meta.horizon[1]}; hash {self.hash[:12]}</p>")
        return (head + "<h5>Sectors</h5>" + self.sectors_frame().to_html()
                + "<h5>Use cases</h5>" + self.use_cases_frame().to_html(max_rows=400))


_MISSING = object()


def _string_keys(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _string_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_string_keys(v) for v in node]
    return node


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


def _parameters(use_cases: Mapping[str, UseCase],
                drivers: Mapping[str, Driver]) -> dict[str, Distribution]:
    out: dict[str, Distribution] = {}
    for uc in use_cases.values():
        out[f"use_cases.{uc.id}.potential"] = uc.potential
        for name, dist in uc.adoption.params.items():
            out[f"use_cases.{uc.id}.adoption.{name}"] = dist
    for d in drivers.values():
        out[f"drivers.{d.id}.value"] = d.value
    return out


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (and the files it ``extends``).

    Raises
    ------
    ScenarioError
        For any mistake in the files, naming the file and key path.

    Examples
    --------
    >>> import digimpact
    >>> digimpact.load_scenario("scenarios/examples/minimal.toml").meta.horizon
    (2020, 2030)
    """
    document, origins = read_document(path)
    return Scenario.from_dict(document, Path(path), origins)


# --------------------------------------------------------------------------- validation
def _build(doc: dict[str, Any], file: str | None, origins: Origins) -> Scenario:
    root = _Table(doc, "", origins, SECTIONS)
    meta = _meta(root)
    settings = _settings(root)
    sectors = {k: _sector(root, k, meta) for k in _section(root, "sectors", required=True)}
    drivers = {k: _driver(root, k) for k in _section(root, "drivers")}
    profiles = _section(root, "profiles")
    for name, profile in profiles.items():
        _Table(profile, f"profiles.{name}", origins,
               tuple(k for k in _USE_CASE_KEYS if k not in ("profile", "enabled")))
    use_cases = {}
    for key in _section(root, "use_cases"):
        uc = _use_case(root, key, profiles, sectors, drivers)
        if uc.enabled:
            use_cases[key] = uc
    if not use_cases:
        root.fail("expected at least one enabled use case", "use_cases")
    scenario_groups = {s.group for s in sectors.values()}
    targets = {k: _target(root, k, meta, scenario_groups, sectors) for k in _section(root, "targets")}
    correlations = _correlations(root, _parameters(use_cases, drivers))
    return Scenario(MappingProxyType(doc), file, meta, settings, MappingProxyType(sectors),
                    MappingProxyType(drivers), MappingProxyType(use_cases),
                    MappingProxyType(targets), correlations)


def _section(root: _Table, name: str, required: bool = False) -> dict[str, Any]:
    value = root.data.get(name, {})
    if required and not value:
        root.fail(f"expected at least one entry in [{name}]", name)
    if not isinstance(value, Mapping):
        root.fail(f"expected a table of {name}", name)
    for key, entry in value.items():
        if not isinstance(entry, Mapping):
            root.fail(f"expected a table, got {entry!r}", f"{name}.{key}")
    return dict(value)


def _meta(root: _Table) -> Meta:
    if "scenario" not in root.data:
        root.fail("missing required table [scenario]", "scenario")
    t = root.sub("scenario", ("title", "description", "unit", "base_year", "horizon",
                              "price_basis", "metric", "target_year", "base_measure", "source",
                              "note"))
    horizon = t._get("horizon", None, True)
    if (not isinstance(horizon, list) or len(horizon) != 2
            or not all(isinstance(y, int) and not isinstance(y, bool) for y in horizon)
            or horizon[0] > horizon[1]):
        t.fail(f"expected [first year, last year] with first <= last, got {horizon!r}", "horizon")
    target_year = t.integer("target_year", horizon[1])
    if not horizon[0] <= target_year <= horizon[1]:
        t.fail(f"expected a year within the horizon {horizon}, got {target_year}", "target_year")
    return Meta(title=t.text("title", required=True), description=t.text("description"),
                unit=t.text("unit", required=True), base_year=t.integer("base_year", required=True),
                horizon=(horizon[0], horizon[1]),
                price_basis=t.choice("price_basis", ("nominal", "real"), "nominal"),
                metric=t.choice("metric", (*METRICS, "both"), "annual"), target_year=target_year,
                base_measure=t.choice("base_measure", ("value_added", "gross_output"),
                                      "value_added"))


def _settings(root: _Table) -> Settings:
    t = _Table(root.data.get("settings", {}), "settings", root.origins,
               ("draws", "seed", "sampler"))
    return Settings(draws=t.integer("draws", 10_000, minimum=1), seed=t.integer("seed", 0, minimum=0),
                    sampler=t.choice("sampler", SAMPLERS, "random"))


def _sector(root: _Table, key: str, meta: Meta) -> Sector:
    t = root.sub("sectors").sub(key, ("name", "group", "value_added", "gross_output", "year",
                                          "growth", "potential_scale", "source", "note"))
    gross = t.number("gross_output", None, minimum=0.0, strict=True)
    if meta.base_measure == "gross_output" and gross is None:
        t.fail("missing required key 'gross_output' (the scenario's base_measure is "
               "gross_output)", "gross_output")
    return Sector(id=key, name=t.text("name", key), group=t.text("group", required=True),
                  value_added=t.number("value_added", required=True, minimum=0.0, strict=True),
                  gross_output=gross, year=t.integer("year", meta.base_year),
                  growth=t.number("growth", 0.0, minimum=-1.0, strict=True),
                  potential_scale=t.number("potential_scale", 1.0, minimum=0.0),
                  source=t.text("source"), note=t.text("note"))


def _driver(root: _Table, key: str) -> Driver:
    t = root.sub("drivers").sub(key, ("name", "value", "acts_on", "source", "note"))
    acts_on = t.choice("acts_on", EFFECTS, "value")
    return Driver(id=key, name=t.text("name", key),
                  value=t.param("value", "positive" if acts_on == "speed" else "nonnegative"),
                  acts_on=acts_on, source=t.text("source"), note=t.text("note"))


class _Profiled(Origins):
    """Origins for a use case merged with its profile: keys it does not set itself are
    reported at the profile's key path (and file)."""

    def __init__(self, origins: Origins, path: str, own: Mapping[str, Any], profile: str):
        super().__init__(default=origins.default)
        self.update(origins)
        self.prefix, self.own, self.profile = path + ".", own, profile

    def locate(self, path: str) -> tuple[str, str | None]:
        if path.startswith(self.prefix):
            node: Any = self.own
            for part in path[len(self.prefix):].split("."):
                if not isinstance(node, Mapping) or part not in node:
                    path = f"profiles.{self.profile}.{path[len(self.prefix):]}"
                    break
                node = node[part]
        return path, self.file_of(path)


_USE_CASE_KEYS = ("name", "sector", "technology", "stage", "wave", "potential", "adoption",
                  "drivers", "deep_dive", "profile", "enabled", "source", "note")


def _use_case(root: _Table, key: str, profiles: Mapping[str, Any], sectors: Mapping[str, Sector],
              drivers: Mapping[str, Driver]) -> UseCase:
    raw = own = root.data["use_cases"][key]
    path = f"use_cases.{key}"
    profile = raw.get("profile")
    if profile is not None:
        if not isinstance(profile, str) or profile not in profiles:
            where = f"{path}.profile"
            raise ScenarioError(f"unknown profile {profile!r}{did_you_mean(str(profile), profiles)}"
                                f"; expected one of the [profiles] tables", where,
                                root.origins.file_of(where))
        raw = merge(profiles[profile], raw)
    t = _Table(raw, path, _Profiled(root.origins, path, own, profile) if profile else root.origins,
               _USE_CASE_KEYS)
    sector = t.text("sector", required=True)
    if sector not in sectors:
        t.fail(f"unknown sector {sector!r}{did_you_mean(sector, sectors)}; expected one of "
               f"{', '.join(sectors)}", "sector")
    names = t.names("drivers")
    for name in names:
        if name not in drivers:
            t.fail(f"unknown driver {name!r}{did_you_mean(name, drivers)}; expected one of "
                   f"{', '.join(drivers) or '(no drivers defined)'}", "drivers")
    return UseCase(id=key, name=t.text("name", key), sector=sector,
                   technology=t.text("technology", "unspecified"), stage=t.text("stage"),
                   wave=t.integer("wave", 1, minimum=1), potential=t.param("potential", "share"),
                   adoption=_adoption(t), drivers=names, deep_dive=t.flag("deep_dive", False),
                   profile=profile, enabled=t.flag("enabled", True), source=t.text("source"),
                   note=t.text("note"))


def _adoption(uc: _Table) -> Adoption:
    if "adoption" not in uc.data:
        uc.fail("missing required key 'adoption'", "adoption")
    raw = uc.data["adoption"]
    kind = raw.get("kind") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str) or kind not in CURVES:
        uc.fail(f"expected kind = one of {', '.join(CURVES)}, got {kind!r}"
                f"{did_you_mean(str(kind), CURVES)}", "adoption.kind")
    curve = CURVES[kind]
    t = uc.sub("adoption", ("kind", *curve.domains, *curve.fixed, "source", "note"))
    params = {name: t.param(name, domain, curve.defaults.get(name))
              for name, domain in curve.domains.items()}
    points = None
    if kind == "table":
        points = _points(t)
        ceiling = _reach(params["scale"])[1] * max(points.values())
        if ceiling > 1:
            t.fail(f"scale x largest share must not exceed 1, got {ceiling:g}", "scale")
    if kind == "linear" and _reach(params["start"])[1] >= _reach(params["end"])[0]:
        t.fail("expected every possible start to come before every possible end", "end")
    return Adoption(kind, MappingProxyType(params), points)


def _points(t: _Table) -> dict[int, float]:
    raw = t._get("points", None, True)
    if not isinstance(raw, Mapping) or not raw:
        t.fail("expected a table of year = share, e.g. { 2020 = 0.09, 2030 = 0.3 }", "points")
    points: dict[int, float] = {}
    for year, share in raw.items():
        path = t.where(f"points.{year}")
        if not str(year).isdigit():
            raise ScenarioError(f"expected a year as key, got {year!r}", path, t.origins.file_of(path))
        value = distributions.parse(share, path, t.origins.file_of(path))
        if not value.is_fixed:
            raise ScenarioError("expected a fixed share here, not a distribution (make `scale` "
                                "uncertain instead)", path, t.origins.file_of(path))
        _check_domain(value, "share", path, t.origins.file_of(path))
        points[int(year)] = value.value
    ordered = [points[y] for y in sorted(points)]
    if any(b < a for a, b in itertools.pairwise(ordered)):
        t.fail("expected shares that do not decrease from year to year", "points")
    return points


def _target(root: _Table, key: str, meta: Meta, groups: set[str],
            sectors: Mapping[str, Sector]) -> Target:
    t = root.sub("targets").sub(key, ("name", "groups", "sectors", "year", "metric", "low",
                                          "high", "quantiles", "tolerance", "source", "note"))
    tg, ts = t.names("groups"), t.names("sectors")
    if not tg and not ts:
        t.fail("expected 'groups' or 'sectors' naming what the target adds up", "groups")
    for g in tg:
        if g not in groups:
            t.fail(f"unknown group {g!r}{did_you_mean(g, groups)}; expected one of "
                   f"{', '.join(sorted(groups))}", "groups")
    for s in ts:
        if s not in sectors:
            t.fail(f"unknown sector {s!r}{did_you_mean(s, sectors)}", "sectors")
    year = t.integer("year", meta.target_year)
    if year not in meta.years:
        t.fail(f"expected a year within the horizon {list(meta.horizon)}, got {year}", "year")
    low, high = t.number("low"), t.number("high")
    if low is None and high is None:
        t.fail("expected a 'low' or a 'high' published value", "high")
    if low is not None and high is not None and low > high:
        t.fail(f"expected low <= high, got low = {low:g} and high = {high:g}", "high")
    q = t._get("quantiles", [0.05, 0.95], False)
    if (not isinstance(q, list) or len(q) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x <= 1
                       for x in q) or q[0] >= q[1]):
        t.fail(f"expected [low quantile, high quantile] within [0, 1], got {q!r}", "quantiles")
    return Target(id=key, name=t.text("name", key), groups=tg, sectors=ts, year=year,
                  metric=t.choice("metric", METRICS, "annual"), low=low, high=high,
                  quantiles=(float(q[0]), float(q[1])),
                  tolerance=t.number("tolerance", required=True, minimum=0.0),
                  source=t.text("source"))


def _correlations(root: _Table, params: Mapping[str, Distribution]) -> tuple[Correlation, ...]:
    raw = root.data.get("correlations", [])
    if not isinstance(raw, list):
        root.fail("expected an array of tables [[correlations]]", "correlations")
    out = []
    for i, entry in enumerate(raw):
        t = _Table(entry, f"correlations[{i}]", root.origins, ("params", "rank", "source", "note"))
        pair = t.names("params")
        if len(pair) != 2 or pair[0] == pair[1]:
            t.fail(f"expected two different parameter names, got {list(pair)!r}", "params")
        for name in pair:
            if name not in params:
                t.fail(f"unknown parameter {name!r}{did_you_mean(name, params)}", "params")
            if params[name].is_fixed:
                t.fail(f"parameter {name!r} is fixed; only uncertain parameters correlate",
                       "params")
        rank = t.number("rank", required=True)
        if not -1 < rank < 1:
            t.fail(f"expected a rank correlation strictly between -1 and 1, got {rank:g}", "rank")
        out.append(Correlation((pair[0], pair[1]), rank))
    try:
        GaussianCopula(list(params), {c.params: c.rank for c in out})
    except ValueError as exc:
        root.fail(str(exc), "correlations")
    return tuple(out)
