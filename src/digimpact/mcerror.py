"""Monte Carlo error of simulated quantiles: intervals, draws needed, runs to a precision.

Random and Latin hypercube draws
    A distribution-free interval from order statistics [1]_. Of ``n`` independent draws,
    the number ``Y`` at or below the true ``q``-quantile ``x_q`` is binomial ``(n, q)``, so
    ``x_q`` lies in ``[x_(l), x_(u)]`` (1-based order statistics) with probability
    ``P(l <= Y <= u - 1)``. :func:`order_statistic_ranks` takes ``l - 1`` and ``u - 1`` from
    the binomial quantiles at ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``, which gives
    at least the stated coverage whatever the distribution of the values. A Latin hypercube
    estimates a quantile with a variance at most ``n / (n - 1)`` times that of independent
    draws [2]_, so the interval is (very nearly) conservative for it.
Sobol' points
    Order statistics of a low-discrepancy sequence are not independent, so the interval
    comes from randomised replicates [3]_: ``R`` (:data:`SOBOL_REPLICATES`) independently
    scrambled Sobol' designs of ``n // R`` points, their seeds derived from the run's seed.
    The spread of the ``R`` replicate quantiles gives the standard error of an ``n``-point
    estimate, ``s / sqrt(R)`` (the Monte Carlo rate, conservative for a scrambled net), and
    the interval is the run's estimate ``+- t(R - 1) s / sqrt(R)``. It costs one extra run of
    ``n`` draws, done once per :class:`~digimpact.Results`.

In both cases the half-width shrinks as ``1 / sqrt(n)`` (for order statistics, about
``z sqrt(q (1 - q) / n) / f(x_q)``), which :func:`draws_needed` uses to extrapolate.

References
----------
.. [1] David, H. A. and Nagaraja, H. N. (2003). *Order Statistics*, 3rd ed., section 7.1.
       Wiley. doi:10.1002/0471722162
.. [2] Owen, A. B. (1997). Monte Carlo variance of scrambled net quadrature / Latin
       hypercube sampling: a central limit theorem. *Annals of Statistics* 25, 1541-1562
       (LHS variance <= n / (n - 1) times that of Monte Carlo). doi:10.1214/aos/1031594731
.. [3] L'Ecuyer, P. and Lemieux, C. (2002). Recent advances in randomized quasi-Monte Carlo
       methods. In *Modeling Uncertainty*, 419-474. doi:10.1007/0-306-48102-2_20
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats

from .errors import UsageError
from .options import OutputsName, SamplerName

if TYPE_CHECKING:
    from .results import Results
    from .scenario import Scenario

__all__ = ["COVERAGE", "SOBOL_REPLICATES", "Intervals", "bounded_draws", "draws_needed",
           "intervals", "order_statistic_ranks", "paired_intervals", "quantile_intervals",
           "run_until_precision", "running_intervals", "sobol_replicates", "target_half_widths"]

COVERAGE = 0.95
"""Default coverage of the intervals."""
SOBOL_REPLICATES = 16
"""Independently scrambled Sobol' designs behind a Sobol' run's intervals."""

Select = Callable[["Results"], np.ndarray]
"""One value per draw from results, e.g. ``lambda r: r.metric("annual").values``."""


