"""Results: a labelled :class:`xarray.Dataset` of simulated values, with summaries and checks."""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from . import mcerror
from .atomic import atomic_write
from .errors import ResultsError, ScenarioError, UsageError, check_choice
from .options import Estimand, MetricName, ReportMetric, positional_deprecated, reported
from .records import NON_MARKET, RunSettings

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["Results", "build_dataset", "open_results", "quantile_label", "quantiles_of",
           "year_in_horizon"]

_RENAMED = {"share_of_gdp": "share_of_value_added"}  # old metric name -> new (FutureWarning)
_READINGS = {"annual": "annual", "cumulative": "cumulative", "full_potential": "full potential",
             "npv": "net present value"}


def quantile_label(q: float) -> str:
    """The column name of quantile ``q``: ``"p"`` and the percentage.

    Examples
    --------
    >>> quantile_label(0.05), quantile_label(0.5), quantile_label(0.975)
    ('p5', 'p50', 'p97.5')
    """
    return f"p{100 * q:g}"


def quantiles_of(values: np.ndarray, quantiles: Sequence[float], prefix: str = "") -> dict[str, float]:
    """``{prefix + quantile_label(q): quantile q of values}`` for each of ``quantiles``.

    Examples
    --------
    >>> quantiles_of(np.arange(101.0), [0.05, 0.5], prefix="b ")
    {'b p5': 5.0, 'b p50': 50.0}
    """
    qs = np.quantile(values, quantiles)
    return {f"{prefix}{quantile_label(q)}": float(x) for q, x in zip(quantiles, qs, strict=True)}


def year_in_horizon(scenario: Scenario, year: int | None, what: str = "year") -> int:
    """``year``, or the scenario's target year if ``None``, checked against the horizon.

    Raises
    ------
    UsageError
        If ``year`` is outside the scenario's horizon (the message names the horizon).

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> year_in_horizon(s, None) == s.meta.target_year
    True
    >>> year_in_horizon(s, 1900)
    Traceback (most recent call last):
    ...
    digimpact.errors.UsageError: year 1900 is outside the scenario's horizon 2020-2030
    """
    if year is None:
        return scenario.meta.target_year
    first, last = scenario.meta.horizon
    if not first <= year <= last:
        raise UsageError(f"{what} {year} is outside the scenario's horizon {first}-{last}")
    return int(year)


def _version() -> str:
    from . import __version__

    return __version__


