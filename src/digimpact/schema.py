"""The scenario schema: every table and key a scenario document may hold, read and checked.

:func:`validate` turns a merged document into the records of :mod:`digimpact.records`, or
raises one :class:`~digimpact.errors.ScenarioError` naming the file, the key path and what
was expected.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn, cast

from . import distributions, options, records
from .adoption import CURVES
from .correlation import GaussianCopula
from .distributions import Distribution
from .errors import ScenarioError, did_you_mean
from .loader import Origins, merge
from .records import parameters
from .sampling import REACH_HIGH, REACH_LOW

__all__ = ["BASS_P", "BASS_Q", "MAX_HORIZON", "MAX_LEVEL", "MAX_SCALE", "MAX_VALUE", "SECTIONS", "YEARS",
           "validate"]

YEARS = (1900, 2200)
"""Every calendar year of a scenario lies in this range, and so does every value a year
parameter (``midpoint``, ``start``, ``end``, ``year``) can reach."""
MAX_HORIZON = 200
"""Longest horizon, in years (last minus first)."""
MAX_LEVEL = 1e15
"""Largest sector base measure in any year of the horizon, once grown (in the scenario's unit)."""
MAX_SCALE = 100.0
"""Largest ``potential_scale`` of a sector."""
MAX_VALUE = 1e100
"""Largest value a use case can reach in one year and draw (an overflow guard: the engine
adds years and use cases, far from the float limit of 1.8e308)."""
MAX_DRAWS = 2**40
"""Most draws a scenario's ``[settings]`` may ask for."""
MAX_WAVE = 100
"""Largest ``wave`` number of a use case."""
BASS_P = (1e-6, 1.0)
"""Range of the Bass innovation coefficient ``p``."""
BASS_Q = (0.0, 1.0)
"""Range of the Bass imitation coefficient ``q``."""
SECTIONS = ("scenario", "settings", "sectors", "drivers", "profiles", "use_cases", "targets",
            "correlations", "kpis", "observations")


# --------------------------------------------------------------------------- reading helpers
_FREE_TEXT = ("source", "note", "url")  # optional strings wherever a table allows them


class _Table:
    """A table of the document being read: typed getters with key-path error messages."""

    def __init__(self, data: Any, path: str, origins: Origins, allowed: Sequence[str] | None):
        self.path, self.origins = path, origins
        if not isinstance(data, Mapping):
            self.fail(f"expected a table, got {data!r}")
        self.data = data
        for key in data:
            if allowed is not None and key not in allowed:
                self.fail(f"unknown key {key!r}{did_you_mean(key, allowed)}; expected one of "
                          f"{', '.join(allowed)}", key)
            if allowed is not None and key in _FREE_TEXT:
                self.text(key)

    def where(self, key: str | None = None) -> str:
        return f"{self.path}.{key}" if key and self.path else (key or self.path)

    def fail(self, message: str, key: str | None = None) -> NoReturn:
        """Raise the :class:`ScenarioError` of ``message`` at ``key`` (or the table itself)."""
        raise ScenarioError(message, *self.origins.locate(self.where(key)))

    def _get(self, key: str, default: Any, required: bool) -> Any:
        if key not in self.data:
            if required:  # named where it is missing, not where a profile would hold it
                path = self.where(key)
                raise ScenarioError(f"missing required key {key!r}", path, self.origins.file_of(path))
            return default
        return self.data[key]

    def text(self, key: str, default: str = "", required: bool = False) -> str:
        value = self._get(key, default, required)
        if not isinstance(value, str):
            self.fail(f"expected a string, got {value!r}", key)
        return value

    def choice(self, key: str, vocabulary: Any, default: str) -> Any:
        """The word at ``key``, one of ``vocabulary`` (a ``Literal`` alias of
        :mod:`digimpact.options`)."""
        words = options.choices(vocabulary)
        value = self.text(key, default)
        if value not in words:
            self.fail(f"expected one of {', '.join(map(repr, words))}, got {value!r}"
                      f"{did_you_mean(str(value), words)}", key)
        return value

    def integer(self, key: str, default: int | None = None, required: bool = False,
                minimum: int = 0, maximum: int = 2**63 - 1) -> int:
        value = self._get(key, default, required)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected a whole number, got {value!r}", key)
        if not minimum <= value <= maximum:
            self.fail(f"expected a whole number from {minimum} to {maximum}, got "
                      f"{_shown(value)}", key)
        return value

    def year(self, key: str, default: int | None = None, required: bool = False) -> int:
        return self.integer(key, default, required, *YEARS)

    def number(self, key: str, default: float | None = None, required: bool = False,
               minimum: float | None = None, strict: bool = False,
               maximum: float | None = None) -> float | None:
        value = self._get(key, default, required)
        if value is None:
            return None
        number = self._parse(key, value)
        if not number.is_fixed:
            self.fail("expected a fixed number here, not a distribution", key)
        if minimum is not None and (number.value < minimum or (strict and number.value == minimum)):
            self.fail(f"expected a number {'>' if strict else '>='} {minimum:g}, got "
                      f"{number.value:g}", key)
        if maximum is not None and number.value > maximum:
            self.fail(f"expected a number <= {maximum:g}, got {number.value:g}", key)
        return number.value

    def amount(self, key: str, default: float | None = None, **limits: Any) -> float:
        """:meth:`number`, required unless a ``default`` is given (so never ``None``)."""
        value = self.number(key, default, default is None, **limits)
        assert value is not None  # a missing required key raised
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            self.fail(f"expected true or false, got {value!r}", key)
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._get(key, [], False)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"expected a list of names, got {value!r}", key)
        for a, b in itertools.combinations(value, 2):
            if a == b:
                self.fail(f"expected each name once, got {a!r} twice", key)
        return tuple(value)

    def param(self, key: str, domain: str, default: float | None = None) -> Distribution:
        value = self._get(key, default, default is None)
        dist = self._parse(key, value)
        _check_domain(dist, domain, *self.origins.locate(self.where(key)))
        return dist

    def _parse(self, key: str, value: Any) -> Distribution:
        """:func:`distributions.parse` with errors blamed on the file that set the inner key
        (a variant may edit one key of a distribution that another file wrote)."""
        try:
            return distributions.parse(value, *self.origins.locate(self.where(key)))
        except ScenarioError as exc:
            raise ScenarioError(exc.message, exc.path, self.origins.file_of(exc.path)) from None

    def sub(self, key: str, allowed: Sequence[str] | None = None) -> _Table:
        return _Table(self.data[key], self.where(key), self.origins, allowed)