class Intervals(NamedTuple):
    """Quantile estimates with the bounds of their Monte Carlo intervals (arrays alike)."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def half_width(self) -> np.ndarray:
        """``(high - low) / 2``; infinite where the interval is unbounded."""
        return (self.high - self.low) / 2


def _check_coverage(coverage: float) -> float:
    if not 0 < coverage < 1:
        raise UsageError(f"coverage must be between 0 and 1 (e.g. 0.95), got {coverage!r}")
    return float(coverage)


def order_statistic_ranks(n: int, q: float | Sequence[float] | np.ndarray, *,
                          coverage: float = COVERAGE) -> tuple[np.ndarray, np.ndarray]:
    """0-based ranks ``(l - 1, u - 1)`` of the order-statistic interval of the ``q``-quantile.

    ``-1`` for ``l - 1`` means no lower bound, ``n`` for ``u - 1`` no upper bound (too few
    draws for the coverage: see :func:`bounded_draws`).

    Examples
    --------
    The classic 95% interval for the median of 100 draws is ``[x_(40), x_(61)]``:

    >>> lo, hi = order_statistic_ranks(100, 0.5)
    >>> int(lo), int(hi)
    (39, 60)
    """
    alpha = 1 - _check_coverage(coverage)
    q = np.asarray(q, dtype=float)
    low = stats.binom.ppf(alpha / 2, n, q).astype(np.int64) - 1  # P(Y <= l - 1) < alpha / 2
    high = stats.binom.ppf(1 - alpha / 2, n, q).astype(np.int64)  # P(Y >= u) <= alpha / 2
    return low, high


def bounded_draws(q: float | Sequence[float] | np.ndarray, *, coverage: float = COVERAGE) -> int:
    """The fewest draws whose order-statistic intervals of every ``q`` are bounded.

    Both ends need ``P(Y = 0) = (1 - q)^n`` and ``P(Y = n) = q^n`` at most ``(1 - coverage) / 2``.

    Examples
    --------
    >>> bounded_draws([0.05, 0.95])  # 0.95**72 = 0.0249
    72
    """
    alpha = 1 - _check_coverage(coverage)
    worst = float(np.max(np.maximum(q, np.subtract(1, q))))
    return math.ceil(math.log(alpha / 2) / math.log(worst))


def quantile_intervals(values: np.ndarray, quantiles: Sequence[float], *,
                       coverage: float = COVERAGE) -> Intervals:
    """Quantiles of independent draws ``values`` (1-D) with their order-statistic intervals.

    The estimate is :func:`numpy.quantile` (linear interpolation), as in
    :meth:`Results.summary <digimpact.Results.summary>`; unbounded ends are ``-inf`` / ``inf``.

    Examples
    --------
    >>> x = np.arange(1.0, 101.0)  # the values 1..100
    >>> iv = quantile_intervals(x, [0.5])
    >>> float(iv.estimate[0]), float(iv.low[0]), float(iv.high[0])
    (50.5, 40.0, 61.0)
    """
    values = np.sort(np.asarray(values, dtype=float).ravel())
    n = values.size
    low, high = order_statistic_ranks(n, quantiles, coverage=coverage)
    padded = np.concatenate([[-np.inf], values, [np.inf]])  # rank -1 -> -inf, rank n -> inf
    return Intervals(np.quantile(values, quantiles), padded[low + 1], padded[high + 1])


def draws_needed(n: int, half_width: float | np.ndarray, precision: float | np.ndarray) -> np.ndarray:
    """Draws for a half-width of ``precision``, from ``half_width`` at ``n`` draws.

    The half-width scales as ``1 / sqrt(n)``, so ``n (half_width / precision)^2``, rounded
    up; an extrapolation, good to a few per cent once ``n`` is in the thousands. ``inf``
    where the half-width is infinite or the precision zero.

    Examples
    --------
    >>> draws_needed(2000, 0.6, [0.3, 0.6, 1.2]).tolist()
    [8000.0, 2000.0, 500.0]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.ceil(n * (np.asarray(half_width, float) / np.asarray(precision, float)) ** 2 - 1e-9)


def running_intervals(values: np.ndarray, quantiles: Sequence[float], sizes: npt.ArrayLike, *,
                      coverage: float = COVERAGE) -> Intervals:
    """Quantiles of the first ``m`` draws for each ``m`` of ``sizes``, with intervals.

    Arrays of shape ``(len(sizes), len(quantiles))``. The order-statistic interval of each
    prefix, whatever the sampler (for Latin hypercube and Sobol' draws the prefix is not a
    full design, and the band is only indicative).

    Examples
    --------
    >>> iv = running_intervals(np.arange(1.0, 101.0), [0.5], [10, 100])
    >>> iv.estimate[:, 0].tolist()
    [5.5, 50.5]
    """
    parts = [quantile_intervals(values[:m], quantiles, coverage=coverage)
             for m in np.asarray(sizes, dtype=int)]
    return Intervals(*(np.stack(arrays) for arrays in zip(*parts, strict=True)))


