"""Global sensitivity: which uncertain inputs drive the range of an output.

``method="sobol"``: first-order and total Sobol' indices of named *groups* of parameters
(per parameter, use case, sector or driver), estimated with SALib's Saltelli design and Jansen
estimators [1]_ [2]_, with bootstrap confidence intervals. The model is evaluated on the whole
design as numpy arrays, chunk by chunk.

``method="tornado"``: one-at-a-time swings: each group moves from its 5th to its 95th
percentile while every other parameter stays at its median.

Sobol' indices assume independent inputs: ``[[correlations]]`` between parameters are not
imposed in the design (shared drivers are inputs of their own and need no such assumption).

References
----------
.. [1] Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output.
       Design and estimator for the total sensitivity index. *Comput. Phys. Commun.* 181,
       259-270.
.. [2] Herman, J. and Usher, W. (2017). SALib: an open-source Python library for sensitivity
       analysis. *J. Open Source Softw.* 2(9), 97.
.. [3] Ishigami, T. and Homma, T. (1990). An importance quantification technique in
       uncertainty analysis for computer models. *ISUMA '90*, 398-403.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError, check_choice
from .options import GroupBy, SensitivityMethod, TargetMetric, positional_deprecated
from .plan import Plan, chunks
from .results import year_in_horizon
from .sampled import output_sectors
from .sampling import REACH_HIGH, REACH_LOW
from .scenario import Scenario, load_scenario

__all__ = ["MIN_SOBOL_N", "groups_of", "sensitivity", "sobol_indices", "tornado_swings"]

MIN_SOBOL_N = 64
"""Smallest Sobol' base sample accepted. On the Ishigami function [3]_ (20 seeds) the largest
error of a first-order index has median 0.10 at n = 64, 0.35 at n = 8 and 2.4 at n = 1."""


def _check_base_sample(n: int) -> None:
    if n < MIN_SOBOL_N or n & (n - 1):
        lower = max(MIN_SOBOL_N, 1 << max(int(n).bit_length() - 1, 0))
        hint = f"{lower}" if lower >= n else f"{lower} or {2 * lower}"
        raise UsageError(f"Sobol' indices need a base sample that is a power of two >= "
                         f"{MIN_SOBOL_N}, not {n} (fewer draws give meaningless indices); use "
                         f"{hint}")


def sobol_indices(func: Callable[[np.ndarray], np.ndarray], names: Sequence[str],
                  groups: Sequence[str] | None = None, n: int = 1024, seed: int = 0,
                  conf_level: float = 0.95) -> pd.DataFrame:
    """First-order and total Sobol' indices of a vectorised function of uniform inputs.

    Parameters
    ----------
    func
        Maps uniform points of shape ``(rows, len(names))`` on (0, 1) to outputs ``(rows,)``.
    names
        Input names.
    groups
        Group label of each input (default: each input alone).
    n
        Base sample size, a power of two of at least :data:`MIN_SOBOL_N` (the scrambled
        Sobol' design is balanced only for powers of two); the design has ``n * (G + 2)`` rows.
    seed
        Seed of the scrambled Sobol' design and of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Indexed by group; columns ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (half-widths of the
        ``conf_level`` bootstrap intervals), sorted by ``ST``.

    Examples
    --------
    >>> f = lambda u: 4 * u[:, 0] + 1 * u[:, 1]          # variance shares 16/17 and 1/17
    >>> s = sobol_indices(f, ["a", "b"], n=4096, seed=1)
    >>> [round(float(x), 2) for x in s["S1"]]
    [0.94, 0.06]
    """
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    _check_base_sample(n)
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    if groups is not None:
        problem["groups"] = list(groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SALib's notes on sample sizes
        design = sample.sample(problem, n, calc_second_order=False, seed=seed)
        y = np.asarray(func(np.clip(design, REACH_LOW, REACH_HIGH)), dtype=float)
        result = analyze.analyze(problem, y, calc_second_order=False, conf_level=conf_level,
                                 seed=seed + 1)  # SALib ignores a seed of 0 (unseeded bootstrap)
    labels = list(dict.fromkeys(groups)) if groups is not None else list(names)
    table = pd.DataFrame({k: np.asarray(result[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")},
                         index=pd.Index(labels, name="group"))
    return table.sort_values("ST", ascending=False)


def groups_of(scenario: Scenario, names: Sequence[str], by: GroupBy) -> list[str]:
    """Group label of each parameter name when grouping ``by`` parameter, use case, sector or
    driver (drivers always form groups of their own, labelled ``driver:<id>``).

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> groups_of(s, ["use_cases.dynamic_pricing.potential", "drivers.talent.value"], "sector")
    ['retail', 'driver:talent']
    """
    check_choice(by, GroupBy, "grouping")
    out = []
    for name in names:
        kind, key = name.split(".")[:2]
        if kind == "drivers":
            out.append(f"driver:{key}")
        elif by == "parameter":
            out.append(name)
        elif by == "use_case":
            out.append(key)
        elif by == "sector":
            out.append(scenario.use_cases[key].sector)
        else:
            out.append("use-case parameters")
    return out


class _Output:
    """The scalar output of the model for a matrix of uniform points of the uncertain inputs."""

    def __init__(self, scenario: Scenario, output: str, year: int | None,
                 metric: TargetMetric) -> None:
        self.plan = Plan.build(scenario, 1, 0, "random")
        year = scenario.meta.target_year if year is None else year
        self.columns = [list(scenario.sectors).index(s) for s in output_sectors(scenario, output)]
        upto = list(scenario.years).index(year) + 1
        self.years = slice(upto - 1, upto) if metric == "annual" else slice(0, upto)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        plan, out = self.plan, np.empty(len(u))
        for start, stop in chunks(len(u), plan.default_chunk()):
            value = plan.compute(plan.values_at(u[start:stop].T))["value"]
            out[start:stop] = value[:, self.columns, self.years].sum(axis=(1, 2))
        return out


def tornado_swings(func: Callable[[np.ndarray], np.ndarray], names: Sequence[str],
                   groups: Sequence[str] | None = None, low: float = 0.05,
                   high: float = 0.95) -> pd.DataFrame:
    """One-at-a-time swings of ``func`` (see :func:`sobol_indices` for its signature).

    Each group's inputs move together to their ``low`` and then ``high`` quantile while all
    other inputs stay at their median.

    Returns
    -------
    pandas.DataFrame
        Indexed by group; columns ``low``, ``high`` (outputs), ``base`` (all at median) and
        ``swing`` = ``|high - low|``, sorted by swing.

    Examples
    --------
    >>> t = tornado_swings(lambda u: 10 * u[:, 0] + u[:, 1], ["a", "b"])
    >>> t["swing"].round(6).tolist()
    [9.0, 0.9]
    """
    groups = list(groups) if groups is not None else list(names)
    labels = list(dict.fromkeys(groups))
    member = np.array([[g == label for g in groups] for label in labels])  # (G, P)
    u = np.full((2 * len(labels) + 1, len(names)), 0.5)
    u[0:-1:2][member] = low
    u[1:-1:2][member] = high
    y = np.asarray(func(u), dtype=float)
    table = pd.DataFrame({"low": y[0:-1:2], "high": y[1:-1:2], "base": y[-1]},
                         index=pd.Index(labels, name="group"))
    table["swing"] = (table["high"] - table["low"]).abs()
    return table.sort_values("swing", ascending=False)


@positional_deprecated("year", "method", "by", "draws", "seed", "metric")
def sensitivity(scenario: Scenario | str | Path, output: str = "total", *, year: int | None = None,
                metric: TargetMetric = "annual", method: SensitivityMethod = "sobol",
                by: GroupBy = "sector", draws: int = 1024, seed: int = 0) -> pd.DataFrame:
    """Which groups of uncertain inputs drive an output's uncertainty.

    Parameters
    ----------
    scenario : Scenario or path
        A Scenario or the path of a scenario file.
    output : str, default: "total"
        ``"total"``, a sector group, a sector id or a target id.
    year : int, optional
        The output's year (default: the target year).
    metric : {"annual", "cumulative"}, default: "annual"
        The output's value in ``year``, or its sum up to ``year``.
    method : {"sobol", "tornado"}, default: "sobol"
        Variance-based indices with confidence intervals, or one-at-a-time swings.
    by : {"parameter", "use_case", "sector", "driver"}, default: "sector"
        How the inputs are grouped.
    draws : int, default: 1024
        Sobol' base sample size ``n`` (a power of two, at least :data:`MIN_SOBOL_N`);
        ``n * (groups + 2)`` model runs.
    seed : int, default: 0
        Seed of the design and of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Ranked table (see :func:`sobol_indices` and :func:`tornado_swings`) with the output in
        ``attrs``.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.sensitivity("scenarios/examples/minimal.toml", by="driver", draws=256)
    >>> list(s.columns)
    ['S1', 'S1_conf', 'ST', 'ST_conf']
    """
    check_choice(metric, TargetMetric, "metric")
    check_choice(method, SensitivityMethod, "method")
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    year = year_in_horizon(scenario, year)
    func = _Output(scenario, output, year, metric)
    names = func.plan.uncertain
    groups = groups_of(scenario, names, by)
    if method == "sobol":
        table = sobol_indices(func, names, groups, n=draws, seed=seed)
    else:
        table = tornado_swings(func, names, groups)
    table.attrs.update({"output": output, "year": year,
                        "metric": metric, "method": method, "by": by, "unit": scenario.meta.unit})
    return table
