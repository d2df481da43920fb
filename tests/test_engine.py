"""The Monte Carlo engine and its results: hand computations, reproducibility, provenance,
summaries, targets and files."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import xarray as xr
from hypothesis import example, given, settings
from hypothesis import strategies as st

import digimpact
from digimpact import ScenarioError
from digimpact.errors import SimulationError, UsageError
from digimpact.sampling import make_sampler

SAMPLERS = ["random", "lhs", "sobol"]


# ----------------------------------------------------------------------------- by hand
HAND = """
[scenario]
title = "Hand computed"
unit = "u"
base_year = 2018
horizon = [2020, 2024]
metric = "both"
target_year = 2023

[settings]
draws = 7
seed = 3
sampler = "random"

[sectors.a]
group = "g1"
value_added = 100.0
growth = 0.02
potential_scale = 0.5

[sectors.b]
group = "g2"
value_added = 50.0
growth = -0.01
year = 2019

[drivers.fast]
acts_on = "speed"
value = 1.5

[drivers.more]
acts_on = "value"
value = 1.2

[use_cases.log]
sector = "a"
potential = 0.02
adoption = { kind = "logistic", midpoint = 2022, steepness = 0.7, ceiling = 0.9 }
drivers = ["fast"]

[use_cases.lin]
sector = "a"
potential = 0.01
adoption = { kind = "linear", start = 2019, end = 2027, ceiling = 0.6 }
drivers = ["more"]

[use_cases.tab]
sector = "b"
potential = 0.03
adoption = { kind = "table", points = { 2019 = 0.1, 2022 = 0.4, 2026 = 0.5 }, scale = 0.8 }
drivers = ["fast", "more"]

[targets.t1]
groups = ["g1"]
year = 2023
low = 0.9
high = 1.2
quantiles = [0.1, 0.9]
tolerance = 0.15

