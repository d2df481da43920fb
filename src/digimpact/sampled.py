"""What the kept draws tell without further runs: each draw's inputs against an output.

Results simulated with ``keep_inputs=True`` hold every draw's sampled parameters (variable
``inputs``, dims ``draw`` and ``parameter``). From them, at no cost in model runs:

- :func:`regression_indices`: Spearman rank correlations and standardised regression
  coefficients (SRC) of each input with an output [1]_;
- :func:`draws_table`: the inputs and an output as a table, for a scatter plot, a regression of
  your own or scenario discovery (:mod:`digimpact.discovery`).

For a model linear in independent inputs, ``SRC_i**2`` is input ``i``'s share of the output's
variance and the ``SRC_i**2`` add up to the ``R2`` of the regression; a small ``R2`` says the
model is far from linear there, and the variance-based :func:`digimpact.sensitivity` is the
one to read.

References
----------
.. [1] Saltelli, A. et al. (2008). *Global Sensitivity Analysis. The Primer*, ch. 1.2.5.
       Wiley. doi:10.1002/9780470725184
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .errors import UsageError
from .options import MetricName

if TYPE_CHECKING:
    from .results import Results
    from .scenario import Scenario

__all__ = ["draws_table", "input_sensitivity", "kept_inputs", "output_sectors", "regression_indices"]


def output_sectors(scenario: Scenario, output: str) -> list[str]:
    """Sector ids that ``output`` adds up: ``"total"``, a sector group, a sector or a target id.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> output_sectors(s, "core")
    ['retail', 'finance']
    """
    if output == "total":
        return list(scenario.sectors)
    if output in scenario.targets:
        t = scenario.targets[output]
        return scenario.sectors_in(t.groups, t.sectors)
    if output in scenario.groups or output in scenario.sectors:
        return scenario.sectors_in((output,), (output,))
    raise UsageError(f"unknown output {output!r}; expected 'total', a group, a sector or a target id")


def kept_inputs(results: Results) -> pd.DataFrame:
    """Each draw's sampled inputs, one column per uncertain parameter (by stream name).

    Raises
    ------
    UsageError
        If the results were simulated without ``keep_inputs=True``.
    """
    if "inputs" not in results.dataset:
        raise UsageError("these results do not keep the draws' inputs: simulate with "
                         "keep_inputs=True (CLI: --keep-inputs)")
    da = results.dataset["inputs"].transpose("draw", "parameter")
    return pd.DataFrame(np.asarray(da.values), index=pd.Index(da["draw"].values, name="draw"),
                        columns=pd.Index(da["parameter"].values, name="parameter"))


def draws_table(results: Results, output: str = "total", year: int | None = None,
                metric: MetricName = "annual") -> tuple[pd.DataFrame, np.ndarray]:
    """The kept inputs ``(draws, parameters)`` and ``output``'s value in each draw.

    ``output`` is ``"total"``, a group, a sector or a target id (a target's own year and
    estimand apply unless ``year`` is given); ``metric`` as in :meth:`Results.metric`.
    """
    scn = results.scenario
    if output in scn.targets and year is None:
        year, metric = scn.targets[output].year, scn.targets[output].estimand
    values = results.metric(metric, sectors=output_sectors(scn, output), year=year)
    return kept_inputs(results), np.asarray(values.values, dtype=float)


def regression_indices(inputs: pd.DataFrame, output: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Spearman rank correlation and standardised regression coefficient of each input.

    Parameters
    ----------
    inputs
        One row per draw, one column per input.
    output
        The output in each draw.

    Returns
    -------
    pandas.DataFrame
        Indexed by input; columns ``spearman`` and ``src`` (the least-squares coefficients of
        the output on the inputs, both scaled to unit standard deviation), sorted by ``|src|``.
        ``attrs["r2"]`` is the regression's coefficient of determination. An input that does
        not vary gets ``NaN``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame(rng.uniform(size=(1000, 2)), columns=["a", "b"])
    >>> t = regression_indices(x, 3 * x["a"] - x["b"])  # SRC_i = a_i sd(x_i) / sd(y)
    >>> t["src"].round(3).tolist(), round(t.attrs["r2"], 6)
    ([0.933, -0.312], 1.0)
    """
    x = np.asarray(inputs, dtype=float)
    y = np.asarray(output, dtype=float)
    if x.ndim != 2 or len(y) != len(x) or len(x) < 3:
        raise UsageError(f"need inputs (draws, inputs) and one output per draw, at least 3 draws; "
                         f"got {x.shape} and {y.shape}")
    sd = x.std(axis=0)
    varies = sd > 0
    if not y.std() > 0:
        raise UsageError("the output does not vary across the draws")
    z, zy = _standardised(x[:, varies]), _standardised(y)
    src = np.full(x.shape[1], np.nan)
    # least squares through the normal equations: the (inputs x inputs) correlation matrix is
    # small, and forming it is ten times faster than a QR or SVD of the (draws x inputs) matrix
    src[varies] = np.linalg.lstsq(z.T @ z, z.T @ zy, rcond=None)[0]
    rho = np.full(x.shape[1], np.nan)
    ranks = stats.rankdata(np.ascontiguousarray(x[:, varies].T), axis=1).T  # sorts contiguous rows
    rho[varies] = _standardised(ranks).T @ _standardised(stats.rankdata(y)) / len(y)  # Pearson's
    table = pd.DataFrame({"spearman": rho, "src": src}, index=pd.Index(inputs.columns, name="input"))
    table.attrs["r2"] = float(1.0 - np.mean((zy - z @ src[varies]) ** 2))
    return table.sort_values("src", key=np.abs, ascending=False, na_position="last")


def _standardised(a: np.ndarray) -> np.ndarray:
    """``a`` centred and scaled to unit (population) standard deviation along axis 0."""
    return (a - a.mean(axis=0)) / a.std(axis=0)


def input_sensitivity(results: Results, output: str = "total", year: int | None = None,
                      metric: MetricName = "annual") -> pd.DataFrame:
    """:func:`regression_indices` of ``output`` on the draws kept with ``keep_inputs=True``.

    Cheap (no model runs) and valid for correlated inputs as sampled; it measures linear
    (``src``) and monotone (``spearman``) association only.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=2000, seed=1,
    ...                        keep_inputs=True)
    >>> t = input_sensitivity(r, "core")
    >>> t.index[0], t.attrs["r2"] > 0.9
    ('drivers.realisation.value', True)
    """
    inputs, y = draws_table(results, output, year, metric)
    table = regression_indices(inputs, y)
    table.attrs.update({"output": output, "year": year or results.scenario.meta.target_year,
                        "metric": metric, "draws": len(y)})
    return table