def build_dataset(scenario: Scenario, arrays: Mapping[str, np.ndarray],
                  settings: RunSettings) -> xr.Dataset:
    """Label engine output: dims ``draw``, ``sector``, ``year`` (and ``use_case``,
    ``parameter``), with the run's ``settings`` and the scenario as provenance in the
    attributes."""
    draws, seed, sampler = settings
    meta = scenario.meta
    sectors = list(scenario.sectors.values())
    ucs = list(scenario.use_cases.values())
    unit = meta.unit
    coords: dict[str, Any] = {
        "draw": np.arange(draws),
        "sector": [s.id for s in sectors],
        "year": np.array(list(meta.years)),
        "sector_name": ("sector", [s.name for s in sectors]),
        "group": ("sector", [s.group for s in sectors]),
        "market": ("sector", [s.market for s in sectors],
                   {"long_name": f"market producer (false: output valued at cost, gains are "
                                 f"{NON_MARKET})"}),
    }
    value_attrs: dict[str, Any] = {"units": unit, "long_name": f"value at stake (annual, {unit})"}
    value: tuple[Any, ...]
    if "total" in arrays:  # outputs="target_year": sectors in the target year, total every year
        value = (("draw", "sector"), arrays["value"][..., 0], {**value_attrs, "year": meta.target_year})
    else:
        value = (("draw", "sector", "year"), arrays["value"], value_attrs)
    data_vars: dict[str, Any] = {
        "value": value,
        "full_potential": (("draw", "sector"), arrays["full_potential"],
                           {"units": unit, "long_name": f"value at stake (full potential, {unit})",
                            "year": meta.target_year}),
        "baseline": (("sector", "year"),
                     np.array([[s.base("value_added", y) for y in meta.years] for s in sectors]),
                     {"units": unit, "long_name": "baseline value added"}),
    }
    if "total" in arrays:
        data_vars["total"] = (("draw", "year"), arrays["total"],
                              {"units": unit, "long_name": f"value at stake (annual, {unit}), all sectors"})
    if "use_case_value" in arrays:
        coords.update({
            "use_case": [u.id for u in ucs],
            "use_case_name": ("use_case", [u.name for u in ucs]),
            "use_case_sector": ("use_case", [u.sector for u in ucs]),
            "technology": ("use_case", [u.technology for u in ucs]),
            "stage": ("use_case", [u.stage for u in ucs]),
            "wave": ("use_case", [u.wave for u in ucs]),
        })
        data_vars["use_case_value"] = (("draw", "use_case", "year"), arrays["use_case_value"],
                                       {"units": unit, "long_name": f"value at stake (annual, {unit})"})
        data_vars["use_case_full_potential"] = (
            ("draw", "use_case"), arrays["use_case_full_potential"],
            {"units": unit, "long_name": f"value at stake (full potential, {unit})",
             "year": meta.target_year})
        data_vars["adoption"] = (("draw", "use_case", "year"), arrays["adoption"],
                                 {"units": "1", "long_name": "adoption share"})
    if "inputs" in arrays:  # the uncertain parameters, in the sampler's (name) order
        coords["parameter"] = sorted(n for n, d in scenario.parameters().items() if not d.is_fixed)
        data_vars["inputs"] = (("draw", "parameter"), arrays["inputs"],
                               {"long_name": "sampled value of each uncertain parameter"})
    attrs = {
        "title": meta.title, "unit": unit, "price_basis": meta.price_basis,
        "estimand": meta.estimand, "accounting_basis": meta.accounting_basis,
        "base_measure": meta.base_measure, "counterfactual": meta.counterfactual,
        "target_year": meta.target_year, "scenario_hash": scenario.hash, "seed": seed,
        "sampler": sampler, "draws": draws, "digimpact_version": _version(),
        "scenario_file": scenario.file or "", "scenario_toml": scenario.to_toml(),
    }
    return xr.Dataset(data_vars, coords, attrs)