[targets.cum]
sectors = ["b"]
metric = "cumulative"
year = 2022
high = 1.5
tolerance = 0.2
"""

YEARS = [2020, 2021, 2022, 2023, 2024]


def hand_values() -> dict[str, list[float]]:
    """The HAND scenario, year by year, with plain Python arithmetic."""
    t0, speed, more = 2020, 1.5, 1.2

    def base_a(y):
        return 100.0 * 1.02 ** (y - 2018) * 0.5

    def base_b(y):
        return 50.0 * 0.99 ** (y - 2019)

    def table(t):  # (2019, 0.1) - (2022, 0.4) - (2026, 0.5), flat outside
        if t <= 2019:
            return 0.1
        if t <= 2022:
            return 0.1 + (0.4 - 0.1) * (t - 2019) / 3
        if t <= 2026:
            return 0.4 + (0.5 - 0.4) * (t - 2022) / 4
        return 0.5

    out = {"adopt_log": [], "adopt_lin": [], "adopt_tab": [], "log": [], "lin": [], "tab": []}
    for y in YEARS:
        fast_clock = t0 + speed * (y - t0)
        a_log = 0.9 / (1 + math.exp(-0.7 * (fast_clock - 2022)))
        a_lin = 0.6 * min(max((y - 2019) / (2027 - 2019), 0.0), 1.0)
        a_tab = 0.8 * table(fast_clock)
        out["adopt_log"].append(a_log)
        out["adopt_lin"].append(a_lin)
        out["adopt_tab"].append(a_tab)
        out["log"].append(base_a(y) * 0.02 * a_log)
        out["lin"].append(base_a(y) * 0.01 * more * a_lin)
        out["tab"].append(base_b(y) * 0.03 * more * a_tab)
    out["a"] = [x + z for x, z in zip(out["log"], out["lin"], strict=True)]
    out["b"] = list(out["tab"])
    out["total"] = [x + z for x, z in zip(out["a"], out["b"], strict=True)]
    out["baseline_a"] = [100.0 * 1.02 ** (y - 2018) for y in YEARS]
    out["baseline_b"] = [base_b(y) for y in YEARS]
    return out


@pytest.fixture(scope="module")
def hand_scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "hand.toml"
    path.write_text(HAND)
    return digimpact.load_scenario(path)


@pytest.fixture(scope="module")
def hand_results(hand_scenario, run):
    return run(hand_scenario, keep_use_cases=True)


def test_hand_table_spot_values():
    # guard the hand computation itself: speed 1.5 puts 2022 at the clock year 2023
    h = hand_values()
    assert h["adopt_tab"][2] == pytest.approx(0.8 * (0.4 + 0.1 / 4))
    assert h["adopt_log"][0] == pytest.approx(0.9 / (1 + math.exp(1.4)))
    assert h["adopt_lin"][0] == pytest.approx(0.6 / 8)


def test_zero_uncertainty_equals_hand_computation(hand_results):
    h = hand_values()
    ds = hand_results.dataset
    assert ds["value"].dims == ("draw", "sector", "year")
    assert ds["value"].shape == (7, 2, 5)
    assert ds["year"].values.tolist() == YEARS
    assert ds["sector"].values.tolist() == ["a", "b"]
    assert ds["use_case"].values.tolist() == ["log", "lin", "tab"]
    for d in range(7):  # every draw is the same
        for uc in ("log", "lin", "tab"):
            np.testing.assert_allclose(ds["use_case_value"].sel(use_case=uc).values[d], h[uc],
                                       rtol=1e-12)
            np.testing.assert_allclose(ds["adoption"].sel(use_case=uc).values[d],
                                       h[f"adopt_{uc}"], rtol=1e-12)
        for s in ("a", "b"):
            np.testing.assert_allclose(ds["value"].sel(sector=s).values[d], h[s], rtol=1e-12)
    np.testing.assert_allclose(ds["baseline"].sel(sector="a").values, h["baseline_a"], rtol=1e-12)
    np.testing.assert_allclose(ds["baseline"].sel(sector="b").values, h["baseline_b"], rtol=1e-12)
    np.testing.assert_allclose(hand_results.aggregate().values[0], h["total"], rtol=1e-12)


def test_hand_summary_and_intervals(hand_results):
    h = hand_values()
    table = hand_results.summary()
    assert table.index.names == ["metric", "level", "id"]
    assert list(table.columns) == ["label", "mean", "p5", "p50", "p95"]
    i = YEARS.index(2023)
    cum = {k: sum(h[k][: i + 1]) for k in ("a", "b", "total")}
    for metric, pick in (("annual", lambda k: h[k][i]), ("cumulative", lambda k: cum[k])):
        expected = {("sector", "a"): pick("a"), ("sector", "b"): pick("b"),
                    ("group", "g1"): pick("a"), ("group", "g2"): pick("b"),
                    ("target", "t1"): pick("a"), ("target", "cum"): pick("b"),
                    ("total", "total"): pick("total")}
        for (level, key), value in expected.items():
            row = table.loc[(metric, level, key)]
            for col in ("mean", "p5", "p50", "p95"):
                assert row[col] == pytest.approx(value, rel=1e-12), (metric, level, key, col)
    assert table.loc[("annual", "total", "total"), "label"] == "All sectors"
    assert hand_results.interval(groups=["g1"], year=2021) == pytest.approx((h["a"][1], h["a"][1]))
    assert hand_results.interval(sectors=["b"], year=2022, metric="cumulative") == pytest.approx(
        (sum(h["b"][:3]),) * 2)
    with pytest.raises(ValueError, match="unknown metric"):
        hand_results.interval(metric="yearly")


def test_hand_check_targets(hand_results):
    h = hand_values()
    table = hand_results.check()
    assert list(table.columns) == ["target", "name", "estimand", "bound", "quantile", "published",
                                   "simulated", "residual", "tolerance", "ok", "mc_low", "mc_high",
                                   "within_mc_error", "draws_needed", "source"]
    assert table[["target", "bound"]].values.tolist() == [["t1", "low"], ["t1", "high"],
                                                          ["cum", "high"]]
    sim_t1 = h["a"][YEARS.index(2023)]
    sim_cum = sum(h["b"][:3])
    expected = [(0.1, 0.9, sim_t1, 0.15), (0.9, 1.2, sim_t1, 0.15), (0.95, 1.5, sim_cum, 0.2)]
    for (_, row), (q, published, sim, tol) in zip(table.iterrows(), expected, strict=True):
        assert row["quantile"] == q and row["published"] == published
        assert row["simulated"] == pytest.approx(sim, rel=1e-12)
        assert row["residual"] == pytest.approx(sim - published, rel=1e-12)
        assert row["ok"] == (abs(sim - published) <= tol)
    # by hand: t1 is 1.0453 (0.145 above its low: ok; 0.155 below its high: not ok within
    # 0.15), cum is 1.3729 (0.127 below 1.5: ok within 0.2)
    assert sim_t1 == pytest.approx(1.0453, abs=1e-4) and sim_cum == pytest.approx(1.3729, abs=1e-4)
    assert table["ok"].tolist() == [True, False, True]


def test_provenance(hand_scenario, hand_results, run, example):
    a = hand_results.dataset.attrs
    assert a["scenario_hash"] == hand_scenario.hash
    assert (a["seed"], a["sampler"], a["draws"]) == (3, "random", 7)
    assert a["digimpact_version"] == digimpact.__version__
    assert a["title"] == "Hand computed" and a["unit"] == "u" and a["estimand"] == "annual"
    assert (a["accounting_basis"], a["counterfactual"], a["price_basis"]) == ("value added", "none",
                                                                           "nominal")
    assert a["scenario_file"] == hand_scenario.file
    r = run(example, draws=16, seed=99, sampler="lhs")
    assert (r.dataset.attrs["seed"], r.dataset.attrs["sampler"], r.dataset.attrs["draws"]) == (
        99, "lhs", 16)
    assert r.dataset.attrs["scenario_hash"] == example.hash
    assert r.dataset.attrs["base_measure"] == "gross_output"
    assert "16 draws, seed 99, sampler lhs" in repr(r)


# ----------------------------------------------------------------------------- reproducibility
_REFERENCE: dict = {}


def reference(run, example, sampler):
    if sampler not in _REFERENCE:
        _REFERENCE[sampler] = run(example, draws=40, seed=8, sampler=sampler, keep_use_cases=True)
    return _REFERENCE[sampler]


@pytest.mark.parametrize("sampler", SAMPLERS)
@settings(max_examples=8)
@given(chunk=st.integers(1, 60))
@example(chunk=1).via("explicit")
@example(chunk=13).via("explicit")
@example(chunk=39).via("explicit")
@example(chunk=41).via("explicit")
@example(chunk=10_000).via("explicit")
def test_bit_identical_for_any_chunk_size(run, example, sampler, chunk):
    ref = reference(run, example, sampler)
    r = run(example, draws=40, seed=8, sampler=sampler, keep_use_cases=True, chunk_size=chunk)
    for var in ("value", "use_case_value", "adoption"):
        np.testing.assert_array_equal(r.dataset[var].values, ref.dataset[var].values)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_seed_reproducible_and_distinct(run, example, sampler):
    a = run(example, draws=32, seed=5, sampler=sampler)
    b = run(example, draws=32, seed=5, sampler=sampler)
    c = run(example, draws=32, seed=6, sampler=sampler)
    np.testing.assert_array_equal(a.dataset["value"].values, b.dataset["value"].values)
    assert not np.array_equal(a.dataset["value"].values, c.dataset["value"].values)
    assert np.isfinite(a.dataset["value"].values).all()


def test_random_draws_are_a_prefix(run, example):
    short = run(example, draws=20, seed=1, sampler="random")
    long = run(example, draws=50, seed=1, sampler="random")
    np.testing.assert_array_equal(long.dataset["value"].values[:20], short.dataset["value"].values)


def test_settings_are_the_defaults(run, write_toml, small_toml):
    s = digimpact.load_scenario(write_toml(small_toml))
    r = run(s)
    assert (r.dataset.attrs["draws"], r.dataset.attrs["seed"], r.dataset.attrs["sampler"]) == (
        200, 1, "random")
    r2 = run(str(s.file))  # a path works too
    np.testing.assert_array_equal(r.dataset["value"].values, r2.dataset["value"].values)


def test_bad_arguments(run, example):
    with pytest.raises(ValueError, match="unknown sampler"):
        run(example, draws=4, sampler="halton")
    with pytest.raises(ValueError):
        run(example, draws=0)
    with pytest.raises(ValueError):
        run(example, draws=4, seed=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        run(example, draws=4, chunk_size=0)


# ----------------------------------------------------------------------------- sums
def test_totals_are_sums_of_sectors_and_groups(run, example):
    r = run(example, draws=300, seed=4, keep_use_cases=True)
    ds = r.dataset
    v = ds["value"].values
    np.testing.assert_allclose(r.aggregate().values, v.sum(axis=1), rtol=1e-12)
    core = ds["value"].sel(sector=["retail", "finance"]).values.sum(axis=1)
    np.testing.assert_allclose(r.aggregate(["core"]).values, core, rtol=1e-12)
    np.testing.assert_allclose(r.aggregate(["other"]).values,
                               ds["value"].sel(sector="transport").values, rtol=1e-12)
    # each sector is the sum of its use cases
    for sector in example.sectors:
        members = [u.id for u in example.use_cases.values() if u.sector == sector]
        total = ds["use_case_value"].sel(use_case=members).values.sum(axis=1)
        np.testing.assert_allclose(ds["value"].sel(sector=sector).values, total, rtol=1e-12)
    assert ds["use_case_sector"].values.tolist() == [u.sector for u in example.use_cases.values()]
    # summary: means add up, quantiles are those of the summed draws
    table = r.summary()
    i = list(example.years).index(2030)
    annual = table.loc["annual"]
    sector_means = sum(annual.loc[("sector", s), "mean"] for s in example.sectors)
    assert annual.loc[("total", "total"), "mean"] == pytest.approx(sector_means, rel=1e-12)
    assert annual.loc[("group", "core"), "mean"] == pytest.approx(
        annual.loc[("sector", "retail"), "mean"] + annual.loc[("sector", "finance"), "mean"],
        rel=1e-12)
    totals = v[:, :, i].sum(axis=1)
    for col, q in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95)):
        assert annual.loc[("total", "total"), col] == pytest.approx(np.quantile(totals, q),
                                                                     rel=1e-12)
    # the target row adds up the target's groups
    assert annual.loc[("target", "core"), "p50"] == pytest.approx(np.quantile(core[:, i], 0.5),
                                                                   rel=1e-12)


def test_summary_metrics_and_levels(run, example):
    r = run(example, draws=100, seed=2)
    table = r.summary(metric="both", year=2025, quantiles=(0.1, 0.5))
    assert list(table.columns) == ["label", "mean", "p10", "p50"]
    assert table.index.get_level_values("metric").unique().tolist() == ["annual", "cumulative"]
    assert table.index.get_level_values("level").unique().tolist() == [
        "sector", "group", "target", "total"]
    v = r.dataset["value"]
    years = list(example.years)
    cum = v.values[:, :, : years.index(2025) + 1].sum(axis=2).sum(axis=1)
    annual = v.sel(year=2025).values.sum(axis=1)
    assert table.loc[("cumulative", "total", "total"), "mean"] == pytest.approx(cum.mean(),
                                                                                 rel=1e-12)
    assert table.loc[("annual", "total", "total"), "p10"] == pytest.approx(
        np.quantile(annual, 0.1), rel=1e-12)
    # the scenario's metric is the default
    assert r.summary().index.get_level_values("metric").unique().tolist() == ["annual"]


def test_summary_rows_are_the_report_rows(run, write_toml, small_toml):
    s = digimpact.load_scenario(write_toml(small_toml + """
