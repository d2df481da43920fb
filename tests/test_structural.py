"""Structural alternatives: the flat prior keeps each group's total and equalises its shares;
recalibration keeps the group anchored while the sectors move by the hand-computed ratio."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import digimpact
import digimpact.plot
from digimpact.structural import alternatives, envelope, flat_prior, tabulate


def _document(shares, sizes, potential=None):
    """One group, one sector per share (value added ``size``), one use case each, adopted
    fully from 2020, no growth: a sector's value is share x size x the group's level."""
    sectors = {f"s{i}": {"name": f"S{i}", "group": "g", "value_added": size, "gross_output": 2 * size,
                         "growth": 0.0, "source": "test"} for i, size in enumerate(sizes)}
    cases = {f"u{i}": {"name": f"U{i}", "sector": f"s{i}", "stage": "x",
                       "potential": share if potential is None else potential(share),
                       "adoption": {"kind": "step", "year": 2020}, "drivers": ["level"],
                       "source": "test"} for i, share in enumerate(shares)}
    return {
        "scenario": {"title": "two sectors", "unit": "JPY trillion", "base_year": 2018,
                     "horizon": [2020, 2030], "target_year": 2030, "estimand": "annual",
                     "base_measure": "value_added", "counterfactual": "none"},
        "settings": {"draws": 2000, "seed": 7, "sampler": "lhs"},
        "sectors": sectors,
        "drivers": {"level": {"name": "group level", "acts_on": "value",
                              "value": {"dist": "lognormal", "median": 1.0, "sigma": 0.1}}},
        "use_cases": cases,
        "targets": {"g": {"name": "group", "groups": ["g"], "year": 2030, "low": 0.85, "high": 1.18,
                          "quantiles": [0.05, 0.95], "tolerance": 0.01, "source": "test"}},
    }


@pytest.fixture(scope="module")
def skewed():
    # shares 2% and 1% of value added 10 and 30: group mean potential 0.2 + 0.3 = 0.5
    return digimpact.Scenario.from_dict(_document([0.02, 0.01], [10.0, 30.0]))


@pytest.fixture(scope="module")
def table(skewed):
    return alternatives(skewed, {"prior": {}, "flat": flat_prior(skewed)}, draws=2000, seed=3)


def test_flat_prior_hand_computed(skewed):
    # flat share = 0.5 / 40 = 1.25% for both sectors: factors 0.625 and 1.25
    flat = flat_prior(skewed)
    assert flat["use_cases.u0.potential"]["value"] == pytest.approx(0.0125)
    assert flat["use_cases.u1.potential"]["value"] == pytest.approx(0.0125)


def test_flat_prior_scales_the_whole_distribution():
    tri = lambda s: {"dist": "triangular", "low": s / 2, "mode": s, "high": 2 * s, "source": "x"}  # noqa: E731
    s = digimpact.Scenario.from_dict(_document([0.03, 0.01], [10.0, 10.0], tri))
    flat = flat_prior(s)["use_cases.u0.potential"]  # flat share 2%: factor 2/3
    assert flat == pytest.approx({"dist": "triangular", "low": 0.01, "mode": 0.02, "high": 0.04,
                                  "source": "x"})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-4, 0.1), st.floats(0.5, 200.0)), min_size=1, max_size=5))
def test_flat_prior_equalises_shares_and_keeps_the_group_mean(sectors):
    shares, sizes = zip(*sectors, strict=True)
    s = digimpact.Scenario.from_dict(_document(shares, sizes))
    flat = s.with_overrides(flat_prior(s))
    new = np.array([u.potential.mean() for u in flat.use_cases.values()])
    assert np.allclose(new, new[0], rtol=1e-12)
    assert new @ np.array(sizes) == pytest.approx(np.array(shares) @ np.array(sizes), rel=1e-12)


def test_group_stays_anchored_while_sectors_move_by_the_ratio(table):
    prior, flat = table.xs("prior"), table.xs("flat")
    for q in ("p5", "p50", "p95"):
        assert flat.loc[("group", "g"), q] == pytest.approx(prior.loc[("group", "g"), q], rel=1e-9)
        assert flat.loc[("sector", "s0"), q] / prior.loc[("sector", "s0"), q] == pytest.approx(0.625)
        assert flat.loc[("sector", "s1"), q] / prior.loc[("sector", "s1"), q] == pytest.approx(1.25)
    # anchored: the target (0.85, 1.18) is a lognormal of sigma 0.1 (1.18 / 0.85 = e^(2 x 1.645
    # x 0.1)) about a median of 1.0015, met within the tolerance
    assert prior.loc[("group", "g"), ["p5", "p50", "p95"]].tolist() == pytest.approx(
        [0.85, 1.0015, 1.18], abs=0.01)
    assert prior.loc[("sector", "s0"), "p50"] / prior.loc[("group", "g"), "p50"] == pytest.approx(0.4)


def test_without_recalibration_the_levels_are_the_priors(skewed):
    t = alternatives(skewed, {"prior": {}}, recalibrate=False, draws=2000, seed=3)
    # level median 1: the sectors' medians are 0.2 and 0.3
    assert t.xs("prior").loc[("sector", "s0"), "p50"] == pytest.approx(0.2, rel=1e-3)
    assert t.xs("prior").loc[("sector", "s1"), "p50"] == pytest.approx(0.3, rel=1e-3)


def test_envelope_is_the_min_and_max_across_alternatives(table):
    box = envelope(table)
    for key in [("sector", "s0"), ("sector", "s1"), ("group", "g")]:
        rows = table.xs(key, level=["level", "id"])
        assert box.loc[key, "low"] == rows["p5"].min() and box.loc[key, "high"] == rows["p95"].max()
        assert box.loc[key, ["p50_min", "p50_max"]].tolist() == [rows["p50"].min(), rows["p50"].max()]
        assert box.loc[key, "n"] == 2


def test_exhibit5_draws_the_envelope_of_each_sector(skewed, table):
    results = digimpact.simulate(skewed, draws=500, seed=1)
    plain = digimpact.plot.exhibit5(results)
    ax = digimpact.plot.exhibit5(results, envelope=table)
    hollow = [p for p in ax.patches if not p.get_fill()]
    assert len(ax.patches) - len(plain.patches) == len(hollow) == 2  # one per sector
    box = envelope(table)
    for patch, sector in zip(hollow, ["s0", "s1"], strict=True):
        assert patch.get_x() == pytest.approx(box.loc[("sector", sector), "low"])
        assert patch.get_x() + patch.get_width() == pytest.approx(box.loc[("sector", sector), "high"])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "structural envelope (2 alternatives)" in legend


def test_exhibit5_envelope_from_results_matches_the_table(skewed):
    runs = {"prior": digimpact.simulate(skewed, draws=500, seed=1),
            "flat": digimpact.simulate(skewed.with_overrides(flat_prior(skewed)), draws=500, seed=1)}
    from_results = digimpact.plot.exhibit5(runs["prior"], envelope=list(runs.values()))
    from_table = digimpact.plot.exhibit5(runs["prior"], envelope=tabulate(runs))
    extents = [[(p.get_x(), p.get_width()) for p in ax.patches if not p.get_fill()]
               for ax in (from_results, from_table)]
    assert extents[0] == extents[1] and len(extents[0]) == 2
