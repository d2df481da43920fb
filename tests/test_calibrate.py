"""calibrate: closed-form fits, identifiability, bounds, fitted and out-of-sample targets."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import digimpact
from digimpact.calibrate import (
    WEAK_CONDITION,
    _Bound,
    _free,
    _Problem,
    calibrate,
    default_parameters,
    default_targets,
)
from digimpact.errors import ScenarioError, UsageError

Z95 = 1.6448536269514722  # the standard normal's 95th percentile

HEAD = """
[scenario]
title = "Calibration toy"
unit = "JPY trillion"
base_year = 2020
horizon = [2020, 2022]

[settings]
draws = 20000
seed = 7
sampler = "lhs"
"""

def sector(name, group, value_added):
    return f'[sectors.{name}]\ngroup = "{group}"\nvalue_added = {value_added}\n'


def driver(name, sigma, median=1.0):
    return (f'[drivers.{name}]\nacts_on = "value"\n'
            f'value = {{ dist = "lognormal", median = {median}, sigma = {sigma} }}\n')


def target(name, groups, low, high, tolerance=0.5):
    return (f'[targets.{name}]\ngroups = {groups!r}\nyear = 2022\nlow = {low}\nhigh = {high}\n'
            f'tolerance = {tolerance}\n'.replace("'", '"'))


def one_toml(low=8.0, high=12.0, sigma=0.2, potential=0.1):
    """One sector worth 100, one use case with potential 0.1 adopted in full from 2020, and a
    lognormal value driver: the value is 10 x the driver, so its p5 and p95 are
    10 median exp(-/+ 1.645 sigma)."""
    return (HEAD + sector("a", "g", 100.0) + driver("level", sigma) + f"""
[use_cases.u]
sector = "a"
potential = {potential}
adoption = {{ kind = "step", year = 2020 }}
drivers = ["level"]
""" + target("t", ["g"], low, high))


def two_toml(m1, m2, sigma):
    """Two groups, each with its own level driver, and a driver they share: uncertain potentials
    and adoption, so that nothing but the fit is in closed form."""
    return (HEAD + sector("a", "g1", 100.0) + sector("b", "g2", 200.0) + driver("l1", sigma, m1)
            + driver("l2", sigma, m2) + driver("common", 0.05) + """
[use_cases.u1]
sector = "a"
potential = { dist = "uniform", low = 0.08, high = 0.12 }
adoption = { kind = "logistic", steepness = 1.0, midpoint = { dist = "uniform", low = 2020, high = 2022 } }
drivers = ["l1", "common"]

[use_cases.u2]
sector = "b"
potential = 0.05
adoption = { kind = "step", year = 2020 }
drivers = ["l2", "common"]