[sectors.c]
group = "g1"
value_added = 5.0

[sectors.d]
group = "g3"
value_added = 5.0

[use_cases.u3]
sector = "c"
potential = 0.1
adoption = { kind = "step", year = 2021 }

[targets.ab]
name = "A and B"
sectors = ["a", "b"]
low = 0.0
tolerance = 1.0
"""))
    r = run(s, draws=50)
    table = r.summary(year=2024)
    # sectors under their group (c joins a in g1), groups, targets, total; no made-up subtotal
    assert [key[1:] for key in table.index] == [
        ("sector", "a"), ("sector", "c"), ("sector", "b"), ("sector", "d"), ("group", "g1"),
        ("group", "g2"), ("group", "g3"), ("target", "t"), ("target", "ab"), ("total", "total")]
    assert [(row.level, row.id) for row in s.report_rows()] == [key[1:] for key in table.index]
    ab = r.dataset["value"].sel(sector=["a", "b"], year=2024).values.sum(axis=1)
    assert table.loc[("annual", "target", "ab"), "mean"] == pytest.approx(ab.mean(), rel=1e-12)
    assert table.loc[("annual", "target", "ab"), "label"] == "A and B"
    assert table.loc[("annual", "group", "g1"), "mean"] == pytest.approx(
        r.dataset["value"].sel(sector=["a", "c"], year=2024).values.sum(axis=1).mean(), rel=1e-12)
    # u3 alone in sector c: a step to 1 in 2021 of 10% of 5.0
    np.testing.assert_allclose(r.dataset["value"].sel(sector="c").values,
                               np.tile([0.0, 0.5, 0.5, 0.5, 0.5, 0.5], (50, 1)), rtol=1e-12)
    assert (r.dataset["value"].sel(sector="d").values == 0).all()  # no use case in d


# ----------------------------------------------------------------------------- streams by name
@pytest.mark.parametrize("sampler", ["random", "lhs"])
def test_adding_a_use_case_leaves_other_draws_unchanged(run, write_toml, small_toml, sampler):
    s1 = digimpact.load_scenario(write_toml(small_toml, "one.toml"))
    s2 = digimpact.load_scenario(write_toml(small_toml + """