def _shown(value: Any) -> str:
    """``repr`` of a value, with a huge integer shown by its size."""
    if isinstance(value, int) and abs(value) > 10**15:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


_DOMAINS: dict[str, tuple[float, float, bool, str]] = {  # (lowest, highest, lowest excluded, words)
    "share": (0.0, 1.0, False, "within [0, 1]"),
    "positive": (0.0, math.inf, True, "greater than 0"),
    "nonnegative": (0.0, math.inf, False, "of at least 0"),
    "year": (float(YEARS[0]), float(YEARS[1]), False, f"within the years {YEARS[0]}-{YEARS[1]}"),
    "innovation": (*BASS_P, False, f"within [{BASS_P[0]:g}, {BASS_P[1]:g}]"),
    "imitation": (*BASS_Q, False, f"within [{BASS_Q[0]:g}, {BASS_Q[1]:g}]"),
}


def _reach(dist: Distribution) -> tuple[float, float]:
    """Smallest and largest value the samplers can produce for ``dist``."""
    lo, hi = dist.ppf([REACH_LOW, REACH_HIGH])
    return float(lo), float(hi)


def _check_domain(dist: Distribution, domain: str, path: str, file: str | None) -> None:
    """Refuse a parameter whose reachable range leaves its domain or is not finite (scipy
    gives NaN or inf for parameters too extreme for its quantile functions)."""
    lo, hi, open_low, words = _DOMAINS[domain]
    s_lo, s_mid, s_hi = (float(v) for v in dist.ppf([REACH_LOW, 0.5, REACH_HIGH]))
    if not all(map(math.isfinite, (s_lo, s_mid, s_hi))):
        raise ScenarioError(f"expected finite values; the distribution gives {s_lo:g}, {s_mid:g} "
                            f"and {s_hi:g} at its lowest, median and highest reachable points "
                            "(parameters too extreme)", path, file)
    sup_lo, sup_hi = dist.support()
    slack = 1e-9 * max([1.0, *(abs(v) for v in (sup_lo, sup_hi) if math.isfinite(v))])
    if s_lo < sup_lo - slack or s_hi > sup_hi + slack:
        raise ScenarioError(f"expected parameters that scipy evaluates accurately; its quantile "
                            f"function reaches [{s_lo:g}, {s_hi:g}], outside the distribution's "
                            f"support [{sup_lo:g}, {sup_hi:g}]", path, file)
    if s_lo < lo or s_hi > hi or (open_low and s_lo <= lo):
        got = f"got {s_lo:g}" if dist.is_fixed else f"the distribution reaches [{s_lo:g}, {s_hi:g}]"
        raise ScenarioError(f"expected a value {words}; {got}", path, file)


