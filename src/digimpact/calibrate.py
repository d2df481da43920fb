"""Calibration: fit lognormal value drivers to published quantiles, and say what is left to test.

The parameters are the ``median`` (level) and ``sigma`` (spread) of drivers that act on value
with a lognormal ``{ median, sigma }`` value. Two modes:

- ``"levels"`` (default): only the level of each group's driver is free; every spread is the
  scenario's prior. The targets that add up the whole economy are not fitted but predicted
  (out of sample): given the levels, they test how the groups move together, which the spreads
  set. With fewer free parameters than fitted bounds, the fitted residuals test the spreads too.
- ``"exact"``: every median and spread is free and every target is fitted. On the Japan model
  that is seven parameters for seven published numbers: a fit that leaves nothing to test.

The optimiser is :func:`scipy.optimize.least_squares` on the scaled residuals
``(simulated quantile - published) / tolerance``, over the logarithms of the parameters within
:data:`BOUNDS`. :class:`CalibrationReport` says how well the fit identifies each parameter: the
singular values of the Jacobian of the scaled residuals, and each parameter's profile interval.

References
----------
.. [1] Kennedy, M. C. and O'Hagan, A. (2001). Bayesian calibration of computer models.
       *J. R. Stat. Soc. B* 63(3), 425-464 (for the general setting; this is the frequentist,
       quantile-matching special case).
.. [2] Raue, A. et al. (2009). Structural and practical identifiability analysis of partially
       observed dynamical models by exploiting the profile likelihood. *Bioinformatics* 25(15),
       1923-1929. doi:10.1093/bioinformatics/btp358
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import OptimizeResult, brentq, least_squares

from .distributions import MAX_SIGMA
from .errors import ScenarioError, UsageError, check_choice, did_you_mean
from .options import CalibrationMode, SamplerName
from .plan import Plan, chunks
from .records import Driver, Target
from .scenario import Scenario

__all__ = ["BOUNDS", "WEAK_CONDITION", "CalibrationReport", "calibrate",
           "default_parameters", "default_targets"]

FIELDS = ("median", "sigma")
BOUNDS = {"median": (1e-3, 1e3), "sigma": (1e-6, MAX_SIGMA)}
"""Bounds of each kind of parameter (``sigma`` is capped like any lognormal's)."""
NEAR_BOUND = 0.01
"""A fitted value within this relative distance of a bound is reported as at the bound."""
WEAK_CONDITION = 1e3
"""A Jacobian condition number above this is reported as a weakly identified fit."""
PROFILE_RISE = 1.0
"""The profile interval ends where the sum of squared scaled residuals has risen by this: one
tolerance, squared."""
_STEP = 1e-2
"""Step of the finite differences in log units (a 1% change of a parameter): wide enough to
average over the kinks of the sample quantiles, which are piecewise linear in the parameters."""


# ----------------------------------------------------------------------------- report
@dataclass(frozen=True)
class CalibrationReport:
    """What :func:`calibrate` did, what the fit leaves to test, and how well it is identified.

    Attributes
    ----------
    mode : {"levels", "exact"}
        Which parameters were free by default (see :func:`calibrate`).
    parameters : pandas.DataFrame
        One row per free parameter (key path): ``start``, ``fitted``, its ``low`` and ``high``
        bounds, ``at_bound``, and its profile interval ``profile_low`` - ``profile_high``: how
        far it can move from the optimum, the other parameters re-optimised, before the sum of
        squared scaled residuals rises by one (a bound when it never does).
    targets : pandas.DataFrame
        One row per published bound: ``target``, ``bound``, ``quantile``, ``role`` (``"fitted"`` or
        ``"out_of_sample"``), ``published``, ``achieved``, ``residual``, ``tolerance``, ``ok``.
    singular_values : tuple of float
        Of the Jacobian of the fitted scaled residuals with respect to the log-parameters at
        the optimum, largest first; zeros where there are fewer fitted bounds than parameters.
    sum_of_squares : float
        Of the fitted scaled residuals at the optimum.
    warnings : tuple of str
        A parameter at a bound, a profile that reaches a bound, a weakly identified fit
        (condition number above :data:`WEAK_CONDITION`), a target out of tolerance.
    success, message
        The optimiser's verdict.
    draws, seed, sampler
        The common random numbers used.
    """

    mode: CalibrationMode
    parameters: pd.DataFrame
    targets: pd.DataFrame
    singular_values: tuple[float, ...]
    sum_of_squares: float
    warnings: tuple[str, ...]
    success: bool
    message: str
    draws: int
    seed: int
    sampler: str

    @property
    def fitted(self) -> pd.DataFrame:
        """The bounds the parameters were fitted to."""
        return self._role("fitted")

    @property
    def out_of_sample(self) -> pd.DataFrame:
        """The bounds left out of the fit: predictions to check."""
        return self._role("out_of_sample")

    def _role(self, role: str) -> pd.DataFrame:
        rows = self.targets[self.targets["role"] == role]
        return rows.drop(columns="role").reset_index(drop=True)

    @property
    def condition_number(self) -> float:
        """Largest over smallest singular value (``inf`` when the smallest is 0)."""
        return _condition(self.singular_values)

    def to_text(self) -> str:
        """Everything in the report, as plain text."""
        n_fit, n_free = len(self.fitted), len(self.parameters)
        out = [f"Calibration, mode {self.mode!r}: {n_free} free parameter(s), {n_fit} fitted "
               f"bound(s), {len(self.out_of_sample)} out of sample; {self.draws} draws, seed "
               f"{self.seed}, sampler {self.sampler}",
               f"optimiser: {'converged' if self.success else 'FAILED'} ({self.message})", "",
               "Parameters (profile: the others re-optimised, until the sum of squares rises "
               f"by {PROFILE_RISE:g})", self.parameters.to_string(), "",
               f"Fitted targets (sum of squared scaled residuals {self.sum_of_squares:.3g})",
               self.fitted.to_string(index=False) if n_fit else "  none", "",
               "Out-of-sample targets (not fitted: checks of the model)",
               self.out_of_sample.to_string(index=False) if len(self.out_of_sample) else "  none",
               "",
               "Identifiability: singular values of d(scaled residuals)/d(log parameters): "
               + ", ".join(f"{s:.3g}" for s in self.singular_values)
               + f"; condition number {self.condition_number:.3g}", "",
               "Warnings:" if self.warnings else "Warnings: none"]
        out += [f"  - {w}" for w in self.warnings]
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.to_text()


# ----------------------------------------------------------------------------- choices
def _calibratable(scenario: Scenario) -> list[Driver]:
    """The drivers calibration can move: acting on value, lognormal in the median/sigma form."""
    return [d for d in scenario.drivers.values() if d.acts_on == "value"
            and d.value.kind == "lognormal" and "median" in d.value.spec]


def _median_sigma_hint(driver: Driver) -> str:
    """How to write a p05/p95 lognormal in the median/sigma form that calibration moves."""
    median, sigma = float(driver.value.frozen.median()), float(driver.value.frozen.args[0])
    return (f"drivers.{driver.id}.value is a p05/p95 lognormal; calibration moves the median "
            f"and sigma (the sd of the log): write it as {{ dist = \"lognormal\", median = "
            f"{median:.4g}, sigma = {sigma:.4g} }}, the same distribution")


def default_parameters(scenario: Scenario, mode: CalibrationMode = "levels") -> list[str]:
    """The key paths :func:`calibrate` fits by default.

    ``"levels"``: the median of every lognormal ``{ median, sigma }`` value driver that is not
    named by every use case (a group level; a driver every use case names cannot be told apart
    from them), or of all of them if every one is named by every use case. ``"exact"``: also
    every such driver's sigma.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/japan2030/uncalibrated.toml")
    >>> default_parameters(s)
    ['drivers.value_core.value.median', 'drivers.value_public.value.median', \
'drivers.value_other.value.median']
    >>> len(default_parameters(s, "exact"))
    7
    """
    _check_mode(mode)
    drivers = _calibratable(scenario)
    partial = [d for d in drivers if not all(d.id in u.drivers for u in scenario.use_cases.values())]
    levels = {d.id for d in partial or drivers}
    fields = FIELDS if mode == "exact" else ("median",)
    return [f"drivers.{d.id}.value.{f}" for d in drivers for f in fields
            if f == "sigma" or d.id in levels]


def default_targets(scenario: Scenario, mode: CalibrationMode = "levels") -> list[str]:
    """The target ids :func:`calibrate` fits by default; the others are out of sample.

    ``"exact"``: every target. ``"levels"``: every target except those that add up every
    sector with a use case (economy-wide totals), unless that leaves none.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/japan2030/uncalibrated.toml")
    >>> default_targets(s)
    ['core', 'core_public', 'other']
    """
    _check_mode(mode)
    used = {u.sector for u in scenario.use_cases.values()}
    partial = [t.id for t in scenario.targets.values()
               if not used <= set(scenario.sectors_in(t.groups, t.sectors))]
    return partial if mode == "levels" and partial else list(scenario.targets)


def _check_mode(mode: str) -> None:
    check_choice(mode, CalibrationMode, "calibration mode")


# ----------------------------------------------------------------------------- the problem
class _Free(NamedTuple):
    """A free parameter: its key path, its driver and which of the driver's numbers it sets."""

    path: str
    driver: str
    field: str  # "median" or "sigma"


def _free(path: str, scenario: Scenario) -> _Free:
    parts = path.split(".")
    if len(parts) != 4 or parts[0] != "drivers" or parts[2] != "value" or parts[3] not in FIELDS:
        raise ScenarioError("expected a calibration parameter of the form "
                            "drivers.<id>.value.median or drivers.<id>.value.sigma", path,
                            scenario.file)
    driver = scenario.drivers.get(parts[1])
    if driver is None:
        raise ScenarioError(f"unknown driver {parts[1]!r}{did_you_mean(parts[1], scenario.drivers)}",
                            path, scenario.file)
    if driver not in _calibratable(scenario):
        why = (_median_sigma_hint(driver) if driver.value.kind == "lognormal" else
               f"it is a {driver.value.kind or 'fixed'} value acting on {driver.acts_on}")
        raise ScenarioError("calibration needs a driver acting on value with a lognormal "
                            f"{{ median, sigma }} value; {why}", path, scenario.file)
    return _Free(path, parts[1], parts[3])


class _Slots(NamedTuple):
    """Where the free parameters of one field (median or sigma) go: ``x[position[j]]`` is the log
    of that field of calibrated driver ``driver[j]``."""

    position: np.ndarray
    driver: np.ndarray


class _Bound(NamedTuple):
    """A published bound: a target's low or high at its quantile."""

    target: Target
    bound: str  # "low" or "high"
    quantile: float
    published: float
    fitted: bool


class _Problem:
    """The model reduced to what calibration moves: the scaled residuals of the published bounds
    as a function of ``x``, the logarithms of the free parameters.

    The numbers of the calibrated drivers that are not free stay at their priors (``prior``);
    ``slots`` says, for each field, where its free parameters go.
    """

    def __init__(self, scenario: Scenario, free: list[_Free], bounds: list[_Bound],
                 settings: tuple[int, int, str]) -> None:
        self.drivers = list(dict.fromkeys(p.driver for p in free))
        self.prior = {f: np.array([scenario.drivers[d].value.spec[f] for d in self.drivers], dtype=float)
                      for f in FIELDS}
        self.slots = {f: _Slots(np.array([i for i, p in enumerate(free) if p.field == f], dtype=int),
                                np.array([self.drivers.index(p.driver) for p in free if p.field == f],
                                         dtype=int)) for f in FIELDS}
        self.bounds = bounds
        self.fitted = np.array([b.fitted for b in bounds])
        self.published = np.array([b.published for b in bounds])
        self.tolerance = np.array([b.target.tolerance for b in bounds])
        self.quantiles: dict[str, list[float]] = {}  # by target, in the order of ``bounds``
        for b in bounds:
            self.quantiles.setdefault(b.target.id, []).append(b.quantile)
        self._simulate(scenario, list(dict.fromkeys(b.target for b in bounds)), *settings)

    def _simulate(self, scenario: Scenario, targets: list[Target], draws: int, seed: int,
                  sampler: str) -> None:
        """Simulate once with the calibrated drivers at 1, keeping what the reweighting needs.

        A value driver multiplies the value of every use case that names it and nothing else
        depends on it, so on common random numbers a trial (median, sigma) only reweights these
        draws: use case ``u`` in draw ``d`` is worth ``x[d, u] * prod_k (median_k *
        exp(sigma_k z[d, k]))`` over the calibrated drivers ``k`` it names, ``z[d, k]`` being
        driver k's normal score in draw d (read back from its value under the prior). Use
        cases naming the same calibrated drivers (a ``pattern``) get the same weight, so each
        target keeps one sum per pattern: a trial costs draws x patterns products.
        """
        plan = Plan.build(scenario, draws, seed, sampler)
        rows = [plan.names.index(f"drivers.{d}.value") for d in self.drivers]
        ucs = list(scenario.use_cases.values())
        uses = np.array([[d in u.drivers for d in self.drivers] for u in ucs])  # (U, K)
        patterns, pattern_of = np.unique(uses, axis=0, return_inverse=True)
        self.patterns = patterns.astype(float)  # (P, K)
        into = np.eye(len(patterns))[pattern_of.ravel()]  # (U, P): the pattern of each use case
        self.z = np.empty((len(self.drivers), draws))
        self.sums = {t.id: np.empty((len(patterns), draws)) for t in targets}
        for start, stop in chunks(draws, plan.default_chunk()):
            values = plan.values(start, stop)
            self.z[:, start:stop] = (np.log(values[rows] / self.prior["median"][:, None])
                                     / self.prior["sigma"][:, None])
            values[rows] = 1.0
            out = plan.compute(values, keep_use_cases=True)
            for t in targets:  # each target's estimand, per draw and use case (n, U)
                worth = plan.by_use_case(out, t.estimand, list(scenario.years).index(t.year))
                member = np.isin([u.sector for u in ucs], scenario.sectors_in(t.groups, t.sectors))
                self.sums[t.id][:, start:stop] = (worth[:, member] @ into[member]).T

    def drivers_at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Median and sigma of every calibrated driver at log-parameters ``x``."""
        numbers = {f: prior.copy() for f, prior in self.prior.items()}
        for f, slots in self.slots.items():
            numbers[f][slots.driver] = np.exp(x[slots.position])
        return numbers["median"], numbers["sigma"]

    def achieved(self, x: np.ndarray) -> np.ndarray:
        """The simulated quantile of every bound at log-parameters ``x``."""
        median, sigma = self.drivers_at(x)
        weight = np.exp(self.patterns @ np.log(median))[:, None] * np.exp(
            (self.patterns * sigma) @ self.z)  # (P, draws)
        return np.concatenate([np.quantile(np.einsum("pd,pd->d", self.sums[t], weight), q)
                               for t, q in self.quantiles.items()])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The scaled residuals of the fitted bounds at ``x``."""
        fitted = self.fitted
        return (self.achieved(x)[fitted] - self.published[fitted]) / self.tolerance[fitted]


# ----------------------------------------------------------------------------- identifiability
def _jacobian(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Central differences of ``fun`` at ``x``, one column per parameter."""
    columns = []
    for i in range(len(x)):
        step = np.zeros_like(x)
        step[i] = _STEP
        columns.append((fun(x + step) - fun(x - step)) / (2 * _STEP))
    return np.column_stack(columns)


class _Profile:
    """Profile intervals of the parameters around the optimum ``x`` (log units).

    With parameter ``i`` held at a value, the others are refitted; the interval ends where that
    best fit is :data:`PROFILE_RISE` worse than the optimum's sum of squares ``least``, or at the
    bound where it never is. Each refit starts from the others' values at the nearest value of
    ``i`` already tried, so that refits along a profile stay short.
    """

    def __init__(self, problem: _Problem, x: np.ndarray, box: tuple[np.ndarray, np.ndarray],
                 least: float) -> None:
        self.problem, self.x, self.box, self.least = problem, x, box, least

    def interval(self, i: int, first_step: float) -> tuple[float, float]:
        """Steps out from ``x[i]`` on each side, doubling from ``first_step``, until the rise
        is passed; then :func:`scipy.optimize.brentq` finds the crossing to 1% of its distance
        from ``x[i]``."""
        tried = {float(self.x[i]): self.x[np.arange(len(self.x)) != i]}
        ends = []
        for bound, sign in ((self.box[0][i], -1.0), (self.box[1][i], 1.0)):
            room = abs(bound - self.x[i])
            seen: dict[float, float] = {}  # distance -> excess (brentq asks for its ends again)

            def excess(distance: float, sign: float = sign, seen: dict = seen) -> float:
                if distance not in seen:
                    seen[distance] = self._excess(self.x[i] + sign * distance, i, tried)
                return seen[distance]

            inside, step = 0.0, min(first_step, room)
            while (rise := excess(step)) <= 0 and step < room:
                inside, step = step, min(2 * step, room)
            # rise > 0: the crossing lies between inside and step; else the profile reaches the bound
            ends.append(self.x[i] + sign * (brentq(excess, inside, step, rtol=0.01) if rise > 0
                                            else room))
        return ends[0], ends[1]

    def _excess(self, value: float, i: int, tried: dict[float, np.ndarray]) -> float:
        """Best sum of squares with parameter ``i`` at ``value``, less ``least + PROFILE_RISE``."""
        others = np.arange(len(self.x)) != i
        point = self.x.copy()
        point[i] = value

        def fun(y: np.ndarray) -> np.ndarray:
            point[others] = y
            return self.problem.residuals(point)

        if others.any():
            nearest = tried[min(tried, key=lambda t: abs(t - value))]
            fit = _least_squares(fun, nearest, (self.box[0][others], self.box[1][others]))
            tried[float(value)] = fit.x
            best = 2 * fit.cost
        else:
            r = fun(point[others])
            best = float(r @ r)
        return best - self.least - PROFILE_RISE


def _condition(singular: npt.ArrayLike) -> float:
    """Largest over smallest of ``singular`` (sorted, largest first); ``inf`` if the smallest is 0."""
    values = np.asarray(singular, dtype=float)
    return float(values[0] / values[-1]) if values[-1] > 0 else float("inf")


def _near(value: float, bound: float) -> bool:
    return abs(value - bound) <= NEAR_BOUND * bound


def _warnings(parameters: pd.DataFrame, targets: pd.DataFrame, singular: np.ndarray,
              flattest: np.ndarray) -> list[str]:
    out = []
    for path, p in parameters.iterrows():
        for side in ("low", "high"):
            if _near(p["fitted"], p[side]):
                out.append(f"{path} = {p['fitted']:.4g} is at its {side} bound {p[side]:g}: the "
                           "targets push it out of range")
            elif _near(p[f"profile_{side}"], p[side]):
                out.append(f"{path}: its profile reaches the {side} bound {p[side]:g}: the "
                           f"targets do not bound it on that side")
    condition = _condition(singular)
    if condition > WEAK_CONDITION:
        direction = " ".join(f"{w:+.2f} ln({name})" for name, w in zip(parameters.index, flattest,
                                                                      strict=True) if abs(w) >= 0.1)
        out.append(f"condition number {condition:.3g} > {WEAK_CONDITION:g}: weakly identified; "
                   f"the targets hardly move along {direction}")
    for r in targets[~targets["ok"]].itertuples():
        out.append(f"{r.role.replace('_', '-')} target {r.target} p{100 * r.quantile:g} missed: "
                   f"{r.achieved:.4g} against {r.published:g} (tolerance {r.tolerance:g})")
    return out


# ----------------------------------------------------------------------------- calibrate
def calibrate(scenario: Scenario, *, targets: Sequence[str] | None = None,
              params: Sequence[str] | None = None, mode: CalibrationMode = "levels",
              draws: int | None = None, seed: int | None = None, sampler: SamplerName | None = None,
              start: dict[str, float] | None = None) -> tuple[Scenario, CalibrationReport]:
    """Fit lognormal value drivers so the simulated quantiles match published targets.

    Parameters
    ----------
    scenario
        The scenario with its priors.
    targets
        Target ids to fit; the scenario's other targets are reported out of sample (default:
        :func:`default_targets`).
    params
        Key paths ``drivers.<id>.value.median`` / ``.sigma`` of lognormal value drivers in the
        ``{ median, sigma }`` form (default: :func:`default_parameters`).
    mode : {"levels", "exact"}, default: "levels"
        ``"levels"``: the group levels are free, the spreads are the scenario's priors and the
        economy-wide targets are out of sample. ``"exact"``: every median and spread is free
        and every target is fitted. Sets only the defaults of ``params`` and ``targets``.
    draws, seed, sampler
        The common random numbers used (default: the scenario's settings).
    start
        Starting values by key path (default: the scenario's values).

    Returns
    -------
    (Scenario, CalibrationReport)
        The scenario with the fitted values (rounded to 4 significant digits) and the report.

    See Also
    --------
    default_parameters, default_targets, CalibrationReport

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml").with_overrides(
    ...     {"drivers.realisation.value": {"dist": "lognormal", "median": 1.0, "sigma": 0.2}})
    >>> fitted, report = calibrate(s, draws=2000)
    >>> list(report.parameters.index), report.fitted["target"].tolist()
    (['drivers.realisation.value.median'], ['core', 'core'])
    """
    _check_mode(mode)
    free = [_free(p, scenario) for p in (default_parameters(scenario, mode) if params is None
                                         else params)]
    if not free:
        hints = [_median_sigma_hint(d) for d in scenario.drivers.values()
                 if d.acts_on == "value" and d.value.kind == "lognormal"]
        raise ScenarioError("nothing to calibrate: no driver acting on value has a lognormal "
                            "{ median, sigma } value" + "".join(f"; {h}" for h in hints),
                            "drivers", scenario.file)
    paths = [p.path for p in free]
    if len(set(paths)) < len(paths):
        raise UsageError(f"a calibration parameter is listed twice: {', '.join(paths)}")
    bounds = _bounds(scenario, default_targets(scenario, mode) if targets is None else targets)
    settings = scenario.settings.resolve(draws=draws, seed=seed, sampler=sampler)
    box = (np.log([BOUNDS[p.field][0] for p in free]), np.log([BOUNDS[p.field][1] for p in free]))
    x0 = np.log(_start(scenario, free, start or {}))
    problem = _Problem(scenario, free, bounds, settings)
    fit = _least_squares(problem.residuals, x0, box)
    fitted = np.clip([float(f"{v:.4g}") for v in np.exp(fit.x)], *np.exp(box))
    table = _target_table(problem, problem.achieved(np.log(fitted)))
    singular, flattest, profiles = _identifiability(problem, fit.x, 2 * fit.cost, box)
    parameters = pd.DataFrame({"start": np.exp(x0), "fitted": fitted, "low": np.exp(box[0]),
                               "high": np.exp(box[1]),
                               "at_bound": [_near(v, lo) or _near(v, hi) for v, lo, hi in
                                            zip(fitted, *np.exp(box), strict=True)],
                               "profile_low": profiles[:, 0], "profile_high": profiles[:, 1]},
                              index=pd.Index(paths, name="parameter"))
    warnings = _warnings(parameters, table, singular, flattest)
    residuals = problem.residuals(np.log(fitted))
    report = CalibrationReport(mode, parameters, table, tuple(map(float, singular)),
                               float(residuals @ residuals), tuple(warnings), bool(fit.success),
                               fit.message, *settings)
    return scenario.with_overrides(dict(zip(paths, map(float, fitted), strict=True))), report


def _target_table(problem: _Problem, achieved: np.ndarray) -> pd.DataFrame:
    """One row per published bound, with what was ``achieved``."""
    bounds, published, tolerance = problem.bounds, problem.published, problem.tolerance
    return pd.DataFrame({
        "target": [b.target.id for b in bounds], "bound": [b.bound for b in bounds],
        "quantile": [b.quantile for b in bounds],
        "role": ["fitted" if b.fitted else "out_of_sample" for b in bounds],
        "published": published, "achieved": achieved, "residual": achieved - published,
        "tolerance": tolerance, "ok": np.abs(achieved - published) <= tolerance})


def _identifiability(problem: _Problem, x: np.ndarray, least: float,
                     box: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At the optimum ``x``: the Jacobian's singular values (padded with zeros to one per
    parameter), its flattest direction, and each parameter's profile interval ``(K, 2)``."""
    jacobian = _jacobian(problem.residuals, x)
    _, singular, vt = np.linalg.svd(jacobian)
    singular = np.pad(singular, (0, len(x) - len(singular)))
    # first profile step: the linearised distance (others refitted) to a rise of PROFILE_RISE
    spread = np.sqrt(PROFILE_RISE * np.diag(np.linalg.pinv(jacobian.T @ jacobian)))
    profile = _Profile(problem, x, box, least)
    profiles = np.exp([profile.interval(i, float(np.clip(1.5 * spread[i], _STEP, 1.0)))
                       for i in range(len(x))])
    return singular, vt[-1], profiles


def _least_squares(fun: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
                   box: tuple[np.ndarray, np.ndarray]) -> OptimizeResult:
    """:func:`scipy.optimize.least_squares` on residuals ``fun`` of log-parameters, within ``box``.

    The Jacobian is :func:`_jacobian`'s: an absolute step in log units, because scipy's
    ``diff_step`` is relative to ``x`` and vanishes at ``x = 0`` (a parameter equal to 1).
    Unbounded first: with bounds, the trust-region steps are scaled by the distance to them,
    which stalls on these piecewise-linear (quantile) residuals far from the optimum. Only if
    that optimum leaves the box, again within the bounds from the nearest point inside.
    """
    def jac(x: np.ndarray) -> np.ndarray:
        return _jacobian(fun, x)

    with np.errstate(over="ignore", invalid="ignore"):  # trial steps far out are rejected
        fit = least_squares(fun, x0, jac=jac, method="trf")
    if np.all((box[0] <= fit.x) & (fit.x <= box[1])):
        return fit
    return least_squares(fun, np.clip(fit.x, *box), jac=jac, bounds=box, method="trf")


def _bounds(scenario: Scenario, fit: Sequence[str]) -> list[_Bound]:
    """Every published bound of the scenario, ``fitted`` for the targets in ``fit``."""
    for t in fit:
        if t not in scenario.targets:
            raise UsageError(f"unknown target {t!r}{did_you_mean(t, scenario.targets)}; expected "
                             f"one of {', '.join(scenario.targets) or '(none: the scenario has no targets)'}")
        if scenario.targets[t].tolerance <= 0:
            raise ScenarioError("expected tolerance > 0 for a fitted target (residuals are "
                                "measured in tolerances)", f"targets.{t}.tolerance", scenario.file)
    if not fit:
        raise ScenarioError("nothing to calibrate against: no target to fit", "targets",
                            scenario.file)
    return [_Bound(t, k, q, v, t.id in fit) for t in scenario.targets.values()
            for k, q, v in t.bounds()]


def _start(scenario: Scenario, free: list[_Free], start: dict[str, float]) -> list[float]:
    """Starting value of each free parameter: ``start``'s or the scenario's."""
    paths = [p.path for p in free]
    for path, value in start.items():
        if path not in paths:
            raise UsageError(f"start value for {path!r}, which is not a calibrated parameter"
                             f"{did_you_mean(path, paths)}; expected one of {', '.join(paths)}")
        field = path.rsplit(".", 1)[1]
        low, high = BOUNDS[field]
        if not low <= value <= high:
            raise UsageError(f"start value {value!r} for {path!r} is outside [{low:g}, {high:g}]")
    return [start.get(p.path, scenario.drivers[p.driver].value.spec[p.field]) for p in free]