[sectors.c]
group = "g1"
value_added = 7.0

[use_cases.aa_new]
sector = "c"
potential = { dist = "triangular", low = 0.0, mode = 0.01, high = 0.02 }
adoption.kind = "logistic"
adoption.midpoint = { dist = "uniform", low = 2021, high = 2024 }
adoption.steepness = 1.0
drivers = ["d"]
""", "two.toml"))
    r1 = run(s1, draws=64, seed=3, sampler=sampler, keep_use_cases=True)
    r2 = run(s2, draws=64, seed=3, sampler=sampler, keep_use_cases=True)
    np.testing.assert_array_equal(r2.dataset["use_case_value"].sel(use_case="u1").values,
                                  r1.dataset["use_case_value"].sel(use_case="u1").values)
    np.testing.assert_array_equal(r2.dataset["value"].sel(sector="a").values,
                                  r1.dataset["value"].sel(sector="a").values)
    assert np.any(r2.dataset["use_case_value"].sel(use_case="aa_new").values > 0)


# ----------------------------------------------------------------------------- drivers
SPEED = """
[scenario]
title = "Speed"
unit = "u"
base_year = 2020
horizon = [2020, 2035]

[sectors.s]
group = "g"
value_added = 1.0
{driver}
[use_cases.x]
sector = "s"
potential = 1.0
adoption = {{ kind = "logistic", midpoint = {midpoint}, steepness = {steepness}, ceiling = 0.7 }}
{uses}
"""


def uniform(lo, hi):
    return f'{{ dist = "uniform", low = {lo!r}, high = {hi!r} }}'


@pytest.mark.parametrize("sampler", ["random", "lhs"])
@pytest.mark.parametrize("s", [0.5, 0.8, 1.0, 1.7, 3.0])
def test_speed_driver_is_a_rescaled_logistic(load_toml, run, sampler, s):
    t0, (m_lo, m_hi), (k_lo, k_hi) = 2020, (2024.0, 2030.0), (0.4, 1.2)
    driven = load_toml(SPEED.format(
        driver=f'[drivers.pace]\nacts_on = "speed"\nvalue = {s!r}\n',
        midpoint=uniform(m_lo, m_hi), steepness=uniform(k_lo, k_hi), uses='drivers = ["pace"]'),
        "driven.toml")
    # same uniform draws (same parameter names), transformed: m' = t0 + (m - t0)/s, k' = k s
    plain = load_toml(SPEED.format(
        driver="", midpoint=uniform(t0 + (m_lo - t0) / s, t0 + (m_hi - t0) / s),
        steepness=uniform(k_lo * s, k_hi * s), uses=""), "plain.toml")
    a = run(driven, draws=200, seed=11, sampler=sampler, keep_use_cases=True)
    b = run(plain, draws=200, seed=11, sampler=sampler, keep_use_cases=True)
    adopt = a.dataset["adoption"].sel(use_case="x").values
    np.testing.assert_allclose(adopt, b.dataset["adoption"].sel(use_case="x").values,
                               rtol=1e-9, atol=1e-12)
    assert adopt.std() > 0.01  # the draws do differ


def test_uncertain_speed_driver_against_the_formula(load_toml, run):
    n, seed = 300, 21
    scn = load_toml(SPEED.format(
        driver='[drivers.pace]\nacts_on = "speed"\nvalue = ' + uniform(0.5, 2.0) + "\n",
        midpoint=2026, steepness=0.8, uses='drivers = ["pace"]'))
    r = run(scn, draws=n, seed=seed, sampler="random", keep_use_cases=True)
    u = make_sampler("random", ["drivers.pace.value"], seed, n).uniforms(0, n)[0]
    speed = 0.5 + 1.5 * u
    years = np.arange(2020, 2036)
    expected = 0.7 / (1 + np.exp(-0.8 * (2020 + speed[:, None] * (years - 2020) - 2026)))
    np.testing.assert_allclose(r.dataset["adoption"].sel(use_case="x").values, expected,
                               rtol=1e-9)
    # value = base 1.0 x potential 1.0 x adoption
    np.testing.assert_allclose(r.dataset["value"].sel(sector="s").values, expected, rtol=1e-9)


def test_ceiling_driver_caps_adoption_at_one(load_toml, run):
    scn = load_toml(SPEED.format(
        driver='[drivers.reg]\nacts_on = "ceiling"\nvalue = 2.0\n', midpoint=2024,
        steepness=1.0, uses='drivers = ["reg"]'))
    r = run(scn, draws=3, keep_use_cases=True)
    years = np.arange(2020, 2036)
    raw = 2.0 * 0.7 / (1 + np.exp(-(years - 2024.0)))
    adopt = r.dataset["adoption"].sel(use_case="x").values[0]
    np.testing.assert_allclose(adopt, np.minimum(raw, 1.0), rtol=1e-12)
    assert adopt.max() == 1.0
    assert (raw > 1).sum() >= 5 and (raw < 1).sum() >= 4  # both regimes are exercised

    uncertain = load_toml(SPEED.format(
        driver='[drivers.reg]\nacts_on = "ceiling"\nvalue = ' + uniform(0.5, 2.0) + "\n",
        midpoint=2024, steepness=1.0, uses='drivers = ["reg"]'), "u.toml")
    r = run(uncertain, draws=500, seed=1, keep_use_cases=True)
    adopt = r.dataset["adoption"].values
    assert adopt.max() == 1.0 and adopt.min() >= 0.0
    # P(factor x 0.7 x logistic(2035) >= 1) = P(factor >= 1 / (0.7 x 0.99998..)) ~ 0.03
    p = (2.0 - 1 / (0.7 / (1 + math.exp(-11)))) / 1.5
    assert np.mean(adopt[:, 0, -1] == 1.0) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 500))


def test_value_driver_multiplies_value(load_toml, run):
    scn = load_toml(SPEED.format(driver='[drivers.v]\nacts_on = "value"\nvalue = '
                                 + uniform(0.5, 1.5) + "\n",
                                 midpoint=2024, steepness=1.0, uses='drivers = ["v"]'))
    n = 200
    r = run(scn, draws=n, seed=2, sampler="lhs", keep_use_cases=True)
    factor = r.dataset["use_case_value"].values / r.dataset["adoption"].values
    per_draw = factor[:, 0, 0]
    np.testing.assert_allclose(factor[:, 0, :], per_draw[:, None] * np.ones(16), rtol=1e-12)
    # LHS: exactly one draw per stratum of the driver's uniform(0.5, 1.5)
    assert sorted(np.floor((per_draw - 0.5) * n).astype(int).tolist()) == list(range(n))
    np.testing.assert_allclose(r.dataset["adoption"].values[:, 0, 4],
                               0.7 / (1 + math.exp(0)), rtol=1e-12)


def test_marginal_of_a_use_case_value(run, write_toml, small_toml):
    # u1 in sector a: value = 10 x potential ~ U(0.01, 0.02) x driver ~ U(0.9, 1.1) x adoption
    s = digimpact.load_scenario(write_toml(small_toml))
    r = run(s, draws=4000, seed=0, sampler="lhs", keep_use_cases=True)
    adopt_2025 = 0.8 / (1 + math.exp(-2.0))
    x = r.dataset["value"].sel(sector="a", year=2025).values / (10 * adopt_2025)
    assert x.mean() == pytest.approx(0.015 * 1.0, rel=2e-3)
    # the product of independent uniforms: E[X^2] = E[P^2] E[D^2]
    e2 = (0.01**2 + 0.01 * 0.02 + 0.02**2) / 3 * (0.9**2 + 0.9 * 1.1 + 1.1**2) / 3
    assert np.mean(x**2) == pytest.approx(e2, rel=5e-3)
    assert x.min() >= 0.009 - 1e-12 and x.max() <= 0.022 + 1e-12
    # sector b is fixed: 20 x 0.05 x linear(2020 -> 2025)
    np.testing.assert_allclose(r.dataset["value"].sel(sector="b").values[0],
                               [20 * 0.05 * k / 5 for k in range(6)], rtol=1e-12, atol=1e-15)
    u2 = r.dataset["use_case_value"].sel(use_case="u2", year=2023).values
    assert np.ptp(u2) == 0.0 and u2[0] == pytest.approx(20 * 0.05 * 3 / 5, rel=1e-12)


# ----------------------------------------------------------------------------- files
def test_netcdf_round_trip(run, example, tmp_path):
    r = run(example, draws=64, seed=3, keep_use_cases=True)
    path = r.to_netcdf(tmp_path / "sub" / "results.nc")
    assert path == tmp_path / "sub" / "results.nc" and path.exists()
    assert [p.name for p in path.parent.iterdir()] == ["results.nc"]  # no temp files left
    back = digimpact.open_results(path)
    for var in ("value", "use_case_value", "adoption", "baseline"):
        np.testing.assert_array_equal(back.dataset[var].values, r.dataset[var].values)
    assert back.dataset["sector"].values.tolist() == list(example.sectors)
    assert back.dataset["group"].values.tolist() == ["core", "core", "other"]
    assert back.dataset["use_case"].values.tolist() == list(example.use_cases)
    for key in ("scenario_hash", "seed", "sampler", "draws", "digimpact_version", "title"):
        assert back.dataset.attrs[key] == r.dataset.attrs[key], key
    assert back.scenario.hash == example.hash
    assert back.scenario.to_dict() == example.to_dict()
    assert back.scenario.file == example.file
    assert back.summary().equals(r.summary())
    assert back.check().drop(columns="ok").equals(r.check().drop(columns="ok"))


def test_to_netcdf_is_atomic(run, example, tmp_path, monkeypatch):
    r = run(example, draws=16, seed=1)
    path = tmp_path / "results.nc"

    def broken(self, target, *args, **kwargs):
        with open(target, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        r.to_netcdf(path)
    assert os.listdir(tmp_path) == []  # neither the file nor a temporary file

    monkeypatch.undo()
    r.to_netcdf(path)
    good = path.read_bytes()
    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        r.to_netcdf(path)
    assert os.listdir(tmp_path) == ["results.nc"]
    assert path.read_bytes() == good
    monkeypatch.undo()
    np.testing.assert_array_equal(digimpact.open_results(path).dataset["value"].values,
                                  r.dataset["value"].values)


def test_results_rebuild_scenario_from_attributes(run, hand_scenario):
    r = run(hand_scenario, draws=3)
    rebuilt = digimpact.Results(r.dataset)
    assert rebuilt.scenario.hash == hand_scenario.hash
    assert rebuilt.summary().equals(r.summary())


def test_impossible_correlations_are_rejected_before_running(example):
    with pytest.raises(ScenarioError, match="positive definite"):
        example.with_overrides({"correlations": [
        {"params": ["use_cases.instant_loans.potential", "use_cases.mobile_banking.potential"],
         "rank": 0.9},
        {"params": ["use_cases.mobile_banking.potential", "use_cases.ecommerce.potential"],
         "rank": 0.9},
        {"params": ["use_cases.instant_loans.potential", "use_cases.ecommerce.potential"],
         "rank": -0.9}]})


# ----------------------------------------------------------------------------- keep_use_cases
JAPAN = os.path.join(os.path.dirname(__file__), "..", "scenarios", "japan2030", "exhibit5.toml")


@pytest.fixture(scope="module")
def exhibit5():
    return digimpact.load_scenario(JAPAN)


@settings(max_examples=10)
@given(chunk=st.integers(1, 40), sampler=st.sampled_from(SAMPLERS))
@example(chunk=40, sampler="random").via("explicit")  # differed by 1e-14 before the fix
def test_keep_use_cases_leaves_value_bit_identical(exhibit5, chunk, sampler):
    kw = {"draws": 32, "seed": 4, "sampler": sampler, "progress": False}
    default = digimpact.simulate(exhibit5, **kw)
    kept = digimpact.simulate(exhibit5, **kw, keep_use_cases=True, chunk_size=chunk)
    assert np.array_equal(kept.dataset["value"].values, default.dataset["value"].values)


def test_kept_use_cases_are_the_terms_of_the_sector_sums(exhibit5):
    # value = (sum of weight x adoption) x base and use_case_value = weight x adoption x base:
    # equal up to the order of two roundings, and adoption times the weight is the use case value
    ds = digimpact.simulate(exhibit5, draws=16, seed=2, keep_use_cases=True, progress=False).dataset
    sums = ds["use_case_value"].groupby("use_case_sector").sum().sel(use_case_sector=ds["sector"])
    np.testing.assert_allclose(sums.values, ds["value"].values, rtol=1e-13)
    assert np.isfinite(ds["adoption"].values).all() and ds["adoption"].values.max() <= 1.0


# ----------------------------------------------------------------------------- non-finite values
OVERFLOW = """
scenario = { title = "Overflow", unit = "u", base_year = 2020, horizon = [2020, 2022] }
drivers.v = { acts_on = "value", value = { dist = "uniform", low = 1.0, high = 200.0 } }

