"""digimpact.update: observations and KPIs in the format, probes per draw, importance weights.

Closed forms: a normal driver observed through a sector value (normal-normal conjugacy) and a
KPI read off a logistic curve by hand; simulation-based calibration of the 90% interval of a
speed driver; bit-reproducibility over chunk sizes and backends; schema errors; the CLI; the
direction of the Japan update.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from conftest import ROOT
from scipy import stats

import digimpact
from digimpact import ScenarioError
from digimpact.cli import main
from digimpact.update import error_model, with_observations
from digimpact.weights import DegenerateWeightsWarning, weighted_quantile

JAPAN = ROOT / "scenarios" / "japan2030"

HEADER = """
[scenario]
title = "{title}"
unit = "JPY trillion"
base_year = 2020
horizon = [2020, {last}]

[sectors.a]
group = "g"
value_added = 100.0
"""

CONJUGATE = HEADER.format(title="Conjugate", last=2025) + """
[drivers.v]
acts_on = "value"
value = { dist = "normal", mean = 1.0, sd = 0.1, low = 0.0, high = 3.0 }

[use_cases.u]
sector = "a"
potential = 0.1
adoption = { kind = "logistic", midpoint = 1990, steepness = 5.0, ceiling = 1.0 }
drivers = ["v"]

[observations.value_2023]
sector = "a"
year = 2023
value = 11.0
error = { sd = 0.5 }
"""

SPEED = HEADER.format(title="Speed", last=2030) + """
[drivers.s]
acts_on = "speed"
value = { dist = "uniform", low = 0.5, high = 1.5 }

[use_cases.u]
sector = "a"
potential = 0.1
adoption = { kind = "logistic", midpoint = 2025, steepness = 0.8, ceiling = 0.8 }
drivers = ["s"]

[use_cases.w]
sector = "a"
potential = 0.1
adoption = { kind = "logistic", midpoint = 2026, steepness = 0.8, ceiling = 0.6 }
drivers = ["s"]