[use_cases.u3]
sector = "b"
potential = { dist = "triangular", low = 0.01, mode = 0.02, high = 0.04 }
adoption = { kind = "linear", start = 2020, end = 2022 }
drivers = ["common"]
""")


def one(load_toml, low=8.0, high=12.0, sigma=0.2, potential=0.1):
    return load_toml(one_toml(low, high, sigma, potential))


def least_squares_median(low, high, sigma, base=10.0):
    """The median minimising (base m e^(-z s) - low)^2 + (base m e^(z s) - high)^2."""
    a, b = math.exp(-Z95 * sigma), math.exp(Z95 * sigma)
    return (a * low + b * high) / (base * (a * a + b * b))


# ----------------------------------------------------------------------------- closed forms
@settings(max_examples=8)
@given(low=st.floats(5.0, 20.0), ratio=st.floats(1.2, 3.0), sigma=st.floats(0.05, 0.5))
def test_levels_fit_the_least_squares_median_in_closed_form(tmp_path_factory, low, ratio, sigma):
    path = tmp_path_factory.mktemp("one") / "one.toml"
    path.write_text(one_toml(low, low * ratio, sigma))
    _, report = calibrate(digimpact.load_scenario(path))
    assert list(report.parameters.index) == ["drivers.level.value.median"]
    fitted = report.parameters.loc["drivers.level.value.median", "fitted"]
    assert fitted == pytest.approx(least_squares_median(low, low * ratio, sigma), rel=1e-3)
    # the sigma stays the prior's, and the achieved bounds are those of that lognormal
    achieved = report.fitted["achieved"].to_numpy()
    expected = 10 * fitted * np.exp([-Z95 * sigma, Z95 * sigma])
    assert achieved == pytest.approx(expected, rel=1e-3)


def test_exact_mode_fits_median_and_sigma_in_closed_form(load_toml):
    _, report = calibrate(one(load_toml, low=8.0, high=20.0), mode="exact")
    fitted = report.parameters["fitted"]
    assert fitted["drivers.level.value.median"] == pytest.approx(math.sqrt(8 * 20) / 10, rel=1e-3)
    assert fitted["drivers.level.value.sigma"] == pytest.approx(math.log(20 / 8) / (2 * Z95),
                                                                rel=1e-3)
    assert report.fitted["residual"].abs().max() < 0.01 and report.sum_of_squares < 1e-3


def test_profile_of_one_parameter_is_where_the_sum_of_squares_rises_by_one(load_toml):
    # one free median m, residuals (10 m a - L) / 0.5 and (10 m b - H) / 0.5: the sum of squares
    # is a parabola in m, 400 (a^2 + b^2) (m - m*)^2 + its minimum, so the profile is
    # m* +- 1 / (20 sqrt(a^2 + b^2))
    _, report = calibrate(one(load_toml, low=8.0, high=20.0, sigma=0.2))
    p = report.parameters.iloc[0]
    half = 1 / (20 * math.sqrt(math.exp(-2 * Z95 * 0.2) + math.exp(2 * Z95 * 0.2)))
    m = least_squares_median(8.0, 20.0, 0.2)
    assert p["profile_low"] == pytest.approx(m - half, rel=2e-3)
    assert p["profile_high"] == pytest.approx(m + half, rel=2e-3)
    assert report.condition_number == 1.0 and len(report.singular_values) == 1


# ----------------------------------------------------------------------------- identifiability
def test_unidentified_toy_is_reported_as_such(load_toml):
    # two drivers acting on the same use case: only the product of their medians is identified
    text = one_toml(8.0, 20.0).replace('drivers = ["level"]', 'drivers = ["level", "twin"]')
    scenario = load_toml(text + driver("twin", 0.2))
    assert default_parameters(scenario) == ["drivers.level.value.median",
                                            "drivers.twin.value.median"]
    _, report = calibrate(scenario, draws=2000)
    product = report.parameters["fitted"].prod()
    assert product == pytest.approx(least_squares_median(8.0, 20.0, 0.2 * math.sqrt(2)), rel=1e-2)
    largest, smallest = report.singular_values
    assert smallest < 1e-6 * largest and report.condition_number > WEAK_CONDITION
    profile = report.parameters["profile_high"] / report.parameters["profile_low"]
    assert (profile > 1e4).all()  # each can move by orders of magnitude, the other making up
    assert any("weakly identified" in w and "ln(drivers.level.value.median)" in w
               and "ln(drivers.twin.value.median)" in w for w in report.warnings)
    assert any("profile reaches" in w for w in report.warnings)
    assert "condition number" in report.to_text() and "profile_low" in repr(report)


def test_a_parameter_pushed_to_a_bound_is_flagged(load_toml):
    _, report = calibrate(one(load_toml, low=2e5, high=3e5))
    p = report.parameters.iloc[0]
    assert p["fitted"] == pytest.approx(1e3) and p["at_bound"]
    assert any("is at its high bound 1000" in w for w in report.warnings)
    assert any("fitted target t p5 missed" in w for w in report.warnings)


def test_a_spread_the_targets_do_not_need_is_flagged_at_its_bound(load_toml):
    # the use case's own potential already spans more than the published range: the exact fit
    # wants no spread from the driver (as for the Japan model's public group)
    scenario = one(load_toml, low=9.2, high=10.8,
                   potential='{ dist = "uniform", low = 0.08, high = 0.12 }')
    _, report = calibrate(scenario, mode="exact", draws=2000)
    sigma = report.parameters.loc["drivers.level.value.sigma"]
    assert sigma["profile_low"] == pytest.approx(1e-6)
    assert any(w.startswith("drivers.level.value.sigma") and "low bound 1e-06" in w
               for w in report.warnings)


# ----------------------------------------------------------------------------- fitted and out of sample
@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """``two(m1, m2, sigma, targets)``: the two-group toy with these priors and target tables."""
    folder = tmp_path_factory.mktemp("two")

    def make(m1=1.0, m2=1.0, sigma=0.1, targets=""):
        path = folder / f"two{len(list(folder.iterdir()))}.toml"
        path.write_text(two_toml(m1, m2, sigma) + targets)
        return digimpact.load_scenario(path)
    return make


@pytest.fixture(scope="module")
def truth(two):
    """Targets read off the toy at m1 = 1.5, m2 = 2, sigma = 0.1 (on the settings' draws)."""
    scenario = two(1.5, 2.0, 0.1, target("t1", ["g1"], 1, 2) + target("t2", ["g2"], 1, 2)
                   + target("total", ["g1", "g2"], 1, 2))
    check = digimpact.simulate(scenario, progress=False).check()
    bounds = {(r.target, r.bound): round(r.simulated, 4) for r in check.itertuples()}
    return "".join(target(t, g, bounds[t, "low"], bounds[t, "high"], 0.05)
                   for t, g in [("t1", ["g1"]), ("t2", ["g2"]), ("total", ["g1", "g2"])])


def test_economy_wide_targets_are_out_of_sample_by_default(two, truth):
    scenario = two(targets=truth)
    assert default_targets(scenario) == ["t1", "t2"]
    assert default_targets(scenario, "exact") == ["t1", "t2", "total"]
    fitted, report = calibrate(scenario)
    assert report.fitted["target"].tolist() == ["t1", "t1", "t2", "t2"]
    assert report.out_of_sample["target"].tolist() == ["total", "total"]
    assert report.parameters.loc["drivers.l1.value.median", "fitted"] == pytest.approx(1.5, rel=2e-3)
    assert report.parameters.loc["drivers.l2.value.median", "fitted"] == pytest.approx(2.0, rel=2e-3)
    assert report.targets["ok"].all() and report.warnings == ()
    # the out-of-sample prediction is what a full simulation of the fitted scenario gives
    check = digimpact.simulate(fitted, progress=False).check()
    assert np.allclose(check["simulated"], report.targets["achieved"], rtol=1e-9)


def test_a_wrong_spread_prior_misses_fitted_and_out_of_sample_targets(two, truth):
    _, report = calibrate(two(sigma=0.3, targets=truth))
    assert not report.fitted["ok"].any() and not report.out_of_sample["ok"].all()
    missed = [w for w in report.warnings if "missed" in w]
    assert len(missed) == len(report.targets) - report.targets["ok"].sum()
    assert any(w.startswith("out-of-sample target total") for w in missed)


def test_exact_mode_frees_the_spreads_and_fits_every_target(two, truth):
    fitted, report = calibrate(two(sigma=0.3, targets=truth), mode="exact")
    assert list(report.parameters.index) == [
        "drivers.l1.value.median", "drivers.l1.value.sigma", "drivers.l2.value.median",
        "drivers.l2.value.sigma", "drivers.common.value.sigma"]
    assert report.out_of_sample.empty and report.fitted["ok"].all()
    assert fitted.drivers["l1"].value.spec["median"] == pytest.approx(1.5, rel=0.01)
    assert fitted.drivers["l2"].value.spec["sigma"] == pytest.approx(0.1, rel=0.05)


@settings(max_examples=10)
@given(median=st.lists(st.floats(0.2, 5.0), min_size=3, max_size=3),
       sigma=st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3))