[sectors]
s = { group = "g", value_added = 1.0 }
t = { group = "g", value_added = 1.0 }

[use_cases]
big = { sector = "s", potential = 1.0, adoption = { kind = "step", year = 2020 }, drivers = ["v"] }
calm = { sector = "t", potential = 0.5, adoption = { kind = "step", year = 2020 } }
"""


@pytest.fixture
def huge_base(monkeypatch):
    """``huge_base(factor)``: every plan built from now on has its sector bases times ``factor``.

    Scenario validation refuses such bases at load time, so they are put into the plan
    directly; the plan travels to dask workers as it is.
    """
    import dataclasses

    from digimpact.plan import Plan

    build = Plan.build

    def patch(factor: float) -> None:
        def scaled(cls, *args):
            plan = build(*args)
            return dataclasses.replace(plan, base=plan.base * factor)
        monkeypatch.setattr(Plan, "build", classmethod(scaled))
    return patch


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_overflow_names_draw_use_case_and_parameters(load_toml, run, huge_base, chunk):
    scenario = load_toml(OVERFLOW)
    draws = 64
    from digimpact.plan import Plan

    plan = Plan.build(scenario, draws, 4, "random")
    driver = plan.values(0, draws)[plan.names.index("drivers.v.value")]
    huge_base(1e306)  # value = driver x 1e306: infinite for drivers above 179.77
    with np.errstate(over="ignore"):
        first = int(np.argmax(np.isinf(driver * 1e306)))
    assert first == 15 and driver[first] > 179.77 > driver[:first].max()  # inside a chunk of 7
    with pytest.raises(SimulationError) as err:
        run(scenario, draws=draws, seed=4, chunk_size=chunk)
    assert str(err.value) == (
        f"use case 'big' (sector 's') gives a non-finite value (inf) in draw {first}, year 2020: "
        f"drivers.v.value={driver[first]:g}, use_cases.big.adoption.ceiling=1, "
        "use_cases.big.adoption.year=2020, use_cases.big.potential=1; "
        "sector base x potential_scale = 1e+306")


@pytest.mark.parametrize("outputs", ["full", "target_year"])
def test_overflowing_sum_names_its_largest_term(load_toml, huge_base, outputs):
    # every use case is finite (1.2e308 x 1.0-1.4 and x 0.5); with full outputs both are in sector
    # s, whose sum overflows; with target_year outputs they are in s and t, and the total does
    text = OVERFLOW.replace("high = 200.0", "high = 1.4")
    scenario = load_toml(text.replace('sector = "t"', 'sector = "s"') if outputs == "full" else text)
    huge_base(1.2e308)
    with pytest.raises(SimulationError, match=(
            r"^use case 'big' \(sector 's'\) is the largest term \(1\.[0-9]+e\+308\) of a sum that "
            r"overflows in draw 0, year 2020: drivers\.v\.value=1\.[0-9]+, ")):
        digimpact.simulate(scenario, draws=8, outputs=outputs, progress=False)


def test_nan_is_caught_too(load_toml, huge_base):
    huge_base(np.inf)  # adoption 0 in 2019 times an infinite base: NaN
    scenario = load_toml(OVERFLOW.replace("horizon = [2020, 2022]", "horizon = [2019, 2022]"))
    with pytest.raises(SimulationError, match=r"'big' .* non-finite value \(nan\) in draw 0, "
                                                        r"year 2019: .*sector base x potential_scale = inf"):
        digimpact.simulate(scenario, draws=4, progress=False)


# ----------------------------------------------------------------------------- options and memory
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any chunk is evaluated."""
    from digimpact.plan import Plan

    def refuse(*args, **kwargs):
        raise AssertionError("a chunk was evaluated")
    monkeypatch.setattr(Plan, "evaluate", refuse)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("draws", 0, "draws must be an integer >= 1, got 0"),
    ("draws", 2.5, "draws must be an integer >= 1, got 2.5"),
    ("draws", "10", "draws must be an integer >= 1, got '10'"),
    ("draws", True, "draws must be an integer >= 1, got True"),
    ("seed", -1, "seed must be an integer >= 0 and < 2**63, got -1"),
    ("seed", 2**63, "seed must be an integer >= 0 and < 2**63, got 9223372036854775808"),
    ("seed", 2**64, "seed must be an integer >= 0 and < 2**63, got 18446744073709551616"),
    ("chunk_size", 0, "chunk_size must be an integer >= 1, got 0"),
    ("sampler", "lhss", "unknown sampler 'lhss' (did you mean 'lhs'?); expected one of random, lhs, sobol"),
    ("outputs", "target", "unknown outputs 'target' (did you mean 'target_year'?); expected one of "
                          "full, target_year"),
    ("backend", "dusk", "unknown backend 'dusk' (did you mean 'dask'?); expected one of local, dask"),
])
def test_bad_options_are_refused_before_any_work(example, no_work, option, value, message):
    with pytest.raises(UsageError) as err:
        digimpact.simulate(example, **{"draws": 8, option: value})
    assert str(err.value) == message