# --------------------------------------------------------------------------- sections
def validate(doc: Mapping[str, Any], origins: Origins) -> records.Model:
    """Check a merged document against the schema and build its records.

    Raises
    ------
    ScenarioError
        The first mistake found, with the file that set the key (from ``origins``).
    """
    _check_values(doc, origins)
    root = _Table(doc, "", origins, SECTIONS)
    meta = _meta(root)
    settings = _settings(root)
    sectors = {k: _sector(root, k, meta) for k in _section(root, "sectors", required=True)}
    drivers = {k: _driver(root, k) for k in _section(root, "drivers")}
    profiles = _section(root, "profiles")
    for name in profiles:
        _profile(root, name)
    use_cases = {}
    for key in _section(root, "use_cases"):
        uc = _use_case(root, key, profiles, sectors, drivers)
        if uc.enabled:
            use_cases[key] = uc
    if not use_cases:
        root.fail("expected at least one enabled use case", "use_cases")
    value_reach = {k: _reach(d.value)[1] for k, d in drivers.items() if d.acts_on == "value"}
    for uc in use_cases.values():
        _check_reach(root, uc, sectors[uc.sector], meta, value_reach)
    scenario_groups = {s.group for s in sectors.values()}
    targets = {k: _target(root, k, meta, scenario_groups, sectors) for k in _section(root, "targets")}
    correlations = _correlations(root, parameters(use_cases, drivers))
    members = {p: tuple(k for k, u in use_cases.items() if u.profile == p) for p in profiles}
    kpis = {k: _kpi(root, k, use_cases, members) for k in _section(root, "kpis")}
    observations = {k: _observation(root, k, meta, kpis, use_cases, members, sectors)
                    for k in _section(root, "observations")}
    return records.Model(meta, settings, MappingProxyType(sectors), MappingProxyType(drivers),
                         MappingProxyType(use_cases), MappingProxyType(targets), correlations,
                         MappingProxyType(kpis), MappingProxyType(observations))


def _check_values(doc: Mapping[str, Any], origins: Origins) -> None:
    """Refuse, anywhere in the document, what no key of the schema takes: dates and times
    (TOML has them; they would break :attr:`Scenario.hash`) and NUL characters in keys or
    text (they break netCDF attributes)."""
    queue: deque[tuple[str, Any]] = deque([("", doc)])
    while queue:
        path, node = queue.popleft()
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, value in items:
            where = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
            if "\0" in str(key) or (isinstance(value, str) and "\0" in value):
                raise ScenarioError("expected text without NUL characters",
                                    *origins.locate(where.replace("\0", "\\0")))
            if isinstance(value, Mapping | list):
                queue.append((where, value))
            elif not isinstance(value, str | int | float):  # bool is an int
                raise ScenarioError(f"expected a string, number, boolean, array or table, got "
                                    f"{value!r}", *origins.locate(where))


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


