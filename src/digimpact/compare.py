"""Compare two scenarios with common random numbers.

Both scenarios are simulated with the same root seed, sampler and number of draws. Because
every parameter's random stream is derived from its name, a parameter the two scenarios share
gets the same draws in both, so the difference per draw isolates what changed; comparing a
scenario with itself gives a difference of exactly zero for every draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from .engine import simulate
from .errors import UsageError, check_choice
from .options import SamplerName, TargetMetric, positional_deprecated
from .records import RunSettings
from .results import Results, quantiles_of
from .scenario import Scenario, load_scenario

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """Two results on common random numbers and their per-draw difference (``b - a``)."""

    a: Results
    b: Results

    @property
    def difference(self) -> xr.DataArray:
        """``b - a`` by draw, sector and year."""
        return self.b.dataset["value"] - self.a.dataset["value"]

    @positional_deprecated("year", "quantiles", "metric")
    def summary(self, *, year: int | None = None, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                metric: TargetMetric = "annual") -> pd.DataFrame:
        """Quantiles of a, b and b - a, the mean of b - a and P(b > a), for every row of
        ``a``'s :meth:`Scenario.report_rows` (sectors, groups, targets, total).

        Parameters
        ----------
        year : int, optional
            Year compared (default: ``a``'s target year).
        quantiles : sequence of float, default: (0.05, 0.5, 0.95)
            Reported as columns ``a p5``, ``b p5``, ``b-a p5``, ...
        metric : {"annual", "cumulative"}, default: "annual"

        Returns
        -------
        pandas.DataFrame
            Indexed by ``(level, id)``.
        """
        check_choice(metric, TargetMetric, "metric")
        records = []
        for row in self.a.scenario.report_rows():
            va, vb = (r.metric(metric, groups=row.groups, sectors=row.sectors, year=year).values
                      for r in (self.a, self.b))
            records.append({"level": row.level, "id": row.id, **quantiles_of(va, quantiles, "a "),
                            **quantiles_of(vb, quantiles, "b "),
                            **quantiles_of(vb - va, quantiles, "b-a "),
                            "mean b-a": float((vb - va).mean()), "P(b>a)": float((vb > va).mean())})
        return pd.DataFrame(records).set_index(["level", "id"])


@positional_deprecated("draws", "seed", "sampler")
def compare(a: Scenario | Results | str | Path, b: Scenario | str | Path, *,
            draws: int | None = None, seed: int | None = None,
            sampler: SamplerName | None = None) -> Comparison:
    """Simulate ``a`` and ``b`` on common random numbers.

    Parameters
    ----------
    a : Scenario, Results or path
        The base. Results already simulated (full outputs) are reused: ``b`` is then run with
        their draws, seed and sampler, so one base serves many variants.
    b : Scenario or path
        The variant, with the same sectors and years as ``a``.
    draws, seed : int, optional
        For both runs (default: ``a``'s settings); see :meth:`Settings.resolve`.
    sampler : {"random", "lhs", "sobol"}, optional
        For both runs (default: ``a``'s).

    Raises
    ------
    UsageError
        For settings out of range, settings given with results for ``a`` (they are the
        results' own), or scenarios with different sectors or years.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> c = digimpact.compare(s, s, draws=500)
    >>> float(abs(c.difference).max())
    0.0
    >>> later = s.with_overrides({"use_cases.demand_forecast.adoption.midpoint": 2028})
    >>> row = digimpact.compare(s, later, draws=500).summary().loc[("sector", "retail")]
    >>> float(row["P(b>a)"])
    0.0
    """
    if isinstance(a, Results):
        given = [name for name, v in (("draws", draws), ("seed", seed), ("sampler", sampler))
                 if v is not None]
        if given:
            raise UsageError(f"a is results already simulated with their own draws, seed and "
                             f"sampler: leave {', '.join(given)} out, or pass a.scenario to "
                             "simulate it again")
        done: Results | None = a
        attrs = a.dataset.attrs
        a, settings = a.scenario, RunSettings(attrs["draws"], attrs["seed"], attrs["sampler"])
    else:
        done = None
        a = a if isinstance(a, Scenario) else load_scenario(a)
        settings = a.settings.resolve(draws=draws, seed=seed, sampler=sampler)
    b = b if isinstance(b, Scenario) else load_scenario(b)
    if list(a.sectors) != list(b.sectors) or list(a.years) != list(b.years):
        raise UsageError("compare needs scenarios with the same sectors and years")

    def run(scenario: Scenario) -> Results:
        return simulate(scenario, draws=settings.draws, seed=settings.seed,
                        sampler=settings.sampler, progress=False)

    return Comparison(done or run(a), run(b))
