"""The explorer, driven programmatically: sliders re-simulate and redraw."""

import time

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="the explore extra (ipywidgets) is not installed")

import digimpact


@pytest.fixture
def explorer(example):
    return digimpact.explore(example, draws=300, seed=5)


def _total(results) -> np.ndarray:
    return results.metric().values


def test_a_driver_slider_rescales_its_draws_and_redraws(explorer, example):
    before, png = _total(explorer.results), explorer.chart.value
    assert explorer.redraws == 1 and png[:4] == b"\x89PNG"
    explorer.sliders["drivers.realisation"].value = 1.5
    assert explorer.redraws == 2 and explorer.chart.value != png
    after = _total(explorer.results)
    # the same draws, re-evaluated: the total moves in every draw, the other sliders at 1
    assert np.all(after > before)
    reference = digimpact.simulate(example, draws=300, seed=5, progress=False)
    np.testing.assert_array_equal(before, _total(reference))


def test_a_sector_slider_scales_that_sector_only(explorer):
    ds = explorer.results.dataset
    before = ds["value"].copy()
    explorer.sliders["sectors.transport"].value = 0.5
    after = explorer.results.dataset["value"]
    np.testing.assert_allclose(after.sel(sector="transport"), 0.5 * before.sel(sector="transport"))
    np.testing.assert_array_equal(after.sel(sector="retail"), before.sel(sector="retail"))
    assert "Total" in [t.get_text() for t in explorer.figure.axes[0].get_yticklabels()]
    assert "All sectors" in explorer._summary.value


def test_a_change_redraws_within_a_second_on_the_japan_model():
    ex = digimpact.explore("scenarios/japan2030/exhibit5.toml", draws=1000)
    start = time.perf_counter()
    ex.sliders["drivers.talent"].value = 0.8
    elapsed = time.perf_counter() - start
    print(f"explorer: one change on the Japan 2030 model, 1000 draws: {elapsed:.2f} s")
    assert ex.redraws == 2 and ex.seconds > 0


def test_a_missing_extra_says_how_to_install_it(monkeypatch, example):
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    hint = r"the explorer needs ipywidgets \(the explore extra\): pip install \"digimpact\[explore\]\""
    with pytest.raises(ImportError, match=hint):
        digimpact.explore(example, draws=10)