class Results:
    """Simulated values with provenance; summaries per sector, group and target.

    Parameters
    ----------
    dataset
        Output of the engine (see :func:`digimpact.simulate`).
    scenario
        The scenario that produced it; rebuilt from the dataset's attributes if omitted.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=2000, seed=1)
    >>> lo, hi = r.interval(groups=["core"], q=(0.05, 0.95))
    >>> lo < hi
    True
    """

    def __init__(self, dataset: xr.Dataset, scenario: Scenario | None = None) -> None:
        self.dataset = dataset
        self.scenario = _stored_scenario(dataset.attrs) if scenario is None else scenario

    def __repr__(self) -> str:
        a = self.dataset.attrs
        return (f"<Results {a['title']!r}: {a['draws']} draws, seed {a['seed']}, "
                f"sampler {a['sampler']}, scenario {a['scenario_hash'][:12]}>")

    def _repr_html_(self) -> str:
        """The results in Jupyter: provenance, the summary and the targets met."""
        a = self.dataset.attrs
        fmt = {"float_format": lambda x: f"{x:.2f}"}
        checks = self.check()
        if len(checks):
            missed = int((~checks["ok"]).sum())
            verdict = (f"all {len(checks)} published bounds met" if not missed
                       else f"{missed} of {len(checks)} published bounds missed")
            targets = (f"<h5>Targets: {verdict}</h5>" + checks.drop(columns="source").to_html(
                index=False, **fmt))
        else:
            targets = "<p>No published targets in this scenario.</p>"
        return (f"<h4>{html.escape(str(a['title']))}</h4>"
                f"<p>{html.escape(self.unit)}, {a['estimand']} value at stake ({a['accounting_basis']}), "
                f"target year {a['target_year']}; "
                f"{a['draws']:,} draws, seed {a['seed']}, sampler {a['sampler']}; scenario "
                f"{a['scenario_hash'][:12]}, digimpact {a['digimpact_version']}</p>"
                + "<h5>Summary</h5>" + self.summary().to_html(**fmt) + targets)

    @property
    def unit(self) -> str:
        """The unit of the values (the scenario's ``unit``)."""
        return str(self.dataset.attrs["unit"])

    # ---- selections
    @positional_deprecated("variable")
    def aggregate(self, groups: Sequence[str] = (), sectors: Sequence[str] = (), *,
                  variable: str = "value") -> xr.DataArray:
        """Sum over the sectors of ``groups`` and ``sectors`` (all sectors if both empty)."""
        if not groups and not sectors and variable == "value" and "total" in self.dataset:
            return self.dataset["total"]
        return self._sum(self.dataset[variable], groups, sectors)

    def _sum(self, da: xr.DataArray, groups: Sequence[str], sectors: Sequence[str]) -> xr.DataArray:
        ids = self.scenario.sectors_in(groups, sectors) if groups or sectors else list(da["sector"].values)
        out = da.sel(sector=ids[0], drop=True).copy()
        for sector in ids[1:]:  # column by column: no copy of the selected block, fixed order
            out += da.sel(sector=sector, drop=True)
        return out

    @positional_deprecated("year", "metric", "start", "rate")
    def at(self, da: xr.DataArray, *, year: int | None = None, metric: MetricName = "annual",
           start: int | None = None, rate: float | None = None) -> xr.DataArray:
        """Reduce values over years to one number per draw (and remaining dims).

        Parameters
        ----------
        da : xarray.DataArray
            Values with a ``year`` dimension (e.g. from :meth:`aggregate`).
        year : int, optional
            Target year (default: the scenario's).
        metric : {"annual", "cumulative", "npv", "share_of_value_added"}, default: "annual"
            ``"annual"``: the value in ``year``. ``"cumulative"``: the sum from ``start`` to
            ``year``. ``"npv"``: that sum discounted at ``rate`` to ``start``.
            ``"share_of_value_added"``: the annual value over the baseline value added of all
            the scenario's sectors in ``year`` (a ratio; the old name ``"share_of_gdp"`` still
            works, with a FutureWarning). The full potential is not a reduction over years:
            see :meth:`metric`.
        start : int, optional
            First year summed by ``"cumulative"`` and ``"npv"`` (default: the first year of
            the horizon).
        rate : float, optional
            Yearly discount rate of ``"npv"``, which needs one (``0.03`` for 3%).

        Raises
        ------
        UsageError
            For an unknown metric, ``"npv"`` without a ``rate``, a ``rate`` or ``start`` that
            the metric does not use, or a year outside the horizon.
        """
        metric = _renamed(metric)
        check_choice(metric, MetricName, "metric")
        if metric == "full_potential":
            raise UsageError("metric 'full_potential' is not a reduction of values over years: "
                             "use Results.metric('full_potential')")
        _check_metric_options(metric, start, rate)
        meta = self.scenario.meta
        year = year_in_horizon(self.scenario, year)
        start = year_in_horizon(self.scenario, meta.horizon[0] if start is None else start, "start")
        if "year" not in da.dims:  # outputs="target_year" keeps sectors for one year only
            if metric not in ("annual", "share_of_value_added") or year != meta.target_year:
                raise UsageError(f"these results keep sector values for {meta.target_year} only "
                                 f"(outputs='target_year'); the total keeps every year")
            da = da.expand_dims(year=[year])
        if metric == "annual":
            return da.sel(year=year)
        if metric == "share_of_value_added":
            share = da.sel(year=year) / self.dataset["baseline"].sel(year=year).sum("sector")
            return share.assign_attrs(units="1", long_name="share of the scenario's value added "
                                      f"(annual value at stake / baseline value added of all its "
                                      f"sectors, {year})")
        window = da.sel(year=slice(start, year))
        if metric == "npv":
            window = window * (1.0 + rate) ** -(window["year"] - start)  # type: ignore[operator]
        return window.sum("year")

    @positional_deprecated("groups", "sectors", "year", "start", "rate")
    def metric(self, metric: MetricName = "annual", *, groups: Sequence[str] = (),
               sectors: Sequence[str] = (), year: int | None = None, start: int | None = None,
               rate: float | None = None) -> xr.DataArray:
        """One value per draw for ``groups`` / ``sectors`` (all if both empty).

        ``metric`` is one of those of :meth:`at`, or ``"full_potential"``: the annual value in
        ``year`` once adoption is complete (the ``full_potential`` variable, kept for the
        target year, grown to ``year`` with each sector's baseline).

        Examples
        --------
        >>> import digimpact
        >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=200, seed=1)
        >>> npv = r.metric("npv", rate=0.03, start=2021)
        >>> bool((npv < r.metric("cumulative", start=2021)).all())
        True
        >>> bool((r.metric("full_potential") >= r.metric("annual")).all())
        True
        """
        metric = _renamed(metric)
        if metric == "full_potential":
            _check_metric_options(metric, start, rate)
            out = self._sum(self._full_potential(year), groups, sectors)
        else:
            out = self.at(self.aggregate(groups, sectors), year=year, metric=metric, start=start,
                          rate=rate)
        if metric in _READINGS:
            out.attrs = {"units": self.unit, "long_name": f"value at stake ({_READINGS[metric]}, "
                                                          f"{self.unit})"}
        return out

    def _full_potential(self, year: int | None) -> xr.DataArray:
        """Full potential by draw and sector in ``year`` (grown from the target year)."""
        year = year_in_horizon(self.scenario, year)
        target = self.scenario.meta.target_year
        da = self.dataset["full_potential"]
        if year == target:
            return da
        base = self.dataset["baseline"]  # every measure grows at the sector's rate
        return da * (base.sel(year=year) / base.sel(year=target))

    @positional_deprecated("groups", "year", "q", "metric", "sectors")
    def interval(self, *, groups: Sequence[str] = (), sectors: Sequence[str] = (),
                 year: int | None = None, metric: MetricName = "annual", start: int | None = None,
                 rate: float | None = None, q: Sequence[float] = (0.05, 0.95)) -> tuple[float, ...]:
        """Quantiles ``q`` of :meth:`metric` (same options) over the draws.

        Examples
        --------
        >>> import digimpact
        >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=200, seed=1)
        >>> r.interval(groups=["core"], q=[0.5]) == (float(r.metric(groups=["core"]).median()),)
        True
        """
        values = self.metric(metric, groups=groups, sectors=sectors, year=year, start=start,
                             rate=rate).values
        return tuple(float(v) for v in np.quantile(values, q))

    @positional_deprecated("year", "quantiles", "metric")
    def summary(self, *, year: int | None = None, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                metric: ReportMetric | None = None, intervals: bool = False,
                coverage: float = mcerror.COVERAGE) -> pd.DataFrame:
        """Mean and quantiles of every row of :meth:`Scenario.report_rows`.

        The rows, in order: each sector (level ``"sector"``, grouped under its group), each
        sector group (``"group"``), each target of the scenario (``"target"``, adding up the
        target's groups and sectors; the targets are the only subtotals) and the total of all
        sectors (``"total"``).

        Parameters
        ----------
        year : int, optional
            Year of the values (default: the scenario's target year).
        quantiles : sequence of float, default: (0.05, 0.5, 0.95)
            Probabilities to report, as columns ``p5``, ``p50``, ... (see
            :func:`quantile_label`).
        metric : {"annual", "cumulative", "full_potential", "both"}, optional
            The estimand reported; ``"both"`` is annual and cumulative (default: the
            scenario's estimand, or both for its older ``metric = "both"``).
        intervals : bool, default: False
            Also report each quantile's Monte Carlo interval, as columns ``p5_low``,
            ``p5_high``, ... (see :mod:`digimpact.mcerror`; for Sobol' points this runs
            16 replicates of ``draws / 16`` points).
        coverage : float, default: 0.95
            Coverage of the intervals.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``(metric, level, id)``; columns ``label`` (non-market gains marked
            as cost and time savings), ``mean`` and quantiles.
        """
        metric = self.scenario.meta.metric if metric is None else metric
        check_choice(metric, ReportMetric, "metric")
        records, selects = [], []
        for m in reported(metric):
            for row in self.scenario.report_rows():
                def select(r: Results, row=row, m=m) -> np.ndarray:
                    return r.metric(m, groups=row.groups, sectors=row.sectors, year=year).values
                v = select(self)
                selects.append(select)
                records.append({"metric": m, "level": row.level, "id": row.id, "label": row.label,
                                "mean": float(v.mean()), **quantiles_of(v, quantiles)})
        table = pd.DataFrame(records).set_index(["metric", "level", "id"])
        if intervals:
            iv = mcerror.intervals(self, selects, quantiles, coverage=coverage)
            for j, q in enumerate(quantiles):
                label = quantile_label(q)
                table[f"{label}_low"], table[f"{label}_high"] = iv.low[:, j], iv.high[:, j]
        return table

    def check(self, *, coverage: float = mcerror.COVERAGE) -> pd.DataFrame:
        """Compare the simulated quantiles with the scenario's published targets.

        Each target is read as its estimand (the scenario's, unless the target states its own).

        Parameters
        ----------
        coverage
            Coverage of the Monte Carlo intervals.

        Returns
        -------
        pandas.DataFrame
            One row per published bound: ``estimand``, ``published``, ``simulated``,
            ``residual`` (simulated - published), ``tolerance``, ``ok``; the Monte Carlo interval of the
            simulated quantile ``mc_low``, ``mc_high`` (:func:`digimpact.mcerror.intervals`);
            ``within_mc_error``, whether that interval reaches the band ``published +-
            tolerance`` (a miss that more draws may turn into a pass, or a pass that they
            may turn into a miss); and ``draws_needed``, the draws whose interval half-width
            is the distance from the simulated value to the band's nearest edge, enough to
            settle ``ok`` (extrapolated as ``1 / sqrt(draws)``; missing if unbounded).
        """
        rows, selects = [], []
        for t in self.scenario.targets.values():
            def select(r: Results, t=t) -> np.ndarray:
                return r.metric(t.estimand, groups=t.groups, sectors=t.sectors, year=t.year).values
            values = select(self)
            for which, q, published in t.bounds():
                sim = float(np.quantile(values, q))
                selects.append((select, q))
                rows.append({"target": t.id, "name": t.name, "estimand": t.estimand,
                             "bound": which, "quantile": q, "published": published,
                             "simulated": sim, "residual": sim - published,
                             "tolerance": t.tolerance, "ok": abs(sim - published) <= t.tolerance,
                             "source": t.source})
        columns = ["target", "name", "estimand", "bound", "quantile", "published", "simulated",
                   "residual", "tolerance", "ok", "mc_low", "mc_high", "within_mc_error",
                   "draws_needed", "source"]
        table = pd.DataFrame(rows, columns=columns)
        if rows:
            _mc_columns(table, self, selects, coverage)
        return table

    def to_dataframe(self) -> pd.DataFrame:
        """The values in long form, columns ``draw``, ``sector``, ``year``, ``value`` (see
        :func:`digimpact.export.tidy`)."""
        from .export import tidy

        return tidy(self)

    def to_excel(self, path: str | Path, *, draws: bool = False) -> Path:
        """Write a workbook: summary with intervals, targets, provenance, scenario, kept
        inputs and optionally the draws (see :func:`digimpact.export.to_excel`; needs the
        ``excel`` extra)."""
        from .export import to_excel

        return to_excel(self, path, draws=draws)

    # ---- intensity
    def intensity(self, *, year: int | None = None, estimand: Estimand | None = None) -> xr.DataArray:
        """Value over baseline value added, by draw and sector, in ``year``.

        Parameters
        ----------
        year : int, optional
            Default: the scenario's target year.
        estimand : {"annual", "cumulative", "full_potential"}, optional
            Default: the scenario's. A ceiling bounds an annual value, so the cumulative
            reading is checked on the annual value of ``year``, the last and largest of its
            sum (adoption does not decrease, and value and value added grow at the same rate).

        Examples
        --------
        >>> import digimpact
        >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=200, seed=1)
        >>> r.intensity().dims
        ('draw', 'sector')
        """
        year = year_in_horizon(self.scenario, year)
        estimand = estimand or self.scenario.meta.estimand
        check_choice(estimand, Estimand, "estimand")
        value = (self._full_potential(year) if estimand == "full_potential"
                 else self.at(self.dataset["value"], year=year))
        out = value / self.dataset["baseline"].sel(year=year)
        return out.assign_attrs(units="1", long_name=f"value at stake / value added, {year}")

    def check_intensity(self, *, year: int | None = None,
                        estimand: Estimand | None = None) -> pd.DataFrame:
        """Each sector's intensity (see :meth:`intensity`) against its cited ceiling.

        Returns
        -------
        pandas.DataFrame
            One row per sector: its ``gain`` label, ``median`` and ``p95`` of the intensity,
            the ``ceiling`` (``NaN`` if the sector has none), ``ok`` (the median is within the
            ceiling) and the ceiling's ``source``.
        """
        ratio = self.intensity(year=year, estimand=estimand)
        median, p95 = np.quantile(ratio.values, [0.5, 0.95], axis=0)
        rows = []
        for i, s in enumerate(self.scenario.sectors.values()):
            ceiling = s.intensity_ceiling
            rows.append({"sector": s.id, "name": s.name,
                         "gain": "value at stake" if s.market else NON_MARKET,
                         "median": float(median[i]), "p95": float(p95[i]),
                         "ceiling": ceiling.value if ceiling else np.nan,
                         "ok": ceiling is None or bool(median[i] <= ceiling.value),
                         "source": ceiling.source if ceiling else ""})
        return pd.DataFrame(rows, columns=["sector", "name", "gain", "median", "p95", "ceiling",
                                           "ok", "source"])

    # ---- files
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the dataset to a netCDF file atomically (via h5netcdf)."""
        return atomic_write(path, writer=lambda tmp: self.dataset.to_netcdf(tmp, engine="h5netcdf"))


def _mc_columns(table: pd.DataFrame, results: Results,
                selects: Sequence[tuple[mcerror.Select, float]], coverage: float) -> None:
    """Fill the Monte Carlo columns of :meth:`Results.check` (one select and quantile a row)."""
    iv = mcerror.paired_intervals(results, selects, coverage=coverage)
    table["mc_low"], table["mc_high"] = iv.low, iv.high
    band_low, band_high = table["published"] - table["tolerance"], table["published"] + table["tolerance"]
    table["within_mc_error"] = (table["mc_low"] <= band_high) & (table["mc_high"] >= band_low)
    margin = (table["residual"].abs() - table["tolerance"]).abs()
    needed = mcerror.draws_needed(int(results.dataset.attrs["draws"]),
                                  iv.half_width, margin.to_numpy())
    table["draws_needed"] = pd.array(np.where(np.isfinite(needed), needed, np.nan), dtype="Int64")


def _check_metric_options(metric: MetricName, start: int | None, rate: float | None) -> None:
    """Refuse a ``start`` or ``rate`` that ``metric`` would ignore, and npv without a rate."""
    if metric == "npv" and rate is None:
        raise UsageError("metric 'npv' needs a discount rate: pass rate=0.03 for 3% a year (rate=0 "
                         "gives the cumulative sum)")
    if metric != "npv" and rate is not None:
        raise UsageError(f"rate applies to metric 'npv' only, not {metric!r}: leave it out")
    if metric in ("annual", "share_of_value_added", "full_potential") and start is not None:
        raise UsageError(f"start applies to metrics 'cumulative' and 'npv' only, not {metric!r}: "
                         "leave it out")


def _renamed(metric: str) -> Any:
    """``metric``, or its new name (with a FutureWarning) if it is an old one."""
    if metric in _RENAMED:
        warnings.warn(f"metric {metric!r} is now called {_RENAMED[metric]!r} (it divides by the "
                      "baseline value added of the scenario's sectors)", FutureWarning, stacklevel=4)
        return _RENAMED[metric]
    return metric


def _stored_scenario(attrs: Mapping[str, Any]) -> Scenario:
    import tomllib

    from .scenario import Scenario

    return Scenario.from_dict(tomllib.loads(attrs["scenario_toml"]), attrs.get("scenario_file") or None)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first bytes of an HDF5 file, hence of the netCDF4 files digimpact writes."""
