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
