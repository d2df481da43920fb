"""Charts: the Exhibit 5 range chart and adoption curves with uncertainty bands.

Each function draws on ``ax`` (a new figure if omitted) and returns the axes; :func:`scorecard`
draws one panel per KPI and returns their axes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .options import MetricName
    from .records import Kpi, Target
    from .results import Results
    from .scenario import Scenario
    from .update import Posterior

__all__ = ["adoption", "convergence", "distribution", "exhibit5", "fan", "scatter", "scorecard",
           "sensitivity", "tornado"]

_BLUE, _GREY, _RED, _ORANGE = "#1f5fa8", "#9aa5b1", "#c0392b", "#e67e22"


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


class _Style(NamedTuple):
    """Colour and line style of one series."""

    color: str
    ls: str


def _series_style(i: int) -> _Style:
    """Colour and line style of the ``i``-th of many series: the ten colours of matplotlib's
    ``tab10`` cycle, solid, then dashed, then dotted (30 distinct series)."""
    from matplotlib import colors

    return _Style(colors.to_hex(f"tab:{_TAB10[i % 10]}"), ("-", "--", ":")[i // 10 % 3])


_TAB10 = ("blue", "orange", "green", "red", "purple", "brown", "pink", "gray", "olive", "cyan")


def _legend_outside(ax: Axes) -> None:
    """A legend to the right of the axes, clear of the data."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


class _ChartRow(NamedTuple):
    """A row of the Exhibit 5 chart: a sector (grey) or an aggregate of sectors (blue)."""

    kind: Literal["sector", "aggregate"]
    label: str
    sectors: tuple[str, ...]
    target: Target | None


def _chart_rows(scenario: Scenario) -> list[_ChartRow]:
    """Each group's sectors, each followed by the aggregates they complete, from
    :meth:`Scenario.report_rows`: one row per distinct set of sectors (a target's if any
    target adds up that set), the total last."""
    chosen: dict[frozenset[str], _ChartRow] = {}
    for row in scenario.report_rows():
        if row.level == "sector":
            continue
        label = {"group": f"{row.label} (group)", "total": "Total"}.get(row.level, row.label)
        ids = tuple(scenario.sectors_in(row.groups, row.sectors) or scenario.sectors)  # total: all
        key = frozenset(ids)
        if key not in chosen or (row.target is not None and chosen[key].target is None):
            chosen[key] = _ChartRow("aggregate", label, ids, row.target)
    rows: list[_ChartRow] = []
    seen: set[str] = set()
    for g in scenario.groups:
        members = scenario.sectors_in((g,))
        rows += [_ChartRow("sector", scenario.sectors[s].name, (s,), None) for s in members]
        seen.update(members)
        rows += [chosen.pop(key) for key in [k for k in chosen if k <= seen]]
    return rows


Envelope: TypeAlias = "pd.DataFrame | Mapping[str, Results] | Sequence[Results]"


def _envelope(envelope: Envelope, quantiles: Sequence[float], year: int) -> pd.DataFrame:
    """:func:`digimpact.structural.envelope` of a table or of (named) results."""
    from .results import quantile_label
    from .structural import envelope as across
    from .structural import tabulate

    if isinstance(envelope, pd.DataFrame):
        table = envelope
    else:
        named = envelope if isinstance(envelope, Mapping) else dict(enumerate(envelope))
        table = tabulate(named, year=year, quantiles=(quantiles[0], 0.5, quantiles[1]))
    return across(table, quantile_label(quantiles[0]), quantile_label(quantiles[1]))