def _meta(root: _Table) -> records.Meta:
    if "scenario" not in root.data:
        root.fail("missing required table [scenario]", "scenario")
    t = root.sub("scenario", ("title", "description", "unit", "base_year", "horizon",
                              "price_basis", "estimand", "metric", "target_year", "base_measure",
                              "counterfactual", "source", "note"))
    horizon = t._get("horizon", None, True)
    if (not isinstance(horizon, list) or len(horizon) != 2
            or not all(isinstance(y, int) and not isinstance(y, bool) for y in horizon)
            or not YEARS[0] <= horizon[0] <= horizon[1] <= min(YEARS[1], horizon[0] + MAX_HORIZON)):
        t.fail(f"expected [first year, last year] with {YEARS[0]} <= first <= last <= {YEARS[1]} "
               f"and at most {MAX_HORIZON} years apart, got {_shown(horizon)}", "horizon")
    target_year = t.year("target_year", horizon[1])
    if not horizon[0] <= target_year <= horizon[1]:
        t.fail(f"expected a year within the horizon {horizon}, got {target_year}", "target_year")
    estimand, metric = _estimand(t, "annual", options.ScenarioMetric)
    return records.Meta(title=t.text("title", required=True), description=t.text("description"),
                        unit=t.text("unit", required=True),
                        base_year=t.year("base_year", required=True),
                        horizon=(horizon[0], horizon[1]),
                        price_basis=t.choice("price_basis", options.PriceBasis, "nominal"),
                        estimand=estimand, metric="both" if metric == "both" else estimand,
                        target_year=target_year,
                        base_measure=t.choice("base_measure", options.BaseMeasure, "value_added"),
                        counterfactual=t.choice("counterfactual", options.Counterfactual, "none"))


def _estimand(t: _Table, default: options.Estimand, older: Any) -> tuple[options.Estimand, str | None]:
    """``(estimand, metric)``: the table's ``estimand``, else the reading of its older
    ``metric`` key (a word of the vocabulary ``older``; ``"annual"`` and ``"cumulative"`` mean
    the same estimand, ``"both"`` reads as ``"annual"``), else ``default``; and the ``metric``
    given, if any.

    Both keys may be given only if they agree (``"both"`` agrees with annual and cumulative).
    """
    metric = t.choice("metric", older, "annual") if "metric" in t.data else None
    implied: options.Estimand | None = (None if metric is None
                                else "cumulative" if metric == "cumulative" else "annual")
    if "estimand" not in t.data:
        return implied or default, metric
    estimand = t.choice("estimand", options.Estimand, default)
    agrees = estimand == implied or (metric == "both" and estimand in options.choices(options.TargetMetric))
    if implied is not None and not agrees:
        t.fail(f"metric = {metric!r} (the older name of estimand = {implied!r}) contradicts "
               f"estimand = {estimand!r}; give estimand only", "metric")
    return estimand, metric


def _settings(root: _Table) -> records.Settings:
    t = _Table(root.data.get("settings", {}), "settings", root.origins,
               ("draws", "seed", "sampler"))
    return records.Settings(draws=t.integer("draws", 10_000, minimum=1, maximum=MAX_DRAWS),
                            seed=t.integer("seed", 0),
                            sampler=t.choice("sampler", options.SamplerName, "random"))


def _sector(root: _Table, key: str, meta: records.Meta) -> records.Sector:
    t = root.sub("sectors").sub(key, ("name", "group", "value_added", "gross_output", "year",
                                      "growth", "potential_scale", "market", "intensity_ceiling",
                                      "source", "note"))
    gross = t.number("gross_output", None, minimum=0.0, strict=True)
    if meta.base_measure == "gross_output" and gross is None:
        t.fail("missing required key 'gross_output' (the scenario's base_measure is "
               "gross_output)", "gross_output")
    sector = records.Sector(
        id=key, name=t.text("name", key), group=t.text("group", required=True),
        value_added=t.amount("value_added", minimum=0.0, strict=True),
        gross_output=gross, year=t.year("year", meta.base_year),
        growth=t.amount("growth", 0.0, minimum=-1.0, strict=True),
        potential_scale=t.amount("potential_scale", 1.0, minimum=0.0, maximum=MAX_SCALE),
        source=t.text("source"), note=t.text("note"), market=t.flag("market", True),
        intensity_ceiling=_ceiling(t))
    # the grown base is monotone in the year: its largest value is at an end of the horizon
    for measure, level in (("value_added", sector.value_added), ("gross_output", gross)):
        worst = max(meta.horizon, key=lambda y: _log_base(level or 1.0, sector.growth, y - sector.year))
        if level is not None and _log_base(level, sector.growth, worst - sector.year) > math.log(MAX_LEVEL):
            t.fail(f"expected growth that keeps {measure} below {MAX_LEVEL:g} over the horizon; "
                   f"{level:g} x (1 + {sector.growth:g})^({worst} - {sector.year}) exceeds it",
                   "growth")
    return sector


