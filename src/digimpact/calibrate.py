"""Calibration: fit value-driver levels and spreads so simulated quantiles hit the targets.

The fitted parameters are the ``median`` and ``sigma`` of lognormal drivers that act on
value (``{ dist = "lognormal", median = ..., sigma = ... }``): a level multiplier per group of
use cases and the spread of shared factors, which sets the correlation across sectors. A
value driver multiplies the values of the use cases naming it, so with common random numbers
the model is simulated once, with the calibrated drivers at 1, and every trial of the
optimiser is a cheap reweighting of the same draws by ``median * exp(sigma * z)``, ``z``
being each driver's normal score. The optimiser is :func:`scipy.optimize.least_squares` on
the residuals (simulated - published quantile) / tolerance.

References
----------
.. [1] Kennedy, M. C. and O'Hagan, A. (2001). Bayesian calibration of computer models.
       *J. R. Stat. Soc. B* 63(3), 425-464 (for the general setting; this is the frequentist,
       quantile-matching special case).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .errors import ScenarioError
from .plan import Plan, chunks
from .scenario import Scenario, Target

__all__ = ["CalibrationReport", "calibrate", "default_parameters"]


@dataclass(frozen=True)
class CalibrationReport:
    """What :func:`calibrate` did: fitted parameters and each target's residual."""

    parameters: pd.DataFrame
    targets: pd.DataFrame
    success: bool
    message: str
    draws: int
    seed: int
    sampler: str

    def __repr__(self) -> str:
        return (f"CalibrationReport(success={self.success}, draws={self.draws}, seed={self.seed},"
                f" sampler={self.sampler!r})\n{self.parameters.to_string()}\n"
                f"{self.targets.to_string(index=False)}")


def _driver_of(path: str, scenario: Scenario) -> tuple[str, str]:
    parts = path.split(".")
    if len(parts) != 4 or parts[0] != "drivers" or parts[2] != "value" or parts[3] not in (
            "median", "sigma"):
        raise ScenarioError("expected a calibration parameter of the form "
                            "drivers.<id>.value.median or drivers.<id>.value.sigma", path,
                            scenario.file)
    driver = scenario.drivers.get(parts[1])
    if driver is None or driver.acts_on != "value" or driver.value.kind != "lognormal" \
            or "median" not in driver.value.spec:
        raise ScenarioError("calibration needs a driver acting on value with a lognormal "
                            "{ median, sigma } value", path, scenario.file)
    return parts[1], parts[3]


def default_parameters(scenario: Scenario) -> list[str]:
    """Median and sigma of every lognormal value driver; sigma only for a driver that every
    use case names (its level cannot be told apart from the others')."""
    out = []
    for d in scenario.drivers.values():
        if d.acts_on != "value" or d.value.kind != "lognormal" or "median" not in d.value.spec:
            continue
        everywhere = all(d.id in u.drivers for u in scenario.use_cases.values())
        out += [f"drivers.{d.id}.value.sigma"] if everywhere else [
            f"drivers.{d.id}.value.median", f"drivers.{d.id}.value.sigma"]
    return out