def test_reweighting_equals_a_full_simulation(two, truth, median, sigma):
    scenario = two(targets=truth)
    paths = default_parameters(scenario, "exact")
    free = [_free(p, scenario) for p in paths]
    bounds = [_Bound(t, k, q, v, True) for t in scenario.targets.values() for k, q, v in t.bounds()]
    problem = _Problem(scenario, free, bounds, (500, 3, "random"))
    values = dict(zip(paths, [median[0], sigma[0], median[1], sigma[1], sigma[2]], strict=True))
    check = digimpact.simulate(scenario.with_overrides(values), draws=500, seed=3,
                               sampler="random", progress=False).check()
    x = np.log(list(values.values()))
    assert np.allclose(problem.achieved(x), check["simulated"], rtol=1e-9)


# ----------------------------------------------------------------------------- errors
def test_a_p05_p95_lognormal_is_explained_in_the_median_sigma_form(example):
    with pytest.raises(ScenarioError) as error:
        calibrate(example, draws=200)
    message = str(error.value)
    assert message.startswith(f"{example.file}: drivers: nothing to calibrate")
    # p05 = 0.8, p95 = 1.25: median sqrt(0.8 x 1.25) = 1, sigma ln(1.25 / 0.8) / 3.29 = 0.1357
    assert 'median = 1, sigma = 0.1357' in message
    with pytest.raises(ScenarioError, match=r"drivers\.realisation\.value\.median: .*median = 1"):
        calibrate(example, params=["drivers.realisation.value.median"], draws=200)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"params": ["drivers.levle.value.median"]}, ScenarioError, "did you mean 'level'"),
    ({"params": ["drivers.level.median"]}, ScenarioError, "of the form drivers.<id>.value.median"),
    ({"params": ["drivers.level.value.median"] * 2}, UsageError, "listed twice"),
    ({"targets": ["tt"]}, UsageError, "unknown target 'tt' (did you mean 't'?); expected one of t"),
    ({"targets": []}, ScenarioError, "nothing to calibrate against"),
    ({"mode": "exakt"}, UsageError, "unknown calibration mode 'exakt' (did you mean 'exact'?)"),
    ({"start": {"drivers.level.value.sigma": 0.3}}, UsageError, "not a calibrated parameter"),
    ({"start": {"drivers.level.value.median": 1e4}}, UsageError, "outside [0.001, 1000]"),
])
def test_mistakes_are_named(load_toml, kwargs, error, message):
    with pytest.raises(error) as caught:
        calibrate(one(load_toml), draws=200, **kwargs)
    assert message in str(caught.value)


def test_a_fitted_target_needs_a_tolerance(load_toml):
    scenario = one(load_toml).with_overrides({"targets.t.tolerance": 0.0})
    with pytest.raises(ScenarioError, match=r"targets\.t\.tolerance: expected tolerance > 0"):
        calibrate(scenario, draws=200)


def test_options_are_keyword_only(load_toml):
    with pytest.raises(TypeError):
        calibrate(one(load_toml), ["t"])  # type: ignore[misc]