[kpis.k]
name = "Share"
unit = "%"
use_cases = ["u", "w"]
scale = 100
definition = "mean adoption of u and w, in %"
milestones = { 2020 = 5, 2030 = 60 }
"""


def kpi(s: np.ndarray | float, year: int) -> np.ndarray:
    """The KPI of SPEED by hand: 100 x the mean of the two logistic curves at 2020 + s (y - 2020)."""
    t = 2020 + np.asarray(s) * (year - 2020)
    return 100 * (0.8 / (1 + np.exp(-0.8 * (t - 2025))) + 0.6 / (1 + np.exp(-0.8 * (t - 2026)))) / 2


def observed(value: float, year: int = 2024, sd: float = 2.0) -> dict:
    return {"o": {"kpi": "k", "year": year, "value": value, "error": {"sd": sd}}}


@pytest.fixture(scope="module")
def speed(tmp_path_factory):
    path = tmp_path_factory.mktemp("speed") / "speed.toml"
    path.write_text(SPEED, encoding="utf-8")
    return digimpact.load_scenario(path)


# ----------------------------------------------------------------------------- closed forms
def test_conjugate_normal_posterior_matches_its_closed_form(load_toml):
    """value = 100 x 0.1 x 1 x v with v ~ N(1, 0.1^2) (truncation 10 sd away), observed 11
    with sd 0.5: precision 1/0.01 + 100/0.25 = 500, mean (100 + 10 x 11 / 0.25) / 500 = 1.08."""
    post = digimpact.update(load_toml(CONJUGATE), draws=20_000, seed=3)
    v = post.parameters().loc["drivers.v.value"]
    se = math.sqrt(1 / 500) / math.sqrt(post.ess)
    assert post.ess > 5000
    assert v["posterior mean"] == pytest.approx(1.08, abs=4 * se)
    lo, hi = stats.norm.ppf([0.05, 0.95], 1.08, math.sqrt(1 / 500))
    assert (v["posterior p5"], v["posterior p95"]) == pytest.approx((lo, hi), abs=0.005)
    assert post.interval(sectors=["a"], year=2023, q=[0.5])[0] == pytest.approx(10.8, abs=0.02)
    assert v["prior mean"] == pytest.approx(1.0, abs=0.003)


def test_kpi_probe_matches_the_curves_by_hand(speed):
    post = digimpact.update(speed.replace(observations=observed(40.0)), draws=500, seed=1, min_ess=1)
    s = post.dataset["inputs"].sel(parameter="drivers.s.value").values
    for year in (2020, 2024, 2030):
        got = post.dataset["prediction"].sel(probe=f"kpi.k.{year}").values
        np.testing.assert_allclose(got, kpi(s, year), rtol=1e-12)
    assert post.kpis().index.names == ["kpi", "year"]
    assert len(post.kpis()) == 11


def test_use_case_and_profile_observations_predict_adoption_shares(example):
    s = example.replace(observations={
        "one": {"use_case": "dynamic_pricing", "year": 2025, "value": 0.2, "error": {"sd": 0.1}},
        "mean": {"profile": "retail_wave1", "year": 2025, "value": 0.2, "error": {"relative": 0.5}}})
    post = digimpact.update(s, draws=300, seed=2, min_ess=1)
    kept = digimpact.simulate(s, draws=300, seed=2, keep_use_cases=True).dataset["adoption"].sel(year=2025)
    pred = post.dataset["prediction"]
    np.testing.assert_array_equal(pred.sel(probe="observations.one"), kept.sel(use_case="dynamic_pricing"))
    members = [k for k, u in s.use_cases.items() if u.profile == "retail_wave1"]
    np.testing.assert_allclose(pred.sel(probe="observations.mean"),
                               kept.sel(use_case=members).mean("use_case"), rtol=1e-13)


def test_weights_are_the_normalised_likelihood(speed):
    post = digimpact.update(speed.replace(observations=observed(40.0)), draws=400, seed=5, min_ess=1)
    pred = post.dataset["prediction"].sel(probe="kpi.k.2024").values
    like = stats.norm.pdf(40.0, pred, 2.0)
    np.testing.assert_allclose(post.weights, like / like.sum(), rtol=1e-9)
    assert post.ess == pytest.approx(like.sum() ** 2 / (like**2).sum())


def test_simulation_based_calibration_of_the_90_percent_interval(speed):
    """100 truths from the prior, an observation of each, an update each: the 90% posterior
    interval of the speed driver covers the truth 81-99 times (90 +- 3 binomial sd)."""
    rng = np.random.default_rng(11)
    truths = rng.uniform(0.5, 1.5, 100)
    covered = 0
    for i, truth in enumerate(truths):
        y = float(kpi(truth, 2024) + rng.normal(0, 2.0))
        post = digimpact.update(speed.replace(observations=observed(y)), draws=1000, seed=i,
                                min_ess=1)
        lo, hi = weighted_quantile(post.dataset["inputs"].sel(parameter="drivers.s.value").values,
                                   post.weights, [0.05, 0.95])
        covered += lo <= truth <= hi
    assert 81 <= covered <= 99


# ----------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_update_is_bit_identical_for_any_chunk_size_and_backend(speed, backend, request, chunk):
    s = speed.replace(observations=observed(40.0))
    ref = digimpact.update(s, draws=300, seed=9, chunk_size=64, min_ess=1)
    dask = {"backend": "dask", "client": request.getfixturevalue("dask_client")}
    post = digimpact.update(s, draws=300, seed=9, chunk_size=chunk, min_ess=1,
                            **({} if backend == "local" else dask))
    for name in ("weight", "prediction", "inputs", "value", "loglik"):
        np.testing.assert_array_equal(post.dataset[name].values, ref.dataset[name].values)


def test_update_leaves_the_simulated_values_unchanged(speed):
    s = speed.replace(observations=observed(40.0))
    plain = digimpact.simulate(s, draws=200, seed=4)
    post = digimpact.update(s, draws=200, seed=4, min_ess=1)
    np.testing.assert_array_equal(post.dataset["value"].values, plain.dataset["value"].values)
    again = digimpact.update(plain, min_ess=1)  # results: the same run re-done with the probes
    np.testing.assert_array_equal(again.weights, post.weights)


# ----------------------------------------------------------------------------- weighted results
def test_weighted_summaries_resampling_and_warning(speed):
    s = speed.replace(observations=observed(40.0, sd=0.5))
    with pytest.warns(DegenerateWeightsWarning, match="run about"):
        post = digimpact.update(s, draws=2000, seed=1)
    values = post.metric().values
    assert post.summary().loc[("annual", "total", "total"), "mean"] == pytest.approx(post.weights @ values)
    assert post.interval(q=[0.5]) == (float(weighted_quantile(values, post.weights, 0.5)),)
    assert post.prior.interval(q=[0.5]) == (float(np.quantile(values, 0.5)),)
    resampled = post.resample()
    assert type(resampled) is digimpact.Results and resampled.dataset.sizes["draw"] == 2000
    counts = np.bincount(resampled.dataset["source_draw"].values, minlength=2000)
    assert np.all(np.abs(counts - 2000 * post.weights) < 1)  # floor or ceil of n w
    table = post.compare()
    assert {"prior p50", "posterior p50"} <= set(table.columns)
    assert 0 < post.tempering() <= 1


def test_proxies_and_shown_observations_are_selected_by_their_keys(speed):
    s = speed.replace(observations={
        **observed(40.0), "p": {"kpi": "k", "year": 2025, "value": 50.0, "error": {"sd": 3.0},
                                "series": "proxy", "mismatch_sd": 4.0},
        "shown": {"kpi": "k", "year": 2026, "value": 90.0, "error": {"low": 80, "high": 100},
                  "use": "shown"}})
    ids = lambda **kw: [o.id for o in digimpact.update(s, draws=50, min_ess=1, **kw).observations]  # noqa: E731
    assert ids() == ["o", "p"]
    assert ids(series=("same",)) == ["o"]
    assert ids(use=("update", "shown")) == ["o", "p", "shown"]
    assert error_model(s.observations["p"]).total_sd(50.0) == pytest.approx(5.0)
    assert digimpact.update(s, draws=50, min_ess=1).fit().loc["shown", "entered"] == False  # noqa: E712


# ----------------------------------------------------------------------------- schema errors
def error_of(scenario, **sections) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario.replace(**sections)
    return info.value


GOOD = {"kpi": "k", "year": 2024, "value": 40.0, "error": {"sd": 1.0}}


@pytest.mark.parametrize("change, path, message", [
    ({"kpi": "kk"}, "observations.o.kpi", "unknown KPI 'kk' (did you mean 'k'?)"),
    ({"year": 2031}, "observations.o.year", "within the horizon [2020, 2030], got 2031"),
    ({"error": {"sd": 0.0}}, "observations.o.error.sd", "expected a number > 0"),
    ({"error": {"sd": -1.0}}, "observations.o.error.sd", "expected a number > 0"),
    ({"error": {"sd": 1.0, "relative": 0.1}}, "observations.o.error", "exactly one of sd, relative"),
    ({"error": {"low": 45.0, "high": 50.0}}, "observations.o.value", "within its error interval"),
    ({"sector": "a"}, "observations.o.sector", "exactly one of kpi, use_case, profile, sector"),
    ({"series": "proxy"}, "observations.o.mismatch_sd", "expected a mismatch_sd > 0"),
    ({"use": "shwon"}, "observations.o.use", "did you mean 'shown'"),
    ({"eror": 1}, "observations.o.eror", "unknown key 'eror' (did you mean 'error'?)"),
])
def test_observation_mistakes_name_the_key(speed, change, path, message):
    err = error_of(speed, observations={"o": {**GOOD, **change}})
    assert err.path == path and message in err.message and err.file == speed.file


def test_no_target_and_use_case_typos_are_named(speed):
    bare = {k: v for k, v in GOOD.items() if k != "kpi"}
    assert "got none" in error_of(speed, observations={"o": bare}).message
    err = error_of(speed, observations={"o": {**bare, "use_case": "uu"}})
    assert err.path == "observations.o.use_case" and "did you mean 'u'" in err.message


@pytest.mark.parametrize("kpi, path, message", [
    ({"use_cases": ["v"]}, "kpis.k2.use_cases", "unknown use case 'v'"),
    ({"definition": " "}, "kpis.k2.definition", "expected a definition"),
    ({"profiles": ["x"]}, "kpis.k2.use_cases", "either 'use_cases' or 'profiles'"),
    ({"scale": 0}, "kpis.k2.scale", "expected a number > 0"),
    ({"milestones": {"20x": 1}}, "kpis.k2.milestones.20x", "expected a year"),
])
def test_kpi_mistakes_name_the_key(speed, kpi, path, message):
    good = {"use_cases": ["u"], "scale": 100, "definition": "u in %"}
    err = error_of(speed, kpis={"k2": {**good, **kpi}})
    assert err.path == path and message in err.message


def test_a_kpi_needs_a_definition(speed):
    err = error_of(speed, kpis={"k2": {"use_cases": ["u"], "scale": 100}})
    assert err.path == "kpis.k2.definition" and "missing required key" in err.message


def test_an_observations_file_holds_only_kpis_and_observations(tmp_path, speed):
    path = tmp_path / "obs.toml"
    path.write_text('[settings]\ndraws = 5\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="expected one of kpis, observations") as info:
        with_observations(speed, path)
    assert info.value.file == str(path)
    path.write_text('[observations.o]\nkpi = "kk"\nyear = 2024\nvalue = 1\nerror = { sd = 1 }\n',
                    encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        with_observations(speed, path)
    assert info.value.file == str(path) and info.value.path == "observations.o.kpi"


def test_update_without_observations_says_what_to_do(speed):
    with pytest.raises(digimpact.errors.UsageError, match="pass observations=FILE"):
        digimpact.update(speed, draws=10)


# ----------------------------------------------------------------------------- Japan
@pytest.fixture(scope="module")
def japan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateWeightsWarning)
        return digimpact.update(JAPAN / "exhibit5.toml", JAPAN / "observations.toml", draws=4000)


def test_the_japan_data_slow_the_talent_driver_and_lower_2030(japan):
    talent = japan.parameters().loc["drivers.talent.value"]
    assert talent["posterior mean"] < talent["prior mean"] - 0.1
    table = japan.compare()
    total = table.loc[("annual", "total", "total")]
    assert total["posterior p50"] < total["prior p50"]
    ecommerce = japan.kpis().loc[("ecommerce_penetration", 2024)]
    assert ecommerce["posterior p50"] < ecommerce["prior p50"]
    assert len(japan.observations) == 10


def test_japan_scenario_files_ignore_observations_in_run_and_check():
    plain = digimpact.load_scenario(JAPAN / "exhibit5.toml")
    assert not plain.kpis and not plain.observations
    merged = with_observations(plain, JAPAN / "observations.toml")
    assert merged.hash != plain.hash and len(merged.kpis) == 5


# ----------------------------------------------------------------------------- CLI
def test_cli_update_prints_prior_and_posterior_with_the_ess(tmp_path, capsys, speed):
    obs = tmp_path / "obs.toml"
    obs.write_text('[observations.o]\nkpi = "k"\nyear = 2024\nvalue = 40\nerror = { sd = 2 }\n',
                   encoding="utf-8")
    assert main(["update", speed.file, "--observations", str(obs), "--draws", "500"]) == 0
    out = capsys.readouterr().out
    assert "effective sample size" in out and "prior p50" in out and "posterior p95" in out
    assert "drivers.s.value" in out
    assert main(["update", speed.file, "--observations", str(obs), "--draws", "500",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    post = digimpact.update(speed.file, obs, draws=500)
    assert doc["ess"] == post.ess and doc["observations"] == ["o"]
    assert {r["id"] for r in doc["summary"]} >= {"total", "a"}
    assert doc["drivers"][0]["parameter"] == "drivers.s.value"
    assert main(["update", speed.file, "--observations", str(obs), "--draws", "500", "--rounds", "2",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rounds"] == 2 and doc["ess"] == digimpact.update(speed.file, obs, draws=500, rounds=2).ess


def test_cli_update_reports_a_bad_observation_file(tmp_path, capsys, speed):
    obs = tmp_path / "obs.toml"
    obs.write_text('[observations.o]\nkpi = "k"\nyear = 2040\nvalue = 40\nerror = { sd = 2 }\n',
                   encoding="utf-8")
    assert main(["update", speed.file, "--observations", str(obs), "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["path"] == "observations.o.year" and error["file"] == str(obs)


def test_widened_rounds_recover_the_posterior_in_the_prior_tail(speed):
    """A datum that only 1-2% of the prior draws fit: one round keeps an ESS of a few dozen;
    three more widened rounds raise it several-fold, and the posterior mean and sd of the
    speed driver match a fine grid of the exact posterior."""
    y = float(kpi(0.52, 2026))
    s = speed.replace(observations=observed(y, year=2026, sd=0.2))
    grid = np.linspace(0.5, 1.5, 200_001)
    density = stats.norm.pdf(y, kpi(grid, 2026), 0.2)
    mean = float((grid * density).sum() / density.sum())
    sd = float(np.sqrt(((grid - mean) ** 2 * density).sum() / density.sum()))
    one = digimpact.update(s, draws=4000, seed=6, min_ess=1)
    four = digimpact.update(s, draws=4000, seed=6, min_ess=1, rounds=4)
    assert four.ess > 3 * one.ess and four.dataset.attrs["rounds"] == 4
    talent = four.parameters().loc["drivers.s.value"]
    assert talent["posterior mean"] == pytest.approx(mean, abs=4 * sd / math.sqrt(four.ess))
    assert talent["prior mean"] == pytest.approx(1.0, abs=0.01)  # the first round's prior draws
    w = four.weights
    s_draws = four.dataset["inputs"].sel(parameter="drivers.s.value").values
    assert math.sqrt(w @ (s_draws - w @ s_draws) ** 2) == pytest.approx(sd, rel=0.3)
    np.testing.assert_array_equal(four.prior.dataset["value"].values, one.dataset["value"].values)