def _ceiling(sector: _Table) -> records.IntensityCeiling | None:
    """The sector's ``intensity_ceiling = { value = <value / value added>, source = "..." }``."""
    if "intensity_ceiling" not in sector.data:
        return None
    if not isinstance(sector.data["intensity_ceiling"], Mapping):
        sector.fail(f"expected a table {{ value = <largest value / value added>, source = "
                    f"\"...\" }}, got {sector.data['intensity_ceiling']!r}", "intensity_ceiling")
    t = sector.sub("intensity_ceiling", ("value", "source", "note"))
    return records.IntensityCeiling(value=t.amount("value", minimum=0.0, strict=True),
                                    source=t.text("source", required=True), note=t.text("note"))


def _log_base(level: float, growth: float, years: int) -> float:
    """``log(level * (1 + growth) ** years)``, without overflow."""
    return math.log(level) + years * math.log1p(growth)


def _driver(root: _Table, key: str) -> records.Driver:
    t = root.sub("drivers").sub(key, ("name", "value", "acts_on", "source", "note"))
    acts_on = t.choice("acts_on", options.EffectName, "value")
    return records.Driver(id=key, name=t.text("name", key),
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


def _profile(root: _Table, name: str) -> None:
    """Type-check the plain keys of a profile; ``potential`` and ``adoption`` may be partial,
    and are checked in each use case that takes them."""
    t = root.sub("profiles").sub(name, tuple(k for k in _USE_CASE_KEYS
                                             if k not in ("profile", "enabled")))
    for key in ("name", "sector", "technology", "stage"):
        t.text(key)
    t.integer("wave", 1, minimum=1, maximum=MAX_WAVE)
    t.names("drivers")
    t.flag("deep_dive", False)


def _use_case(root: _Table, key: str, profiles: Mapping[str, Any],
              sectors: Mapping[str, records.Sector],
              drivers: Mapping[str, records.Driver]) -> records.UseCase:
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
    return records.UseCase(id=key, name=t.text("name", key), sector=sector,
                           technology=t.text("technology", "unspecified"), stage=t.text("stage"),
                           wave=t.integer("wave", 1, minimum=1, maximum=MAX_WAVE),
                           potential=t.param("potential", "share"), adoption=_adoption(t),
                           drivers=names, deep_dive=t.flag("deep_dive", False), profile=profile,
                           enabled=t.flag("enabled", True), source=t.text("source"),
                           note=t.text("note"))


def _check_reach(root: _Table, uc: records.UseCase, sector: records.Sector, meta: records.Meta,
                 value_reach: Mapping[str, float]) -> None:
    """Refuse a use case whose value can overflow: its largest value in a year is at most
    the sector's largest base x potential_scale x potential x its value drivers (adoption and
    ceiling factors stay within [0, 1])."""
    level = sector.value_added if meta.base_measure == "value_added" else sector.gross_output
    assert level is not None  # _sector requires gross_output when it is the base measure
    logs = [max(_log_base(level, sector.growth, y - sector.year) for y in meta.horizon)]
    factors = [sector.potential_scale, _reach(uc.potential)[1],
               *(value_reach[d] for d in uc.drivers if d in value_reach)]
    if 0 in factors:
        return
    logs += [math.log(f) for f in factors]
    if math.fsum(logs) > math.log(MAX_VALUE):
        root.fail(f"expected a use case whose largest value stays below {MAX_VALUE:g}; its "
                  f"base, potential and value drivers reach about 1e{math.fsum(logs) / math.log(10):.0f}",
                  f"use_cases.{uc.id}.drivers")


def _adoption(uc: _Table) -> records.Adoption:
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
    return records.Adoption(kind, MappingProxyType(params), points)


def _points(t: _Table) -> dict[int, float]:
    raw = t._get("points", None, True)
    if not isinstance(raw, Mapping) or not raw:
        t.fail("expected a table of year = share, e.g. { 2020 = 0.09, 2030 = 0.3 }", "points")
    points: dict[int, float] = {}
    first: dict[int, str] = {}
    years = t.sub("points")
    for key in raw:
        if not re.fullmatch("[0-9]+", key):  # ASCII digits: str.isdigit() takes '²'
            years.fail(f"expected a year as key, got {key!r}", key)
        year = int(key)
        if year in first:
            years.fail(f"year {year} is given twice, as {first[year]!r} and {key!r}", key)
        if not YEARS[0] <= year <= YEARS[1]:
            years.fail(f"expected a year from {YEARS[0]} to {YEARS[1]} as key, got {key!r}", key)
        first[year] = key
        value = years.param(key, "share")
        if not value.is_fixed:
            years.fail("expected a fixed share here, not a distribution (make `scale` uncertain "
                       "instead)", key)
        points[year] = value.value
    ordered = [points[y] for y in sorted(points)]
    if any(b < a for a, b in itertools.pairwise(ordered)):
        t.fail("expected shares that do not decrease from year to year", "points")
    return points


def _target(root: _Table, key: str, meta: records.Meta, groups: set[str],
            sectors: Mapping[str, records.Sector]) -> records.Target:
    t = root.sub("targets").sub(key, ("name", "groups", "sectors", "year", "estimand", "metric",
                                      "low", "high", "quantiles", "tolerance", "source", "note"))
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
    year = t.year("year", meta.target_year)
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
        t.fail(f"expected [low quantile, high quantile] within [0, 1], got {_shown(q)}", "quantiles")
    return records.Target(id=key, name=t.text("name", key), groups=tg, sectors=ts, year=year,
                          estimand=_estimand(t, meta.estimand, options.TargetMetric)[0], low=low, high=high,
                          quantiles=(float(q[0]), float(q[1])),
                          tolerance=t.amount("tolerance", minimum=0.0),
                          source=t.text("source"))


def _correlations(root: _Table, params: Mapping[str, Distribution]
                  ) -> tuple[records.Correlation, ...]:
    raw = root.data.get("correlations", [])
    if not isinstance(raw, list):
        root.fail("expected an array of tables [[correlations]]", "correlations")
    out: list[records.Correlation] = []
    seen: dict[frozenset[str], int] = {}
    for i, entry in enumerate(raw):
        t = _Table(entry, f"correlations[{i}]", root.origins, ("params", "rank", "source", "note"))
        pair = t.names("params")
        if len(pair) != 2:
            t.fail(f"expected two different parameter names, got {list(pair)!r}", "params")
        for name in pair:
            if name not in params:
                t.fail(f"unknown parameter {name!r}{did_you_mean(name, params)}", "params")
            if params[name].is_fixed:
                t.fail(f"parameter {name!r} is fixed; only uncertain parameters correlate",
                       "params")
        if frozenset(pair) in seen:
            t.fail(f"expected each pair once; this pair is already correlated in "
                   f"correlations[{seen[frozenset(pair)]}]", "params")
        seen[frozenset(pair)] = i
        rank = t.amount("rank")
        if not -1 < rank < 1:
            t.fail(f"expected a rank correlation strictly between -1 and 1, got {rank:g}", "rank")
        out.append(records.Correlation((pair[0], pair[1]), rank))
    try:
        GaussianCopula(list(params), {c.params: c.rank for c in out})
    except ValueError as exc:
        root.fail(str(exc), "correlations")
    return tuple(out)


def _known(t: _Table, key: str, name: str, known: Mapping[str, Any], what: str) -> None:
    """Refuse a reference ``name`` (at ``key``) to no entry of ``known``."""
    if name not in known:
        t.fail(f"unknown {what} {name!r}{did_you_mean(name, known)}; expected one of "
               f"{', '.join(known) or f'(no {what}s defined)'}", key)


def _profile_members(t: _Table, key: str, name: str, members: Mapping[str, tuple[str, ...]]
                     ) -> tuple[str, ...]:
    """The enabled use cases of profile ``name`` (named at ``key``), at least one."""
    _known(t, key, name, members, "profile")
    if not members[name]:
        t.fail(f"profile {name!r} has no enabled use case", key)
    return members[name]


def _kpi(root: _Table, key: str, use_cases: Mapping[str, records.UseCase],
         members: Mapping[str, tuple[str, ...]]) -> records.Kpi:
    t = root.sub("kpis").sub(key, ("name", "unit", "use_cases", "profiles", "scale", "definition",
                                   "milestones", "source", "note"))
    listed, profiles = t.names("use_cases"), t.names("profiles")
    if bool(listed) == bool(profiles):
        t.fail("expected either 'use_cases' or 'profiles' (not both) naming what the KPI "
               "averages", "use_cases")
    for name in listed:
        _known(t, "use_cases", name, use_cases, "use case")
    ids = listed or tuple(u for p in profiles for u in _profile_members(t, "profiles", p, members))
    definition = t.text("definition", required=True)
    if not definition.strip():
        t.fail("expected a definition of the KPI (what series it is and how the mapping was "
               "derived)", "definition")
    return records.Kpi(id=key, name=t.text("name", key), unit=t.text("unit"),
                       use_cases=tuple(dict.fromkeys(ids)),
                       scale=t.amount("scale", minimum=0.0, strict=True), definition=definition,
                       milestones=MappingProxyType(_milestones(t)), source=t.text("source"))


def _milestones(t: _Table) -> dict[int, float]:
    if "milestones" not in t.data:
        return {}
    years = t.sub("milestones")
    out = {}
    for key in years.data:
        if not re.fullmatch("[0-9]+", key) or not YEARS[0] <= int(key) <= YEARS[1]:
            years.fail(f"expected a year from {YEARS[0]} to {YEARS[1]} as key, got {key!r}", key)
        out[int(key)] = years.amount(key)
    return out


_TARGETS = options.choices(options.ObservationTarget)


def _observation(root: _Table, key: str, meta: records.Meta, kpis: Mapping[str, records.Kpi],
                 use_cases: Mapping[str, records.UseCase], members: Mapping[str, tuple[str, ...]],
                 sectors: Mapping[str, records.Sector]) -> records.Observation:
    t = root.sub("observations").sub(key, (*_TARGETS, "year", "value", "error", "mismatch_sd",
                                           "series", "use", "source", "url", "row", "note"))
    named = [k for k in _TARGETS if k in t.data]
    if len(named) != 1:
        t.fail(f"expected exactly one of {', '.join(_TARGETS)} naming what is observed, got "
               f"{' and '.join(named) or 'none'}", named[1] if len(named) > 1 else None)
    target = cast(options.ObservationTarget, named[0])
    of = t.text(target)
    if target == "profile":
        _profile_members(t, target, of, members)
    else:
        known = {"kpi": kpis, "use_case": use_cases, "sector": sectors}[target]
        _known(t, target, of, known, {"kpi": "KPI", "use_case": "use case"}.get(target, target))
    year = t.year("year", required=True)
    if year not in meta.years:
        t.fail(f"expected a year within the horizon {list(meta.horizon)}, got {year}", "year")
    series = t.choice("series", options.SeriesKind, "same")
    use = t.choice("use", options.ObservationUse, "update")
    mismatch = t.amount("mismatch_sd", 0.0, minimum=0.0)
    if series == "proxy" and use == "update" and mismatch == 0:
        t.fail("expected a mismatch_sd > 0: a proxy series enters the update with a "
               "definition-mismatch error", "mismatch_sd")
    t.integer("row", 0)
    value = t.amount("value")
    return records.Observation(id=key, target=target, of=of, year=year, value=value,
                               error=_error(t, value), mismatch_sd=mismatch, series=series,
                               use=use, source=t.text("source"), url=t.text("url"),
                               note=t.text("note"))


def _error(obs: _Table, value: float) -> records.ErrorSpec:
    if "error" not in obs.data:
        obs.fail("missing required key 'error' (a table: { sd = ... }, { relative = ... } or "
                 "{ low = ..., high = ... })", "error")
    t = obs.sub("error", ("sd", "relative", "low", "high"))
    given = [k for k in ("sd", "relative") if k in t.data] + (["low, high"] if
                                                              {"low", "high"} & set(t.data) else [])
    if len(given) != 1:
        t.fail(f"expected exactly one of sd, relative or low and high, got "
               f"{' and '.join(given) or 'none'}")
    if "sd" in t.data:
        return records.ErrorSpec(sd=t.amount("sd", minimum=0.0, strict=True))
    if "relative" in t.data:
        return records.ErrorSpec(relative=t.amount("relative", minimum=0.0, strict=True))
    low, high = t.amount("low"), t.amount("high")
    if not low < high:
        t.fail(f"expected low < high (a 90% interval), got low = {low:g} and high = {high:g}", "high")
    if not low <= value <= high:
        obs.fail(f"expected a value within its error interval [{low:g}, {high:g}], got {value:g}",
                 "value")
    return records.ErrorSpec(interval=(low, high))
