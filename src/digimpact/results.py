"""Results: a labelled :class:`xarray.Dataset` of simulated values, with summaries and checks."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .atomic import atomic_write
from .errors import ResultsError, ScenarioError, UsageError

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["METRICS", "Results", "build_dataset", "open_results", "year_in_horizon"]

METRICS = ("annual", "cumulative", "full_potential", "npv", "share_of_value_added")
"""What :meth:`Results.metric` reduces values to: one number per draw."""
_RENAMED = {"share_of_gdp": "share_of_value_added"}  # old metric name -> new (FutureWarning)
_READINGS = {"annual": "annual", "cumulative": "cumulative", "full_potential": "full potential",
             "npv": "net present value"}
NON_MARKET = "cost and time savings"
"""How the gains of a non-market sector (``market = false``) are labelled."""


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


def build_dataset(scenario: Scenario, arrays: Mapping[str, np.ndarray], draws: int, seed: int,
                  sampler: str) -> xr.Dataset:
    """Label engine output: dims ``draw``, ``sector``, ``year`` (and ``use_case``)."""
    meta = scenario.meta
    sectors = list(scenario.sectors.values())
    ucs = list(scenario.use_cases.values())
    unit = meta.unit
    coords: dict[str, object] = {
        "draw": np.arange(draws),
        "sector": [s.id for s in sectors],
        "year": np.array(list(meta.years)),
        "sector_name": ("sector", [s.name for s in sectors]),
        "group": ("sector", [s.group for s in sectors]),
        "market": ("sector", [s.market for s in sectors],
                   {"long_name": f"market producer (false: output valued at cost, gains are "
                                 f"{NON_MARKET})"}),
    }
    value_attrs = {"units": unit, "long_name": f"value at stake (annual, {unit})"}
    if "total" in arrays:  # outputs="target_year": sectors in the target year, total every year
        value = (("draw", "sector"), arrays["value"][..., 0], {**value_attrs, "year": meta.target_year})
    else:
        value = (("draw", "sector", "year"), arrays["value"], value_attrs)
    data_vars: dict[str, object] = {
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
    >>> lo, hi = r.interval(["core"], q=(0.05, 0.95))
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

    @property
    def unit(self) -> str:
        return str(self.dataset.attrs["unit"])

    # ---- selections
    def aggregate(self, groups: Sequence[str] = (), sectors: Sequence[str] = (),
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

    def at(self, da: xr.DataArray, year: int | None = None, metric: str = "annual",
           start: int | None = None, rate: float | None = None) -> xr.DataArray:
        """Reduce values over years to one number per draw (and remaining dims).

        Parameters
        ----------
        da
            Values with a ``year`` dimension (e.g. from :meth:`aggregate`).
        year
            Target year (default: the scenario's).
        metric : {"annual", "cumulative", "npv", "share_of_value_added"}, default: "annual"
            ``"annual"``: the value in ``year``. ``"cumulative"``: the sum from ``start``
            (default: first year) to ``year``. ``"npv"``: that sum discounted at ``rate``
            (required) to ``start``. ``"share_of_value_added"``: the annual value over the
            baseline value added of all the scenario's sectors in ``year`` (a ratio; the
            old name ``"share_of_gdp"`` still works, with a FutureWarning). The full potential
            is not a reduction over years: see :meth:`metric`.
        """
        metric = _renamed(metric)
        meta = self.scenario.meta
        year = year_in_horizon(self.scenario, year)
        start = year_in_horizon(self.scenario, meta.horizon[0] if start is None else start, "start")
        if metric not in METRICS or metric == "full_potential":
            hint = (" (use Results.metric('full_potential'): it is not a reduction over years)"
                    if metric == "full_potential" else "")
            raise UsageError(f"unknown metric {metric!r}{hint}; expected one of "
                             f"{', '.join(m for m in METRICS if m != 'full_potential')}")
        if metric == "npv" and rate is None:
            raise UsageError("metric 'npv' needs a discount rate: pass rate=, e.g. rate=0.03")
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
        if metric == "cumulative":
            return window.sum("year")
        factor = (1.0 + rate) ** -(window["year"] - start)
        return (window * factor).sum("year")

    def metric(self, metric: str = "annual", groups: Sequence[str] = (),
               sectors: Sequence[str] = (), year: int | None = None, start: int | None = None,
               rate: float | None = None) -> xr.DataArray:
        """One value per draw for ``groups`` / ``sectors`` (all if empty).

        ``metric`` is one of :data:`METRICS`: those of :meth:`at`, and ``"full_potential"``,
        the annual value in ``year`` once adoption is complete (the ``full_potential``
        variable, kept for the target year, grown to ``year`` with each sector's baseline).

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
            out = self._sum(self._full_potential(year), groups, sectors)
        else:
            out = self.at(self.aggregate(groups, sectors), year, metric, start, rate)
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

    def interval(self, groups: Sequence[str] = (), year: int | None = None,
                 q: Sequence[float] = (0.05, 0.95), metric: str = "annual",
                 sectors: Sequence[str] = ()) -> tuple[float, ...]:
        """Quantiles ``q`` of the value of ``groups`` / ``sectors`` (all if empty)."""
        values = self.metric(metric, groups, sectors, year).values
        return tuple(float(v) for v in np.quantile(values, q))

    def _gain(self, ids: Sequence[str]) -> str:
        """Label suffix for an aggregate of sectors ``ids``: non-market gains are cost savings."""
        market = [self.scenario.sectors[i].market for i in ids]
        if all(market):
            return ""
        return f" ({NON_MARKET})" if not any(market) else f" (incl. {NON_MARKET})"

    def _rows(self) -> list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
        scn = self.scenario
        rows = [("sector", s.id, s.name, (), (s.id,)) for s in scn.sectors.values()]
        rows += [("group", g, g, (g,), ()) for g in scn.groups]
        for n in range(2, len(scn.groups)):
            combo = scn.groups[:n]
            rows.append(("groups", "+".join(combo), " + ".join(combo), combo, ()))
        rows += [("target", t.id, t.name, t.groups, t.sectors) for t in scn.targets.values()]
        rows.append(("total", "total", "All sectors", (), ()))
        return [(level, key, label + self._gain(scn.sectors_in(groups, sectors) if groups or sectors
                                                else list(scn.sectors)), groups, sectors)
                for level, key, label, groups, sectors in rows]

    def summary(self, year: int | None = None, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                metric: str | None = None) -> pd.DataFrame:
        """Mean and quantiles per sector, group, combination of groups, target and in total.

        Parameters
        ----------
        year
            Target year (default: the scenario's).
        quantiles
            Probabilities to report, as columns ``p5``, ``p50``, ...
        metric : {"annual", "cumulative", "full_potential", "both"}, optional
            The reading reported; ``"both"`` is annual and cumulative (default: the
            scenario's estimand, or both for its deprecated ``metric = "both"``).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``(metric, level, id)``; columns ``label`` (non-market gains marked
            as cost and time savings), ``mean`` and quantiles.
        """
        metrics = (self.scenario.meta.metrics if metric is None
                   else ("annual", "cumulative") if metric == "both" else (metric,))
        records = []
        for m in metrics:
            for level, key, label, groups, sectors in self._rows():
                v = self.metric(m, groups, sectors, year).values
                rec = {"metric": m, "level": level, "id": key, "label": label,
                       "mean": float(v.mean())}
                qs = np.quantile(v, quantiles)
                rec.update({f"p{100 * q:g}": float(x) for q, x in zip(quantiles, qs, strict=True)})
                records.append(rec)
        return pd.DataFrame(records).set_index(["metric", "level", "id"])

    def check(self) -> pd.DataFrame:
        """Compare the simulated quantiles with the scenario's published targets.

        Each target is read as its estimand (the scenario's, unless the target states its own).

        Returns
        -------
        pandas.DataFrame
            One row per published bound: ``estimand``, ``published``, ``simulated``,
            ``residual`` (simulated - published), ``tolerance`` and ``ok``.
        """
        rows = []
        for t in self.scenario.targets.values():
            values = self.metric(t.estimand, t.groups, t.sectors, t.year).values
            for which, q, published in t.bounds():
                sim = float(np.quantile(values, q))
                rows.append({"target": t.id, "name": t.name, "estimand": t.estimand,
                             "bound": which, "quantile": q, "published": published,
                             "simulated": sim, "residual": sim - published,
                             "tolerance": t.tolerance, "ok": abs(sim - published) <= t.tolerance,
                             "source": t.source})
        columns = ["target", "name", "estimand", "bound", "quantile", "published", "simulated",
                   "residual", "tolerance", "ok", "source"]
        return pd.DataFrame(rows, columns=columns)

    # ---- intensity
    def intensity(self, year: int | None = None, estimand: str | None = None) -> xr.DataArray:
        """Value over baseline value added, by draw and sector, in ``year``.

        Parameters
        ----------
        year
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
        value = (self._full_potential(year) if estimand == "full_potential"
                 else self.at(self.dataset["value"], year))
        out = value / self.dataset["baseline"].sel(year=year)
        return out.assign_attrs(units="1", long_name=f"value at stake / value added, {year}")

    def check_intensity(self, year: int | None = None, estimand: str | None = None) -> pd.DataFrame:
        """Each sector's intensity (see :meth:`intensity`) against its cited ceiling.

        Returns
        -------
        pandas.DataFrame
            One row per sector: ``median`` and ``p95`` of the intensity, the ``ceiling``
            (``NaN`` if the sector has none), ``ok`` (the median is within the ceiling) and the
            ceiling's ``source``.
        """
        ratio = self.intensity(year, estimand)
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


def _renamed(metric: str) -> str:
    """``metric``, or its new name (with a FutureWarning) if it is an old one."""
    if metric in _RENAMED:
        warnings.warn(f"metric {metric!r} is now called {_RENAMED[metric]!r} (it divides by the "
                      "baseline value added of the scenario's sectors)", FutureWarning, stacklevel=3)
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
