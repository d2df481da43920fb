"""Sensitivity, comparison and value measures, checked against analytic answers."""

import json
import subprocess
import sys

import numpy as np
import pytest

import digimpact
from digimpact.sensitivity import sobol_indices, tornado_swings

# Ishigami function (a=7, b=0.1) on [-pi, pi]^3: analytic indices (Ishigami & Homma 1990).
ISHIGAMI_S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
ISHIGAMI_ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}


def ishigami(u):
    x = -np.pi + 2 * np.pi * u
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_matches_ishigami_within_ci_and_003():
    table = sobol_indices(ishigami, ["x1", "x2", "x3"], n=2**13, seed=3)
    for name in ISHIGAMI_S1:
        for index, truth in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
            error = abs(table.loc[name, index] - truth[name])
            assert error <= table.loc[name, f"{index}_conf"], (name, index, error)
            assert error <= 0.03, (name, index, error)


def test_grouped_sobol_of_a_linear_model():
    a = np.array([3.0, 1.0, 2.0, 0.5])  # Y = a . U, U uniform iid: share_i = a_i^2 / sum a^2
    groups = ["g1", "g1", "g2", "g3"]
    table = sobol_indices(lambda u: u @ a, list("abcd"), groups, n=2**12, seed=1)
    share = {"g1": (9 + 1) / 14.25, "g2": 4 / 14.25, "g3": 0.25 / 14.25}
    for g, s in share.items():  # additive model: first order = total = variance share
        assert table.loc[g, "S1"] == pytest.approx(s, abs=0.03)
        assert table.loc[g, "ST"] == pytest.approx(s, abs=0.03)
    assert list(table.index) == ["g1", "g2", "g3"]


def test_tornado_of_a_linear_model():
    t = tornado_swings(lambda u: u @ np.array([2.0, -1.0]), ["a", "b"])
    assert t.loc["a", "swing"] == pytest.approx(2 * 0.9)
    assert t.loc["b", "low"] == pytest.approx(2 * 0.5 - 0.05)
    assert t.loc["a", "base"] == pytest.approx(0.5)


SECTORS = """
[scenario]
title = "two independent sectors"
unit = "JPY trillion"
base_year = 2020
horizon = [2020, 2022]
[settings]
draws = 1000
[sectors.big]
group = "g"
value_added = 100.0
[sectors.small]
group = "g"
value_added = 50.0
[use_cases.a]
sector = "big"
potential = { dist = "uniform", low = 0.01, high = 0.03 }
adoption = { kind = "step", year = 2020 }
[use_cases.b]
sector = "small"
potential = { dist = "uniform", low = 0.00, high = 0.02 }
adoption = { kind = "step", year = 2020 }
"""


@pytest.fixture
def two_sectors(load_toml):
    return load_toml(SECTORS)


def test_scenario_sobol_by_sector_matches_variance_shares(two_sectors):
    var = {"big": (100 * 0.02) ** 2 / 12, "small": (50 * 0.02) ** 2 / 12}
    table = digimpact.sensitivity(two_sectors, by="sector", draws=2**12, seed=2)
    for sector, v in var.items():
        assert table.loc[sector, "ST"] == pytest.approx(v / sum(var.values()), abs=0.03)
    assert list(table.index) == ["big", "small"]
    assert table.attrs["output"] == "total" and table.attrs["year"] == 2022


def test_scenario_tornado_by_use_case(two_sectors):
    t = digimpact.sensitivity(two_sectors, method="tornado", by="use_case")
    assert t.loc["a", "swing"] == pytest.approx(100 * 0.9 * 0.02)
    assert t.loc["b", "swing"] == pytest.approx(50 * 0.9 * 0.02)
    assert t.loc["a", "base"] == pytest.approx(100 * 0.02 + 50 * 0.01)


@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_compare_with_itself_is_exactly_zero(example, sampler):
    c = digimpact.compare(example, example, draws=256, sampler=sampler)
    assert (c.difference.values == 0).all()
    assert (c.summary()["P(b>a)"] == 0).all()