REQUIRED_ATTRS = ("scenario_toml", "scenario_hash", "draws", "seed", "sampler", "digimpact_version")


def _check_format(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(len(HDF5_SIGNATURE))
    if not head:
        raise ResultsError("empty file, not digimpact results", path)
    if head.startswith(b"CDF"):
        raise ResultsError("a netCDF3 file; digimpact writes and reads netCDF4 (HDF5) files", path)
    if head != HDF5_SIGNATURE:
        raise ResultsError("not a netCDF4 (HDF5) file, not digimpact results", path)


def _load(path: Path) -> xr.Dataset:
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except (OSError, ValueError, KeyError, TypeError) as exc:  # h5py's messages for broken files
        raise ResultsError(f"truncated or damaged netCDF4 file ({exc})", path) from exc
    ds.attrs = {k: v.item() if isinstance(v, np.generic) else v for k, v in ds.attrs.items()}
    missing = [k for k in REQUIRED_ATTRS if k not in ds.attrs]
    if missing or "value" not in ds:
        what = f"attributes {', '.join(missing)}" if missing else "variable 'value'"
        raise ResultsError(f"not written by digimpact (no {what})", path)
    return ds


def open_results(path: str | Path) -> Results:
    """Read results written by :meth:`Results.to_netcdf` (fully loaded into memory).

    The stored scenario is rebuilt from its TOML text and checked against the stored hash.

    Raises
    ------
    ResultsError
        Naming ``path``, for a file that is empty, netCDF3, truncated or not HDF5, not
        written by digimpact, or whose stored scenario is invalid or does not match its hash.
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import digimpact, tempfile, os
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=100, seed=1)
    >>> path = r.to_netcdf(os.path.join(tempfile.mkdtemp(), "results.nc"))
    >>> digimpact.open_results(path).dataset.attrs["seed"]
    1
    """
    import tomllib

    path = Path(path)
    _check_format(path)
    ds = _load(path)
    try:
        scenario = _stored_scenario(ds.attrs)
    except (tomllib.TOMLDecodeError, ScenarioError) as exc:
        raise ResultsError(f"the stored scenario (attribute scenario_toml) is invalid: {exc}",
                           path) from exc
    if scenario.hash != ds.attrs["scenario_hash"]:
        raise ResultsError("the stored scenario (attribute scenario_toml) does not match its hash "
                           "scenario_hash: edited after the run", path)
    return Results(ds, scenario)