# ----------------------------------------------------------------------------- from results
_REPLICATES: weakref.WeakKeyDictionary[Results, list[Results]] = weakref.WeakKeyDictionary()


def _replicate_seed(seed: int, r: int) -> int:
    from .sampling import stream

    return int(stream(seed, "mcerror.sobol_replicate", r).generate_state(1, np.uint64)[0] >> 1)


def sobol_replicates(results: Results) -> list[Results]:
    """:data:`SOBOL_REPLICATES` Sobol' runs of ``draws // R`` points each, independently
    scrambled (seeds derived from the run's seed), made once per ``results``."""
    if results not in _REPLICATES:
        from .engine import simulate

        attrs = results.dataset.attrs
        size = int(attrs["draws"]) // SOBOL_REPLICATES
        if size < 2:
            raise UsageError(f"Monte Carlo intervals of Sobol' points need at least "
                             f"{2 * SOBOL_REPLICATES} draws ({SOBOL_REPLICATES} replicates of 2)")
        outputs: OutputsName = "target_year" if "total" in results.dataset else "full"
        _REPLICATES[results] = [
            simulate(results.scenario, draws=size, seed=_replicate_seed(int(attrs["seed"]), r),
                     sampler="sobol", outputs=outputs, progress=False)
            for r in range(SOBOL_REPLICATES)]
    return _REPLICATES[results]


def intervals(results: Results, selects: Sequence[Select], quantiles: Sequence[float], *,
              coverage: float = COVERAGE) -> Intervals:
    """Quantiles of each selected output with their Monte Carlo intervals.

    Parameters
    ----------
    results
        A simulation.
    selects
        Functions giving one value per draw from results (each a row of the answer).
    quantiles
        Probabilities (the columns).
    coverage
        Coverage of the intervals.

    Returns
    -------
    Intervals
        Arrays of shape ``(len(selects), len(quantiles))``: order-statistic intervals for
        random and Latin hypercube draws, randomised replicates for Sobol' points (see the
        module notes).

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=2000, seed=1)
    >>> iv = intervals(r, [lambda res: res.metric().values], [0.05, 0.95])
    >>> bool((iv.low <= iv.estimate).all() and (iv.estimate <= iv.high).all())
    True
    """
    _check_coverage(coverage)
    if results.dataset.attrs["sampler"] != "sobol":
        parts = [quantile_intervals(select(results), quantiles, coverage=coverage) for select in selects]
        return Intervals(*(np.stack(arrays) for arrays in zip(*parts, strict=True)))
    estimate = np.stack([np.quantile(select(results), quantiles) for select in selects])
    replicates = np.stack([[np.quantile(select(rep), quantiles) for select in selects]
                           for rep in sobol_replicates(results)])  # (R, rows, quantiles)
    spread = stats.t.ppf((1 + coverage) / 2, SOBOL_REPLICATES - 1) * replicates.std(
        axis=0, ddof=1) / math.sqrt(SOBOL_REPLICATES)
    return Intervals(estimate, estimate - spread, estimate + spread)


# ----------------------------------------------------------------------------- precision
def _target_pairs(scenario: Scenario) -> list[tuple[Select, float]]:
    """One (select, quantile) per published target bound; the total's 5/50/95% without targets."""
    pairs: list[tuple[Select, float]] = []
    for t in scenario.targets.values():
        def select(r: Results, t=t) -> np.ndarray:
            return r.metric(t.estimand, groups=t.groups, sectors=t.sectors, year=t.year).values
        pairs += [(select, q) for _which, q, _published in t.bounds()]
    if not pairs:
        pairs = [(lambda r: r.metric(r.scenario.meta.estimand).values, q) for q in (0.05, 0.5, 0.95)]
    return pairs


def paired_intervals(results: Results, pairs: Sequence[tuple[Select, float]], *,
                     coverage: float = COVERAGE) -> Intervals:
    """:func:`intervals` of each select at its own quantile: 1-D arrays, one per pair."""
    both = intervals(results, [s for s, _ in pairs], [q for _, q in pairs], coverage=coverage)
    diagonal = np.arange(len(pairs))
    return Intervals(*(a[diagonal, diagonal] for a in both))