def exhibit5(results: Results, ax: Axes | None = None, year: int | None = None,
             quantiles: Sequence[float] = (0.05, 0.95), *, envelope: Envelope | None = None,
             posterior: Posterior | None = None) -> Axes:
    """Range chart in the structure of Exhibit 5: sectors, subtotals, total, published marks.

    Each row is a bar from the lower to the upper quantile of the simulated value in
    ``year``, read as the scenario's estimand (median ticked). Aggregate rows with a
    published target show the published low and high as red markers beside the simulated bar;
    the legend names the targets' source. With a ``posterior`` (:func:`digimpact.update`),
    each row has two bars: the prior ``results`` above and the updated (weighted) ranges
    below, in orange.

    ``envelope`` (a table of :func:`digimpact.structural.alternatives`, or named results)
    adds behind each sector's bar a hollow box from the lowest lower quantile to the highest
    upper quantile across the alternatives: the structural uncertainty of the sector split.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=500, seed=1)
    >>> ax = digimpact.plot.exhibit5(r)
    >>> len(ax.get_yticks()) >= 4
    True
    >>> from digimpact.structural import flat_prior
    >>> flat = digimpact.simulate(r.scenario.with_overrides(flat_prior(r.scenario)), draws=500)
    >>> ax = digimpact.plot.exhibit5(r, envelope={"prior": r, "flat": flat})
    >>> len(ax.patches) - len(ax.get_yticks())  # one box per sector
    3
    """
    rows = _chart_rows(results.scenario)
    ax = _axes(ax, (9, (0.38 if posterior is None else 0.6) * len(rows) + 1.5))
    year = results.scenario.meta.target_year if year is None else year
    box = None if envelope is None else _envelope(envelope, quantiles, year)
    q = [quantiles[0], 0.5, quantiles[1]]
    bars = [(results, 0.0, 0.55, None)] if posterior is None else [
        (results, -0.17, 0.32, "prior"), (posterior, 0.17, 0.32, "updated")]
    labels = []
    for i, (kind, label, ids, target) in enumerate(rows):
        if box is not None and kind == "sector":
            low, high = box.loc[("sector", ids[0]), ["low", "high"]]
            ax.barh(i, high - low, left=low, height=0.75, fill=False, edgecolor=_BLUE, lw=0.8,
                    ls="--", zorder=0)
        for source, shift, height, which in bars:
            lo, med, hi = source.interval(metric=results.scenario.meta.estimand, sectors=ids,
                                          year=year, q=q)
            colour = _ORANGE if which == "updated" else _BLUE if kind == "aggregate" else _GREY
            ax.barh(i + shift, hi - lo, left=lo, height=height, color=colour, alpha=0.85)
            ax.plot([med, med], [i + shift - height / 2, i + shift + height / 2], color="black", lw=1)
            ax.text(hi, i + shift, f"  {lo:.1f}-{hi:.1f}", va="center", fontsize=8 if which is None else 7)
        if target is not None:
            for _, _, published in target.bounds():
                ax.plot(published, i + 0.38, marker="v", color=_RED, ms=7, ls="none")
        labels.append(label)
    span = f"{100 * quantiles[0]:g}-{100 * quantiles[1]:g}%"
    if any(row.target is not None for row in rows):
        ax.plot([], [], marker="v", color=_RED, ls="none", label=_published_label(results.scenario))
    ax.barh([], [], color=_BLUE, label=f"simulated {span}" if posterior is None else f"prior {span}")
    if posterior is not None:
        ax.barh([], [], color=_ORANGE, label=f"updated on observations {span} (ESS {posterior.ess:.0f})")
    handles = ax.get_legend_handles_labels()[0]
    if box is not None:
        from matplotlib.patches import Patch

        handles.append(Patch(fill=False, edgecolor=_BLUE, ls="--",
                             label=f"structural envelope ({int(box['n'].max())} alternatives)"))
    ax.set_xlim(0, ax.get_xlim()[1] * 1.12)  # room for the range labels
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"{results.unit}, annual value in {year}")
    ax.set_title(textwrap.fill(results.scenario.title, 55), fontsize=10)
    ax.legend(handles=handles, loc="best", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


def _published_label(scenario: Scenario) -> str:
    """Legend of the published marks: "published target" and where the targets come from
    (the ``[scenario]`` table's ``source``, else the targets' own if they share one)."""
    source = scenario.document.get("scenario", {}).get("source")
    if not source:
        sources = {t.source for t in scenario.targets.values()}
        source = sources.pop() if len(sources) == 1 else "each target's source"
    return textwrap.fill(f"published target ({source})", 60) if source else "published target"


def _kpi_band(source: Results, kpi: Kpi, band: Sequence[float], weights: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Years and quantiles ``(3, Y)`` (band low, median, band high) of a KPI's probes."""
    from .weights import weighted_quantile

    years = np.array(list(source.scenario.years))
    values = source.dataset["prediction"].sel(probe=[f"kpi.{kpi.id}.{y}" for y in years]).values
    q = [band[0], 0.5, band[1]]
    return years, (np.quantile(values, q, axis=0) if weights is None
                   else weighted_quantile(values, weights, q))


def _error_bar(obs) -> tuple[float, float]:
    """The 90% error bar of an observation, below and above its value."""
    from .weights import Z90

    e = obs.error
    if e.interval is not None:
        return obs.value - e.interval[0], e.interval[1] - obs.value
    half = Z90 * (e.sd if e.sd is not None else e.relative * abs(obs.value))
    return half, half


def scorecard(results: Results, posterior: Posterior | None = None, *, kpis: Sequence[str] | None = None,
              band: Sequence[float] = (0.05, 0.95), ncols: int = 2, axes: Sequence[Axes] | None = None
              ) -> np.ndarray:
    """One panel per KPI (Exhibit 21 metric): the report's milestones (red), the observed
    points with 90% error bars (circles for the same series, squares for proxies; hollow
    for points only shown, filled for points that entered the update), and the ``band`` of
    the model's KPI over the years, prior (blue) and updated (orange).

    ``results`` is what :func:`digimpact.update` returns (a :class:`~digimpact.update.Posterior`,
    whose :attr:`~digimpact.update.Posterior.prior` gives the prior band), or any results with
    the ``posterior`` beside it.

    Returns
    -------
    numpy.ndarray of Axes
        One per KPI, in the scenario's order (or that of ``kpis``).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml").replace(
    ...     kpis={"k": {"profiles": ["retail_wave1"], "scale": 100, "definition": "mean, in %",
    ...                 "unit": "%", "milestones": {"2020": 5, "2030": 40}}},
    ...     observations={"o": {"kpi": "k", "year": 2023, "value": 12.0, "error": {"sd": 2.0}}})
    >>> axes = digimpact.plot.scorecard(digimpact.update(s, draws=500, seed=1, min_ess=1))
    >>> len(axes)
    1
    """
    from .update import Posterior

    if posterior is None and isinstance(results, Posterior):
        posterior = results
    prior = posterior.prior if posterior is not None else results
    if "prediction" not in prior.dataset:
        raise ValueError("these results have no KPIs per draw: pass what digimpact.update returns")
    scn = prior.scenario
    chosen = [scn.kpis[k] for k in (kpis if kpis is not None else scn.kpis)]
    if axes is None:
        import matplotlib.pyplot as plt

        nrows = -(-len(chosen) // ncols)
        _, grid = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.4 * nrows), layout="constrained",
                               squeeze=False)
        for ax in grid.flat[len(chosen):]:
            ax.set_visible(False)
        axes = list(grid.flat[:len(chosen)])
    entered = set(posterior.dataset["observation"].values) if posterior is not None else set()
    for kpi, ax in zip(chosen, axes, strict=True):
        bands = [("prior", prior, None)] + ([("updated", posterior, posterior.weights)] if posterior else [])
        for label, source, weights in bands:
            colour = _BLUE if weights is None else _ORANGE
            years, (lo, med, hi) = _kpi_band(source, kpi, band, weights)
            ax.fill_between(years, lo, hi, color=colour, alpha=0.25, lw=0)
            ax.plot(years, med, color=colour, lw=1.5, label=f"model, {label}")
        if kpi.milestones:
            ax.plot(list(kpi.milestones), list(kpi.milestones.values()), marker="*", ms=10, color=_RED,
                    ls=":", label="report milestones")
        for obs in (o for o in scn.observations.values() if o.target == "kpi" and o.of == kpi.id):
            filled = obs.id in entered
            ax.errorbar(obs.year, obs.value, yerr=np.array([_error_bar(obs)]).T, color="black", lw=1,
                        marker="s" if obs.series == "proxy" else "o", ms=5, capsize=2,
                        mfc="black" if filled else "white", ls="none")
        ax.set_title(textwrap.fill(kpi.name, 45), fontsize=9)
        ax.set_ylabel(kpi.unit)
        ax.grid(alpha=0.3)
    for marker, face, text in [("o", "black", "observed, entered the update"),
                               ("o", "white", "observed, shown only"), ("s", "white", "proxy series")]:
        axes[0].plot([], [], color="black", ls="none", marker=marker, mfc=face, label=text)
    axes[0].legend(fontsize=7, loc="upper left")
    return np.array(axes)


def adoption(source: Results | Scenario, sectors: Sequence[str] | None = None,
             ax: Axes | None = None, draws: int = 500, band: Sequence[float] = (0.05, 0.95),
             seed: int = 0) -> Axes:
    """Adoption by sector over the horizon: median and uncertainty band.

    A sector's adoption is the potential-weighted mean of its use cases' adoption shares
    (weights: median value potential). ``source`` is a Results with use cases kept, or a
    Scenario, which is simulated with ``draws`` draws. Up to 30 sectors have distinct
    colour and line-style pairs; the legend is outside the axes.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> ax = digimpact.plot.adoption(s, draws=200)
    >>> len(ax.get_lines()) == len(s.sectors)
    True
    """
    from .engine import simulate
    from .results import Results

    results = source if isinstance(source, Results) else simulate(
        source, draws=draws, seed=seed, keep_use_cases=True, progress=False)
    if "adoption" not in results.dataset:
        raise ValueError("these results have no use-case detail; simulate with keep_use_cases=True")
    scn = results.scenario
    ds = results.dataset
    ax = _axes(ax, (10, 5))
    drawn = [sid for sid in sectors or list(scn.sectors)
             if any(u.sector == sid for u in scn.use_cases.values())]
    for i, sid in enumerate(drawn):
        members = [u for u in scn.use_cases.values() if u.sector == sid]
        weights = np.array([u.potential.median() for u in members])
        share = (ds["adoption"].sel(use_case=[u.id for u in members])
                 * weights[None, :, None]).sum("use_case") / weights.sum()
        lo, med, hi = np.quantile(share.values, [band[0], 0.5, band[1]], axis=0)
        style = _series_style(i)
        ax.plot(ds["year"], med, label=scn.sectors[sid].name, color=style.color, ls=style.ls)
        ax.fill_between(ds["year"], lo, hi, color=style.color, alpha=0.15)
    ax.set_ylim(0, 1)
    ax.set_ylabel("adoption (share of potential captured)")
    ax.set_xlabel("year")
    _legend_outside(ax)
    ax.grid(alpha=0.3)
    return ax


def fan(results: Results, groups: Sequence[str] | None = None, ax: Axes | None = None,
        bands: Sequence[float] = (0.5, 0.9)) -> Axes:
    """Fan chart of value over the horizon: median line and central bands, per group.

    Parameters
    ----------
    groups
        Sector groups to draw, ``"total"`` for all sectors (default: every group and the total).
    bands
        Central probability of each band (0.5 and 0.9: the 25-75% and 5-95% ranges).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=300, seed=1)
    >>> len(digimpact.plot.fan(r).get_lines())
    3
    """
    ax = _axes(ax, (8, 5))
    scn = results.scenario
    series = [(g, () if g == "total" else (g,)) for g in (groups or [*scn.groups, "total"])]
    years = results.dataset["year"].values
    for label, gs in series:
        values = results.aggregate(gs).transpose("draw", "year").values
        line, = ax.plot(years, np.median(values, axis=0), label=label)
        for i, band in enumerate(sorted(bands, reverse=True)):
            lo, hi = np.quantile(values, [(1 - band) / 2, (1 + band) / 2], axis=0)
            ax.fill_between(years, lo, hi, color=line.get_color(), alpha=0.12 + 0.12 * i, lw=0)
    ax.set_xlabel("year")
    ax.set_ylabel(f"{results.unit}, annual value")
    ax.set_title(f"Median and central {', '.join(f'{100 * b:g}%' for b in bands)} bands",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def distribution(results: Results, groups: Sequence[str] = (), ax: Axes | None = None,
                 year: int | None = None, bins: int = 60) -> Axes:
    """Histogram of the value of ``groups`` (all sectors if empty) in ``year``, read as the
    scenario's estimand, with its 5-95% range and, where a target adds up the same sectors,
    the published bounds.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=300, seed=1)
    >>> digimpact.plot.distribution(r, ["core"]).get_xlabel()
    'JPY trillion in 2030 (core)'
    """
    ax = _axes(ax, (7, 4))
    scn = results.scenario
    values = results.metric(scn.meta.estimand, groups=groups, year=year).values
    ax.hist(values, bins=bins, color=_GREY, density=True)
    for q in np.quantile(values, [0.05, 0.95]):
        ax.axvline(q, color=_BLUE, lw=1.5)
    ax.axvline(np.nan, color=_BLUE, lw=1.5, label="simulated 5% / 95%")
    ids = set(scn.sectors_in(groups) if groups else scn.sectors)
    for t in scn.targets.values():
        if set(scn.sectors_in(t.groups, t.sectors)) == ids:
            for _, _, published in t.bounds():
                ax.axvline(published, color=_RED, ls="--", lw=1.5)
            ax.axvline(np.nan, color=_RED, ls="--", label=f"published: {t.name}")
    ax.set_xlabel(f"{results.unit} in {year or scn.meta.target_year}"
                  f" ({' + '.join(groups) if groups else 'all sectors'})")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def _ranked(table: pd.DataFrame, ax: Axes | None, top: int) -> tuple[pd.DataFrame, Axes, np.ndarray]:
    """The first ``top`` rows of a ranked table, axes sized for them, and their bar positions."""
    t = table.head(top)
    ax = _axes(ax, (8, 0.35 * len(t) + 1.5))
    ax.set_yticks(range(len(t)), list(t.index))
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return t, ax, np.arange(len(t))


def sensitivity(table: pd.DataFrame, ax: Axes | None = None, top: int = 15) -> Axes:
    """Ranked bars of Sobol' indices (total and first order) with their confidence intervals.

    ``table`` is the output of :func:`digimpact.sensitivity` with ``method="sobol"``.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> s = digimpact.sensitivity("scenarios/examples/minimal.toml", by="sector", draws=128)
    >>> len(digimpact.plot.sensitivity(s).get_yticks()) == len(s)
    True
    """
    t, ax, y = _ranked(table, ax, top)
    ax.barh(y - 0.2, t["ST"], height=0.4, xerr=t["ST_conf"], color=_BLUE, label="total (ST)")
    ax.barh(y + 0.2, t["S1"], height=0.4, xerr=t["S1_conf"], color=_GREY, label="first order (S1)")
    a = table.attrs
    ax.set_xlabel(f"share of the variance of {a.get('output', 'the output')} in {a.get('year', '')}")
    ax.legend(fontsize=8)
    return ax


def tornado(table: pd.DataFrame, ax: Axes | None = None, top: int = 15) -> Axes:
    """Tornado chart: each group's output at its 5th and 95th percentile, others at median.

    ``table`` is the output of :func:`digimpact.sensitivity` with ``method="tornado"``.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from digimpact import load_scenario, plot, sensitivity
    >>> swings = sensitivity(load_scenario("scenarios/examples/minimal.toml"), method="tornado")
    >>> ax = plot.tornado(swings, top=3)  # two bars a row
    >>> len(ax.patches), len(ax.get_yticks())
    (6, 3)
    """
    t, ax, y = _ranked(table, ax, top)
    base = float(t["base"].iloc[0])
    ax.barh(y, t["low"] - base, left=base, color=_GREY, label="group at its 5th percentile")
    ax.barh(y, t["high"] - base, left=base, color=_BLUE, label="group at its 95th percentile")
    ax.axvline(base, color="black", lw=1)
    a = table.attrs
    ax.set_xlabel(f"{a.get('output', 'output')} in {a.get('year', '')} ({a.get('unit', '')}); "
                  "others at their median")
    ax.legend(fontsize=8)
    return ax


def scatter(results: Results, input: str, output: str = "total", *, ax: Axes | None = None,
            year: int | None = None, metric: MetricName = "annual") -> Axes:
    """Each draw's sampled ``input`` against ``output``, with their Spearman rank correlation.

    ``results`` must keep the draws' inputs (``simulate(..., keep_inputs=True)``); ``input``
    is a parameter's stream name (``results.dataset["parameter"]``), ``output`` is
    ``"total"``, a group, a sector or a target id.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import digimpact, digimpact.plot
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=500, seed=1,
    ...                        keep_inputs=True)
    >>> ax = digimpact.plot.scatter(r, "drivers.realisation.value", "core")
    >>> len(ax.collections[0].get_offsets())
    500
    """
    from scipy import stats

    from .errors import UsageError, did_you_mean
    from .sampled import draws_table

    inputs, y = draws_table(results, output, year, metric)
    if input not in inputs.columns:
        raise UsageError(f"no kept input {input!r}{did_you_mean(input, inputs.columns)}; the "
                         f"inputs are the uncertain parameters, e.g. {inputs.columns[0]!r}")
    ax = _axes(ax, (7, 4.5))
    x = inputs[input].to_numpy()
    ax.scatter(x, y, s=6, alpha=min(1.0, 40 / np.sqrt(len(y))), color=_BLUE, lw=0)
    rho = stats.spearmanr(x, y).statistic
    ax.set_xlabel(input)
    ax.set_ylabel(f"{output}, {results.unit} ({metric}, {year or results.scenario.meta.target_year})")
    ax.set_title(f"{len(y):,} draws; Spearman rank correlation {rho:.2f}", fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def convergence(results: Results, *, target: str | None = None,
                quantiles: Sequence[float] | None = None, points: int = 30,
                coverage: float = 0.95, ax: Axes | None = None) -> Axes:
    """Running quantiles against the number of draws, with their Monte Carlo intervals.

    For each of ``points`` sizes ``m`` (log-spaced up to all draws), the quantiles of the
    first ``m`` draws and their order-statistic intervals
    (:func:`digimpact.mcerror.running_intervals`): a line and a band per quantile.

    Parameters
    ----------
    results : Results
        A simulation.
    target : str, optional
        A target id: its value and quantiles, with the published figures as dashed lines
        (default: the total, at the 5%, 50% and 95% quantiles).
    quantiles : sequence of float, optional
        Probabilities to follow (default: the target's, or 5%, 50% and 95%).
    points : int, default: 30
        Number of draw counts.
    coverage : float, default: 0.95
        Coverage of the bands.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from digimpact import plot, simulate
    >>> ax = plot.convergence(simulate("scenarios/examples/minimal.toml", draws=1000, seed=1),
    ...                       target="core")
    >>> len(ax.lines)  # two quantiles and two published figures
    4
    """
    from .mcerror import running_intervals
    from .results import quantile_label

    ax = _axes(ax, (8, 4.5))
    published: list[float] = []
    if target is None:
        values, name = results.metric(results.scenario.meta.estimand).values, "All sectors"
        quantiles = (0.05, 0.5, 0.95) if quantiles is None else quantiles
    else:
        t = results.scenario.targets[target]
        values = results.metric(t.estimand, groups=t.groups, sectors=t.sectors, year=t.year).values
        name = t.name
        bounds = t.bounds()
        quantiles = [q for _, q, _ in bounds] if quantiles is None else quantiles
        published = [p for _, _, p in bounds]
    n = values.size
    sizes = np.unique(np.geomspace(min(n, 20), n, points).astype(int))
    iv = running_intervals(values, quantiles, sizes, coverage=coverage)
    for j, q in enumerate(quantiles):
        (line,) = ax.plot(sizes, iv.estimate[:, j], label=quantile_label(q))
        finite = np.isfinite(iv.low[:, j]) & np.isfinite(iv.high[:, j])
        ax.fill_between(sizes[finite], iv.low[finite, j], iv.high[finite, j], color=line.get_color(),
                        alpha=0.2, linewidth=0)
    for p in published:
        ax.axhline(p, color=_RED, linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("draws")
    ax.set_ylabel(results.unit)
    ax.set_title(f"{name}: running quantiles with {100 * coverage:g}% Monte Carlo intervals")
    ax.legend(loc="best", fontsize=8)
    return ax