class _Problem:
    """Use-case values with the calibrated drivers at 1, and those drivers' normal scores."""

    def __init__(self, scenario: Scenario, drivers: list[str], targets: list[Target],
                 draws: int, seed: int, sampler: str) -> None:
        plan = Plan.build(scenario, draws, seed, sampler)
        rows = [plan.names.index(f"drivers.{d}.value") for d in drivers]
        years = list(scenario.years)
        keys = sorted({(t.year, t.estimand) for t in targets})
        self.x = {k: np.empty((draws, plan.n_use_cases)) for k in keys}
        self.z = np.empty((draws, len(drivers)))
        for start, stop in chunks(draws, plan.default_chunk()):
            values = plan.values(start, stop)
            for j, (d, r) in enumerate(zip(drivers, rows, strict=True)):
                spec = scenario.drivers[d].value.spec
                self.z[start:stop, j] = np.log(values[r] / spec["median"]) / spec["sigma"]
            values[rows] = 1.0
            out = plan.compute(values, keep_use_cases=True)
            for (year, estimand), x in self.x.items():
                x[start:stop] = plan.by_use_case(out, estimand, years.index(year))
        ucs = list(scenario.use_cases.values())
        self.uses = np.array([[d in u.drivers for d in drivers] for u in ucs], dtype=float)  # (U, K)
        self.members = {t.id: np.array([u.sector in scenario.sectors_in(t.groups, t.sectors)
                                        for u in ucs]) for t in targets}

    def values(self, target: Target, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        log_factor = np.log(median) + sigma * self.z  # (draws, K)
        weight = np.exp(log_factor @ self.uses[self.members[target.id]].T)  # (draws, U_t)
        return (self.x[(target.year, target.estimand)][:, self.members[target.id]] * weight).sum(1)


def calibrate(scenario: Scenario, targets: Sequence[str] | None = None,
              params: Sequence[str] | None = None, draws: int | None = None,
              seed: int | None = None, sampler: str | None = None,
              start: dict[str, float] | None = None) -> tuple[Scenario, CalibrationReport]:
    """Fit lognormal value drivers so the simulated quantiles match the published targets.

    Parameters
    ----------
    scenario
        The scenario with its priors.
    targets
        Target ids to fit (default: all of the scenario's).
    params
        Key paths ``drivers.<id>.value.median`` / ``.sigma`` (default:
        :func:`default_parameters`).
    draws, seed, sampler
        The common random numbers used (default: the scenario's settings).
    start
        Starting values by key path (default: the scenario's current values).

    Returns
    -------
    (Scenario, CalibrationReport)
        The scenario with the fitted values (rounded to 4 significant digits) and the report.

    Examples
    --------
    >>> import digimpact
    >>> from digimpact.calibrate import calibrate
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml").with_overrides(
    ...     {"drivers.realisation.value": {"dist": "lognormal", "median": 1.0, "sigma": 0.2}})
    >>> fitted, report = calibrate(s, params=["drivers.realisation.value.median"], draws=2000)
    >>> bool(report.success)
    True
    """
    params = list(params) if params is not None else default_parameters(scenario)
    if not params:
        raise ScenarioError("nothing to calibrate: no lognormal value drivers", "drivers",
                            scenario.file)
    chosen = [scenario.targets[t] for t in (targets or scenario.targets)] if scenario.targets else []
    if not chosen:
        raise ScenarioError("nothing to calibrate against: the scenario has no targets",
                            "targets", scenario.file)
    pairs = [_driver_of(p, scenario) for p in params]
    drivers = list(dict.fromkeys(d for d, _ in pairs))
    draws = scenario.settings.draws if draws is None else draws
    seed = scenario.settings.seed if seed is None else seed
    sampler = scenario.settings.sampler if sampler is None else sampler
    problem = _Problem(scenario, drivers, chosen, draws, seed, sampler)
    base = {d: (scenario.drivers[d].value.spec["median"], scenario.drivers[d].value.spec["sigma"])
            for d in drivers}
    start = start or {}
    x0 = np.array([np.log(start.get(p, base[d][0 if k == "median" else 1])) for p, (d, k) in
                   zip(params, pairs, strict=True)])

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        median = np.array([base[d][0] for d in drivers], dtype=float)
        sigma = np.array([base[d][1] for d in drivers], dtype=float)
        for value, (d, k) in zip(np.exp(x), pairs, strict=True):
            (median if k == "median" else sigma)[drivers.index(d)] = value
        return median, sigma

    bounds = [(t, q, v) for t in chosen for _, q, v in t.bounds()]

    def residuals(x: np.ndarray) -> np.ndarray:
        median, sigma = unpack(x)
        cache = {t.id: problem.values(t, median, sigma) for t in chosen}
        return np.array([(np.quantile(cache[t.id], q) - v) / t.tolerance for t, q, v in bounds])

    fit = least_squares(residuals, x0, method="trf", diff_step=1e-3, x_scale=1.0)
    fitted = {p: float(f"{v:.4g}") for p, v in zip(params, np.exp(fit.x), strict=True)}
    median, sigma = unpack(np.log(np.array(list(fitted.values()))))
    rows = []
    for t, q, v in bounds:
        achieved = float(np.quantile(problem.values(t, median, sigma), q))
        rows.append({"target": t.id, "quantile": q, "published": v, "achieved": achieved,
                     "residual": achieved - v, "tolerance": t.tolerance,
                     "ok": abs(achieved - v) <= t.tolerance})
    param_table = pd.DataFrame({"start": np.exp(x0), "fitted": list(fitted.values())},
                               index=pd.Index(params, name="parameter"))
    report = CalibrationReport(param_table, pd.DataFrame(rows), bool(fit.success), fit.message,
                               draws, seed, sampler)
    return scenario.with_overrides(fitted), report