def test_largest_seed_is_stored_exactly(example, tmp_path):
    r = digimpact.simulate(example, draws=4, seed=2**63 - 1, progress=False)
    back = digimpact.open_results(r.to_netcdf(tmp_path / "r.nc"))
    assert back.dataset.attrs["seed"] == 2**63 - 1
    assert digimpact.simulate(example, draws=4, seed=4.0, progress=False).dataset.attrs["seed"] == 4


def test_a_trillion_draws_are_refused_up_front(example, no_work, monkeypatch):
    from digimpact import engine

    monkeypatch.setattr(engine, "available_memory", lambda: 2**34)  # as on a 24 GiB machine
    with pytest.raises(UsageError, match=(
            r"^this run needs about 261\.9 TiB of memory and 16\.0 GiB is available: keep less with "
            r'outputs="target_year" \(--outputs target_year\), run fewer draws, or keep results '
            r'on a dask cluster with backend="dask", lazy=True$')):
        digimpact.simulate(example, draws=10**12, sampler="random")
    with pytest.raises(UsageError, match="Latin hypercube takes at most"):
        digimpact.simulate(example, draws=10**12, sampler="lhs")
    with pytest.raises(UsageError, match=r"for a task graph of 10,000,000 chunks .* larger chunk_size"):
        digimpact.simulate(example, draws=10**12, chunk_size=10**5, sampler="random", backend="dask",
                           lazy=True)