def test_compare_isolates_the_change(example):
    later = example.with_overrides({"use_cases.instant_loans.adoption.start": 2023})
    c = digimpact.compare(example, later, draws=500, sampler="lhs")
    diff = c.difference
    assert (diff.sel(sector=["retail", "transport"]).values == 0).all()
    assert (diff.sel(sector="finance").values <= 0).all()
    assert c.summary().loc[("sector", "finance"), "P(b>a)"] == 0


def test_scenario_diff(example):
    other = example.with_overrides({"settings.seed": 5, "use_cases.ecommerce.enabled": False})
    d = example.diff(other).set_index("key")
    assert d.loc["settings.seed"].tolist() == [2030, 5]
    assert d.loc["use_cases.ecommerce.enabled"].tolist() == [None, False]
    assert example.diff(example).empty


def test_value_measures_from_the_same_draws(example):
    r = digimpact.simulate(example, draws=300, seed=4, progress=False)
    v = r.aggregate(["core"]).sel(year=slice(2021, 2030))
    cumulative = r.metric("cumulative", groups=["core"], start=2021)
    assert np.allclose(cumulative, v.sum("year"))
    assert np.allclose(r.metric("npv", groups=["core"], start=2021, rate=0.0), cumulative)
    discount = 1.05 ** -(np.arange(2021, 2031) - 2021)
    assert np.allclose(r.metric("npv", groups=["core"], start=2021, rate=0.05), v.values @ discount)
    value_added = r.dataset["baseline"].sel(year=2030).sum().item()
    share = r.metric("share_of_value_added")
    assert np.allclose(share, r.metric("annual") / value_added)
    assert share.attrs["units"] == "1" and "share of the scenario's value added" in share.attrs["long_name"]
    with pytest.warns(FutureWarning, match="now called 'share_of_value_added'"):
        old = r.metric("share_of_gdp")
    assert np.array_equal(old, share)
    with pytest.raises(ValueError, match="unknown metric"):
        r.metric("irr")
    with pytest.raises(ValueError, match="needs a discount rate"):  # not silently the cumulative
        r.metric("npv", groups=["core"], start=2021)


def test_talent_variants_order_the_ranges():
    base = "scenarios/japan2030/exhibit5.toml"
    medians = {}
    for v in ("talent_persists", "talent_closes_2030", "talent_closes_2025"):
        c = digimpact.compare(base, f"scenarios/japan2030/variants/{v}.toml", draws=2000)
        medians[v] = c.summary().loc[("total", "total"), "b p50"]
    assert medians["talent_persists"] < medians["talent_closes_2030"] < medians["talent_closes_2025"]


def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "digimpact.cli", *map(str, args)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_sensitivity_json(example_path):
    doc = json.loads(_cli("sensitivity", example_path, "--by", "driver", "--draws", 128,
                          "--format", "json"))
    ranking = doc["ranking"]
    assert doc["settings"]["by"] == "driver" and len(ranking) == 4
    assert [r["ST"] for r in ranking] == sorted((r["ST"] for r in ranking), reverse=True)


def test_cli_compare_prints_both_ranges(example_path):
    text = _cli("compare", example_path, example_path, "--draws", 200)
    assert "a p5" in text and "b p95" in text and "P(b>a)" in text


def test_compare_reuses_simulated_results(example):
    base = digimpact.simulate(example, draws=300, seed=8, sampler="random", progress=False)
    later = example.with_overrides({"use_cases.instant_loans.adoption.start": 2023})
    reused = digimpact.compare(base, later)
    fresh = digimpact.compare(example, later, draws=300, seed=8, sampler="random")
    assert reused.a is base
    assert np.array_equal(reused.difference.values, fresh.difference.values)


def test_sensitivity_intervals_are_reproducible(example):
    a = digimpact.sensitivity(example, by="driver", draws=128, seed=0)
    b = digimpact.sensitivity(example, by="driver", draws=128, seed=0)
    assert a.equals(b)
