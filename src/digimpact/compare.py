"""Compare two scenarios with common random numbers.

Both scenarios are simulated with the same root seed, sampler and number of draws. Because
every parameter's random stream is derived from its name, a parameter the two scenarios share
gets the same draws in both, so the difference per draw isolates what changed; comparing a
scenario with itself gives a difference of exactly zero for every draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .engine import simulate
from .errors import UsageError
from .results import Results
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

    def summary(self, year: int | None = None, quantiles=(0.05, 0.5, 0.95),
                metric: str = "annual") -> pd.DataFrame:
        """Per sector, group and in total: quantiles of a, b and b - a, and P(b > a)."""
        scn = self.a.scenario
        rows = [("sector", s, (), (s,)) for s in scn.sectors]
        rows += [("group", g, (g,), ()) for g in scn.groups]
        rows.append(("total", "total", (), ()))
        records = []
        for level, key, groups, sectors in rows:
            va = self.a.at(self.a.aggregate(groups, sectors), year, metric).values
            vb = self.b.at(self.b.aggregate(groups, sectors), year, metric).values
            rec = {"level": level, "id": key}
            for label, v in (("a", va), ("b", vb), ("b-a", vb - va)):
                rec.update({f"{label} p{100 * q:g}": float(x)
                            for q, x in zip(quantiles, np.quantile(v, quantiles), strict=True)})
            rec["mean b-a"] = float((vb - va).mean())
            rec["P(b>a)"] = float((vb > va).mean())
            records.append(rec)
        return pd.DataFrame(records).set_index(["level", "id"])


def compare(a: Scenario | Results | str | Path, b: Scenario | str | Path,
            draws: int | None = None, seed: int | None = None,
            sampler: str | None = None) -> Comparison:
    """Simulate ``a`` and ``b`` on common random numbers.

    ``draws``, ``seed`` and ``sampler`` default (when ``None``) to ``a``'s settings and are used
    for both; ``draws`` below 1 is a :class:`~digimpact.errors.UsageError`. ``a``
    may also be results already simulated (full outputs): ``b`` is then run with their draws,
    seed and sampler, so one base serves many variants. The scenarios must have the same
    sectors and years.

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
    done = a if isinstance(a, Results) else None
    if done is not None:
        attrs = done.dataset.attrs
        a, draws, seed, sampler = done.scenario, attrs["draws"], attrs["seed"], attrs["sampler"]
    a = a if isinstance(a, Scenario) else load_scenario(a)
    b = b if isinstance(b, Scenario) else load_scenario(b)
    if list(a.sectors) != list(b.sectors) or list(a.years) != list(b.years):
        raise UsageError("compare needs scenarios with the same sectors and years")
    if draws is not None and draws < 1:
        raise UsageError(f"draws must be >= 1, not {draws} (omit it for the scenario's "
                         f"{a.settings.draws})")
    settings = a.settings
    kwargs = {"draws": settings.draws if draws is None else draws,
              "seed": settings.seed if seed is None else seed,
              "sampler": settings.sampler if sampler is None else sampler, "progress": False}
    return Comparison(done or simulate(a, **kwargs), simulate(b, **kwargs))