@pytest.mark.parametrize("refused", [True, False])
def test_memory_refusal_uses_the_available_memory(example, monkeypatch, refused):
    from digimpact import engine
    from digimpact.plan import Plan

    need = engine.memory_estimate(example, 1000, chunk_size=100)  # 460,800 B: outputs + a chunk
    # per draw: 3 sectors x 11 years of value and 3 full potentials, in the outputs and the chunk
    assert need == 1000 * 36 * 8 + 100 * 8 * (4 * 29 + 4 * 7 + 36 + 36)
    monkeypatch.setattr(engine, "available_memory", lambda: need - refused)
    if not refused:
        assert digimpact.simulate(example, draws=1000, chunk_size=100, progress=False).dataset.sizes[
            "draw"] == 1000
        return
    monkeypatch.setattr(Plan, "evaluate", None)  # nothing may run
    with pytest.raises(UsageError, match=r"needs about 450\.0 KiB of memory and 450\.0 KiB is"):
        digimpact.simulate(example, draws=1000, chunk_size=100)
    with pytest.raises(UsageError, match="needs about"):  # two runs, held together, do not fit
        digimpact.simulate_many([example, example], backend="local", draws=600, chunk_size=100)


@pytest.mark.parametrize("outputs", ["full", "target_year"])
@pytest.mark.parametrize("keep", [False, True])
def test_memory_estimate_counts_the_output_arrays(example, outputs, keep):
    from digimpact.engine import memory_estimate

    kw = {"chunk_size": 100, "keep_use_cases": keep, "outputs": outputs}
    r = digimpact.simulate(example, draws=500, progress=False, **kw)
    arrays = sum(var.nbytes for name, var in r.dataset.data_vars.items() if "draw" in var.dims)
    assert memory_estimate(example, 1000, **kw) - memory_estimate(example, 500, **kw) == arrays
    # by hand: 500 draws x (3 sectors x 11 years, or 3 + 11), 3 full potentials, plus 2 x 7 use
    # cases x 11 years and 7 use-case full potentials
    per_draw = (3 * 11 if outputs == "full" else 3 + 11) + 3 + (2 * 7 * 11 + 7 if keep else 0)
    assert arrays == 500 * per_draw * 8


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("outputs", ["full", "target_year"])
def test_memory_estimate_bounds_a_chunks_peak(example, exhibit5, keep, outputs):
    import tracemalloc

    from digimpact.engine import _chunk_bytes, _prepare

    for scenario in (example, exhibit5):
        job = _prepare(scenario, 4096, 0, "random", 2048, keep, outputs).job
        job.evaluate(0, 8)  # caches warmed
        tracemalloc.start()
        job.evaluate(0, 2048)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert _chunk_bytes(job) / 2 < peak <= _chunk_bytes(job)  # numpy reports to tracemalloc


def test_plan_layout_is_consistent(example):
    from digimpact.plan import DriverEffect, Plan

    plan = Plan.build(example, 16, 1, "lhs")
    params = example.parameters()
    assert plan.uncertain == sorted(n for n in params if not params[n].is_fixed)
    assert plan.uncertain == list(plan.sampler.names)  # the sampler's rows, derived
    for u, row in zip(plan.use_cases, plan.potential_rows, strict=True):
        assert plan.names[row] == f"use_cases.{u}.potential"
    for g in plan.groups:
        for p, rows in g.rows.items():
            assert [plan.names[r] for r in rows] == [
                f"use_cases.{plan.use_cases[i]}.adoption.{p}" for i in g.positions]
    for kind, effects in plan.effects.items():
        for effect in effects:
            assert isinstance(effect, DriverEffect)
            driver = plan.names[effect.row].split(".")[1]
            assert example.drivers[driver].acts_on == kind
            assert [plan.use_cases[i] for i in effect.positions] == [
                u.id for u in example.use_cases.values() if driver in u.drivers]
