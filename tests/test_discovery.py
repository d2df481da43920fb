"""Scenario discovery: boxes found on data where the answer is known."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn", reason="the discovery extra (scikit-learn) is not installed")

from digimpact.discovery import boxes
from digimpact.errors import UsageError


@pytest.fixture(scope="module")
def uniform():
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.uniform(size=(5000, 4)), columns=["x1", "x2", "x3", "x4"])


def test_the_box_of_a_known_rule_is_found_with_full_coverage_and_density(uniform):
    # y < X iff x1 < 0.3 and x2 > 0.6 (y = a step function of two inputs, x3 and x4 noise)
    y = np.where((uniform["x1"] < 0.3) & (uniform["x2"] > 0.6), 0.0, 1.0) + 0.1 * uniform["x3"]
    t = boxes(uniform, y < 0.5)
    assert set(t.index.get_level_values("box")) == {1}
    assert list(t.loc[1].index) == ["x1", "x2"]
    assert t.loc[(1, "x1"), "low"] == -np.inf and t.loc[(1, "x1"), "high"] == pytest.approx(0.3, abs=0.01)
    assert t.loc[(1, "x2"), "low"] == pytest.approx(0.6, abs=0.01) and t.loc[(1, "x2"), "high"] == np.inf
    row = t.iloc[0]
    assert row["coverage"] == 1.0 and row["density"] == 1.0
    inside = ((uniform["x1"] < 0.3) & (uniform["x2"] > 0.6)).sum()
    assert row["draws"] == inside and row["mass"] == pytest.approx(inside / len(uniform))


def test_coverage_and_density_are_counted_from_the_draws(uniform):
    # a noisy rule: 80% of the draws in x1 < 0.5 are of interest, 10% elsewhere
    rng = np.random.default_rng(8)
    interest = np.where(uniform["x1"] < 0.5, rng.uniform(size=len(uniform)) < 0.8,
                        rng.uniform(size=len(uniform)) < 0.1)
    t = boxes(uniform, interest, max_depth=1)
    (box,) = set(t.index.get_level_values("box"))
    high = t.loc[(box, "x1"), "high"]
    inside = uniform["x1"] <= high
    assert high == pytest.approx(0.5, abs=0.02)
    assert t["density"].iloc[0] == pytest.approx(interest[inside].mean())
    assert t["coverage"].iloc[0] == pytest.approx(interest[inside].sum() / interest.sum())


def test_two_separate_regions_give_two_boxes_by_decreasing_coverage(uniform):
    interest = (uniform["x1"] < 0.2) | (uniform["x1"] > 0.7)  # 20% and 30% of the draws
    t = boxes(uniform, interest, max_depth=2)
    first, second = t.xs("x1", level="input").sort_index().itertuples()
    assert first.coverage > second.coverage
    assert first.low == pytest.approx(0.7, abs=0.01) and second.high == pytest.approx(0.2, abs=0.01)
    assert first.coverage + second.coverage == pytest.approx(1.0)


def test_mistakes_are_usage_errors(uniform):
    with pytest.raises(UsageError, match="no draw is of interest"):
        boxes(uniform, np.zeros(len(uniform), bool))
    with pytest.raises(UsageError, match="one boolean per draw"):
        boxes(uniform, np.ones(3, bool))
    with pytest.raises(UsageError, match="min_mass"):
        boxes(uniform, np.ones(len(uniform), bool), min_mass=0)


def test_a_missing_extra_says_how_to_install_it(monkeypatch, uniform):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.tree", None)
    hint = (r"scenario discovery needs sklearn.tree \(the discovery extra\): "
            r"pip install \"digimpact\[discovery\]\"")
    with pytest.raises(ImportError, match=hint):
        boxes(uniform, uniform["x1"] < 0.5)
