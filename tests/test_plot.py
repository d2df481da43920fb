"""Charts draw what they claim: one row per sector and subtotal, published marks, bands."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import digimpact
import digimpact.plot


@pytest.fixture(scope="module")
def results(example_path):
    return digimpact.simulate(example_path, draws=400, seed=2, keep_use_cases=True, progress=False)


def test_exhibit5_rows_bars_and_published_marks(results):
    ax = digimpact.plot.exhibit5(results)
    scn = results.scenario
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert [s.name for s in scn.sectors.values()] == [x for x in labels if x in
                                                       {s.name for s in scn.sectors.values()}]
    assert "Core sectors" in labels and "Total" in labels  # target row replaces its group's
    bars = [p for p in ax.patches if p.get_height() > 0]
    assert len(bars) == len(labels)
    core = bars[labels.index("Core sectors")]
    lo, hi = results.interval(groups=["core"])
    assert core.get_x() == pytest.approx(lo) and core.get_x() + core.get_width() == pytest.approx(hi)
    marks = [line for line in ax.get_lines() if line.get_marker() == "v" and len(line.get_xdata())]
    assert sorted(float(m.get_xdata()[0]) for m in marks) == [2.0, 3.5]


def test_adoption_bands_follow_the_simulation(results):
    ax = digimpact.plot.adoption(results, sectors=["transport"])
    (line,) = ax.get_lines()
    ds, scn = results.dataset, results.scenario
    members = [u for u in scn.use_cases.values() if u.sector == "transport"]
    w = np.array([u.potential.median() for u in members])
    share = (ds["adoption"].sel(use_case=[u.id for u in members]).values * w[None, :, None]).sum(1) / w.sum()
    assert np.allclose(line.get_ydata(), np.median(share, axis=0))


def test_adoption_needs_use_case_detail(example_path):
    r = digimpact.simulate(example_path, draws=50, progress=False)
    with pytest.raises(ValueError, match="keep_use_cases"):
        digimpact.plot.adoption(r)


KPI = {"k": {"profiles": ["retail_wave1"], "scale": 100, "definition": "mean, in %", "unit": "%",
             "milestones": {"2020": 5, "2030": 40}}}
OBSERVED = {"same": {"kpi": "k", "year": 2023, "value": 12.0, "error": {"sd": 2.0}},
            "proxy": {"kpi": "k", "year": 2024, "value": 20.0, "error": {"low": 18, "high": 22},
                      "series": "proxy", "mismatch_sd": 3.0},
            "shown": {"kpi": "k", "year": 2025, "value": 25.0, "error": {"relative": 0.1},
                      "use": "shown"}}


@pytest.fixture(scope="module")
def posterior(example):
    s = example.replace(kpis=KPI, observations=OBSERVED)
    return digimpact.update(s, draws=600, seed=3, min_ess=1)


def test_scorecard_bands_milestones_and_observed_points(posterior):
    from digimpact.weights import Z90, weighted_quantile

    (ax,) = digimpact.plot.scorecard(posterior)
    years = np.arange(2020, 2031)
    values = posterior.dataset["prediction"].sel(probe=[f"kpi.k.{y}" for y in years]).values
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["model, prior"].get_ydata(), np.quantile(values, 0.5, axis=0))
    np.testing.assert_allclose(lines["model, updated"].get_ydata(),
                               weighted_quantile(values, posterior.weights, 0.5))
    assert list(lines["report milestones"].get_ydata()) == [5, 40]
    points = [line for line in ax.get_lines() if line.get_marker() in ("o", "s") and len(line.get_xdata())]
    faces = {int(p.get_xdata()[0]): (p.get_marker(), p.get_markerfacecolor()) for p in points}
    assert faces == {2023: ("o", "black"), 2024: ("s", "black"), 2025: ("o", "white")}
    bars = list(ax.containers)
    spans = sorted(tuple(np.round(np.ptp(seg, axis=0)[1], 6) for seg in b.lines[2][0].get_segments())
                   for b in bars)
    assert spans == sorted([(round(2 * Z90 * 2.0, 6),), (4.0,), (round(2 * Z90 * 2.5, 6),)])


def test_scorecard_needs_kpis_per_draw(results):
    with pytest.raises(ValueError, match=r"digimpact\.update"):
        digimpact.plot.scorecard(results)


def test_exhibit5_with_a_posterior_draws_prior_and_updated_bars(posterior):
    ax = digimpact.plot.exhibit5(posterior.prior, posterior=posterior)
    bars = [p for p in ax.patches if p.get_height() > 0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(bars) == 2 * len(labels)
    total = labels.index("Total")
    prior, updated = bars[2 * total], bars[2 * total + 1]
    lo, hi = posterior.prior.interval()
    assert prior.get_x() == pytest.approx(lo) and prior.get_x() + prior.get_width() == pytest.approx(hi)
    lo, hi = posterior.interval()
    assert updated.get_x() == pytest.approx(lo) and updated.get_x() + updated.get_width() == pytest.approx(hi)


def test_exhibit5_legend_names_the_targets_source(results, example):
    ax = digimpact.plot.exhibit5(results)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "published target (illustrative)" in labels  # the example's target source
    japan = digimpact.load_scenario("scenarios/japan2030/exhibit5.toml")
    label = digimpact.plot._published_label(japan)
    assert label.startswith("published target (ACCJ / McKinsey") and "Exhibit 5" in label
    untargeted = digimpact.simulate(example.with_overrides({"targets": {}}), draws=50, progress=False)
    assert digimpact.plot.exhibit5(untargeted).get_legend().get_texts()[0].get_text().startswith("simulated")


def test_adoption_gives_sixteen_sectors_distinct_styles_and_an_outside_legend():
    styles = [digimpact.plot._series_style(i) for i in range(16)]
    assert len(set(styles)) == 16
    japan = digimpact.load_scenario("scenarios/japan2030/exhibit5.toml")
    ax = digimpact.plot.adoption(japan, draws=50)
    lines = ax.get_lines()
    assert len(lines) == len(japan.sectors) == 16
    assert len({(line.get_color(), line.get_linestyle()) for line in lines}) == 16
    ax.figure.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # right of the plotting area, over no curve


def test_convergence_lines_bands_and_published_marks(results):
    ax = digimpact.plot.convergence(results, target="core", points=12)
    target = results.scenario.targets["core"]
    published = [p for _, _, p in target.bounds()]
    lines = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert len(lines) == 2 and len(ax.collections) == 2  # a line and a band per quantile
    assert sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--") == published
    x, y = lines[1].get_data()
    assert x[-1] == 400 and len(x) <= 12
    assert y[-1] == pytest.approx(results.interval(groups=["core"], q=(0.95,))[0])
    total = digimpact.plot.convergence(results)
    assert [t.get_text() for t in total.get_legend().get_texts()] == ["p5", "p50", "p95"]