def target_half_widths(results: Results, *, coverage: float = COVERAGE) -> np.ndarray:
    """Half-widths of the intervals of every published target quantile (the total's 5%, 50%
    and 95% for a scenario without targets)."""
    return paired_intervals(results, _target_pairs(results.scenario), coverage=coverage).half_width


def _next_size(n: int, needed: float, batch: int, max_draws: int, sobol: bool) -> int:
    """The next run size: the predicted draws (at least one batch more), in whole batches, or
    for Sobol' points the next power of two; at most ``max_draws``."""
    want = max(n + batch, needed if math.isfinite(needed) else 2 * n)
    size = 1 << math.ceil(math.log2(want)) if sobol else batch * math.ceil(want / batch)
    return min(max_draws, size)


def run_until_precision(scenario: Scenario | str | Path, *, precision: float, seed: int | None = None,
                        sampler: SamplerName | None = None, batch: int = 2000, max_draws: int = 10**6,
                        coverage: float = COVERAGE, **options) -> Results:
    """Simulate with more draws until every target quantile's interval half-width is at most
    ``precision``.

    Starts at ``batch`` draws (at least :func:`bounded_draws`; the next power of two for
    Sobol'), then re-runs at the size that :func:`draws_needed` predicts from the widest
    interval, in whole batches, until the precision or ``max_draws`` is reached. Each step is
    a fresh :func:`~digimpact.simulate` run with the same seed, so the answer is exactly
    ``simulate(scenario, draws=N, seed=seed, sampler=sampler)`` for the final ``N``, and the
    same seed gives the same ``N``. Random (and Sobol') draws of a shorter run are the first
    draws of a longer one (name-keyed streams); a Latin hypercube is a new design at each size.

    Parameters
    ----------
    scenario
        A scenario or the path of a scenario file.
    precision
        Largest accepted half-width, in the scenario's unit.
    seed, sampler
        As for :func:`~digimpact.simulate` (default: the scenario's).
    batch
        Draws of the first run and the step between run sizes.
    max_draws
        Upper bound on draws; if reached first, a warning says the precision was not.
    coverage
        Coverage of the intervals.
    **options
        Passed to :func:`~digimpact.simulate` (e.g. ``outputs``, ``backend``).

    Returns
    -------
    Results
        The final run; its attribute ``precision`` records the target (its intervals are
        given by :meth:`Results.summary <digimpact.Results.summary>`).

    Examples
    --------
    >>> r = run_until_precision("scenarios/examples/minimal.toml", precision=0.5, seed=1,
    ...                         sampler="random", batch=500)
    >>> bool(target_half_widths(r).max() <= 0.5), r.dataset.attrs["draws"] % 500
    (True, 0)
    """
    from .engine import simulate
    from .scenario import load_scenario

    if not (isinstance(precision, int | float) and precision > 0 and math.isfinite(precision)):
        raise UsageError(f"precision must be a positive number (a half-width in the scenario's "
                         f"unit), got {precision!r}")
    if isinstance(scenario, str | Path):
        scenario = load_scenario(scenario)
    sampler = scenario.settings.resolve(sampler=sampler).sampler
    sobol = sampler == "sobol"
    qs = [q for _, q in _target_pairs(scenario)]
    n = _next_size(0, bounded_draws(qs, coverage=coverage), batch, max_draws, sobol)
    while True:
        results = simulate(scenario, draws=n, seed=seed, sampler=sampler, **options)
        widest = float(target_half_widths(results, coverage=coverage).max())
        if widest <= precision or n >= max_draws:
            break
        n = _next_size(n, float(draws_needed(n, widest, precision)), batch, max_draws, sobol)
    if widest > precision:
        warnings.warn(f"stopped at max_draws = {max_draws}: the widest target interval's "
                      f"half-width is {widest:.3g}, above the precision {precision:g}", stacklevel=2)
    results.dataset.attrs["precision"] = float(precision)
    return results
