"""Uncertain parameters: quantiles and moments against closed forms, batch_ppf, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import ndtr, ndtri

from digimpact import ScenarioError
from digimpact.distributions import MAX_NUMBER, MAX_SIGMA, Distribution, batch_ppf, parse

Q = np.array([0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999])
Z95 = 1.6448536269514722  # standard normal 95% quantile


def tri_ppf(q, a, m, b):
    """Closed-form quantile of the triangular distribution."""
    q = np.asarray(q, dtype=float)
    fc = (m - a) / (b - a)
    lower = a + np.sqrt(q * (b - a) * (m - a))
    upper = b - np.sqrt((1 - q) * (b - a) * (b - m))
    return np.where(q < fc, lower, upper)


def trunc_normal_ppf(q, mu, sd, lo, hi):
    fa, fb = ndtr((lo - mu) / sd), ndtr((hi - mu) / sd)
    return mu + sd * ndtri(fa + np.asarray(q) * (fb - fa))


# (spec, independent quantile function, closed-form mean)
CASES = {
    "uniform": ({"dist": "uniform", "low": 2.0, "high": 5.0},
                lambda q: 2.0 + 3.0 * q, 3.5),
    "triangular": ({"dist": "triangular", "low": 0.02, "mode": 0.04, "high": 0.07},
                   lambda q: tri_ppf(q, 0.02, 0.04, 0.07), (0.02 + 0.04 + 0.07) / 3),
    "triangular_mode_at_low": ({"dist": "triangular", "low": 1.0, "mode": 1.0, "high": 3.0},
                               lambda q: tri_ppf(q, 1.0, 1.0, 3.0), 5.0 / 3),
    "pert": ({"dist": "pert", "low": 0.004, "mode": 0.008, "high": 0.015},
             lambda q: 0.004 + 0.011 * stats.beta(1 + 4 * 4 / 11, 1 + 4 * 7 / 11).ppf(q),
             (0.004 + 4 * 0.008 + 0.015) / 6),
    "pert_shape": ({"dist": "pert", "low": 0.0, "mode": 1.0, "high": 4.0, "shape": 2.0},
                   lambda q: 4.0 * stats.beta(1 + 2 * 1 / 4, 1 + 2 * 3 / 4).ppf(q),
                   (0.0 + 2 * 1.0 + 4.0) / 4),
    "normal": ({"dist": "normal", "mean": 10.0, "sd": 2.0},
               lambda q: 10.0 + 2.0 * stats.norm.ppf(q), 10.0),
    "normal_truncated": ({"dist": "normal", "mean": 0.01, "sd": 0.003, "low": 0.0, "high": 0.03},
                         lambda q: trunc_normal_ppf(q, 0.01, 0.003, 0.0, 0.03), None),
    "normal_low_only": ({"dist": "normal", "mean": 0.0, "sd": 1.0, "low": 0.0},
                        lambda q: stats.halfnorm.ppf(q), math.sqrt(2 / math.pi)),
    "lognormal_p05_p95": ({"dist": "lognormal", "p05": 0.8, "p95": 1.25},
                          lambda q: np.exp(0.5 * math.log(0.8 * 1.25)
                                           + math.log(1.25 / 0.8) / (2 * Z95) * stats.norm.ppf(q)),
                          math.exp(0.5 * math.log(0.8 * 1.25)
                                   + 0.5 * (math.log(1.25 / 0.8) / (2 * Z95)) ** 2)),
    "lognormal_median_sigma": ({"dist": "lognormal", "median": 3.0, "sigma": 0.5},
                               lambda q: 3.0 * np.exp(0.5 * stats.norm.ppf(q)),
                               3.0 * math.exp(0.125)),
    "beta": ({"dist": "beta", "a": 2.0, "b": 5.0},
             lambda q: stats.beta(2, 5).ppf(q), 2 / 7),
    "beta_scaled": ({"dist": "beta", "a": 2.0, "b": 5.0, "low": 0.0, "high": 0.05},
                    lambda q: 0.05 * stats.beta(2, 5).ppf(q), 0.05 * 2 / 7),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ppf_matches_closed_form(name):
    spec, ppf, _ = CASES[name]
    d = parse(spec)
    assert d.kind == spec["dist"]
    assert not d.is_fixed
    np.testing.assert_allclose(d.ppf(Q), ppf(Q), rtol=1e-9, atol=1e-12)
    assert d.median() == pytest.approx(float(ppf(0.5)), rel=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sample_quantiles_and_mean(name):
    spec, ppf, mean = CASES[name]
    d = parse(spec)
    n = 20_000
    x = d.ppf(np.random.default_rng(12345).random(n))
    probs = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    truth = ppf(probs)
    spread = truth[-1] - truth[0]
    np.testing.assert_allclose(np.quantile(x, probs), truth, atol=0.03 * spread)
    # KS against the independently computed distribution (by inverting its quantile grid)
    grid = np.linspace(1e-4, 1 - 1e-4, 4001)
    cdf = lambda v: np.interp(v, ppf(grid), grid)  # noqa: E731
    assert stats.kstest(x, cdf).pvalue > 0.001
    if mean is not None:
        assert d.mean() == pytest.approx(mean, rel=1e-9)
        assert x.mean() == pytest.approx(mean, abs=5 * x.std() / math.sqrt(n))
    lo, hi = d.support()
    assert np.all((x >= lo) & (x <= hi))


def test_truncated_normal_mean_closed_form():
    mu, sd, lo, hi = 0.01, 0.003, 0.0, 0.03
    a, b = (lo - mu) / sd, (hi - mu) / sd
    mean = mu + sd * (stats.norm.pdf(a) - stats.norm.pdf(b)) / (ndtr(b) - ndtr(a))
    d = parse(CASES["normal_truncated"][0])
    assert d.mean() == pytest.approx(mean, rel=1e-9)
    assert d.support() == (0.0, 0.03)


@given(p05=st.floats(1e-3, 100.0), ratio=st.floats(1.001, 50.0))
def test_lognormal_reproduces_its_p05_and_p95(p05, ratio):
    p95 = p05 * ratio
    d = parse({"dist": "lognormal", "p05": p05, "p95": p95})
    assert float(d.ppf(0.05)) == pytest.approx(p05, rel=1e-9)
    assert float(d.ppf(0.95)) == pytest.approx(p95, rel=1e-9)
    assert d.median() == pytest.approx(math.sqrt(p05 * p95), rel=1e-9)


@given(a=st.floats(-100, 100), width=st.floats(1e-3, 100), f=st.floats(0, 1))
def test_closed_form_means(a, width, f):
    b = a + width
    m = a + f * width
    assert parse({"dist": "uniform", "low": a, "high": b}).mean() == pytest.approx(
        (a + b) / 2, rel=1e-9, abs=1e-9)
    assert parse({"dist": "triangular", "low": a, "mode": m, "high": b}).mean() == pytest.approx(
        (a + m + b) / 3, rel=1e-9, abs=1e-9)
    assert parse({"dist": "pert", "low": a, "mode": m, "high": b}).mean() == pytest.approx(
        (a + 4 * m + b) / 6, rel=1e-9, abs=1e-9)


@given(a=st.floats(0.1, 20), b=st.floats(0.1, 20), lo=st.floats(-5, 5), w=st.floats(0.01, 10))
def test_beta_mean(a, b, lo, w):
    d = parse({"dist": "beta", "a": a, "b": b, "low": lo, "high": lo + w})
    assert d.mean() == pytest.approx(lo + w * a / (a + b), rel=1e-9, abs=1e-12)
    assert d.support() == pytest.approx((lo, lo + w))


def test_fixed_values():
    for value in (0.3, 3, {"dist": "fixed", "value": 0.3}):
        d = parse(value)
        assert d.is_fixed and d.kind == "fixed"
        assert d.value == float(value if not isinstance(value, dict) else 0.3)
        np.testing.assert_array_equal(d.ppf([0.01, 0.5, 0.99]), [d.value] * 3)
        assert d.mean() == d.median() == d.value
        assert d.support() == (d.value, d.value)
    assert parse(0.3).to_spec() == 0.3
    assert parse({"dist": "fixed", "value": 0.3, "source": "x"}).to_spec() == {
        "dist": "fixed", "value": 0.3, "source": "x"}
    assert math.isnan(parse({"dist": "uniform", "low": 0, "high": 1}).value)


def test_metadata_kept_and_to_spec_round_trip():
    spec = {"dist": "triangular", "low": 0.7, "mode": 1.0, "high": 1.2, "source": "s",
            "note": "n", "unit": "1"}
    d = parse(spec)
    assert d.to_spec() == spec
    np.testing.assert_array_equal(parse(d.to_spec()).ppf(Q), d.ppf(Q))


def test_rvs_is_ppf_of_uniforms():
    d = parse({"dist": "uniform", "low": 1.0, "high": 3.0})
    u = np.random.default_rng(7).random(50)
    np.testing.assert_array_equal(d.rvs(50, rng=7), 1.0 + 2.0 * u)


# ----------------------------------------------------------------------------- batch_ppf
@st.composite
def specs(draw):
    kind = draw(st.sampled_from(["fixed", "uniform", "triangular", "pert", "normal", "truncnorm",
                                 "lognormal", "lognormal_ms", "beta"]))
    lo = draw(st.floats(-10, 10))
    w = draw(st.floats(0.01, 10))
    f = draw(st.floats(0, 1))
    if kind == "fixed":
        return lo
    if kind == "uniform":
        return {"dist": "uniform", "low": lo, "high": lo + w}
    if kind in ("triangular", "pert"):
        return {"dist": kind, "low": lo, "mode": lo + f * w, "high": lo + w}
    if kind == "normal":
        return {"dist": "normal", "mean": lo, "sd": w}
    if kind == "truncnorm":
        return {"dist": "normal", "mean": lo, "sd": w, "low": lo - f * w, "high": lo + w}
    if kind == "lognormal":
        return {"dist": "lognormal", "p05": w, "p95": w * (1.5 + f)}
    if kind == "lognormal_ms":
        return {"dist": "lognormal", "median": w, "sigma": 0.1 + f}
    return {"dist": "beta", "a": 0.5 + 5 * f, "b": w, "low": lo, "high": lo + w}


@settings(max_examples=40)
@given(data=st.data())
def test_batch_ppf_equals_row_by_row(data):
    dists = [parse(s) for s in data.draw(st.lists(specs(), min_size=1, max_size=8))]
    n = data.draw(st.integers(1, 20))
    seed = data.draw(st.integers(0, 2**32 - 1))
    q = np.random.default_rng(seed).random((len(dists), n))
    out = batch_ppf(dists, q)
    assert out.shape == q.shape
    for i, d in enumerate(dists):
        np.testing.assert_array_equal(out[i], d.ppf(q[i]))


# ----------------------------------------------------------------------------- errors
def parse_error(value, path="use_cases.x.potential", file="f.toml") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(value, path, file)
    err = info.value
    assert isinstance(err, ValueError)
    assert str(err).startswith("f.toml: use_cases.x.potential")
    assert err.file == "f.toml"
    return err


def test_error_unknown_dist_suggests():
    err = parse_error({"dist": "triangle", "low": 0, "mode": 1, "high": 2})
    assert err.path == "use_cases.x.potential.dist"
    assert "unknown distribution 'triangle'" in str(err)
    assert "did you mean 'triangular'?" in str(err)


def test_error_missing_dist():
    err = parse_error({"low": 0, "high": 1})
    assert err.path == "use_cases.x.potential"
    assert "'dist'" in str(err)


def test_error_unknown_key_suggests():
    err = parse_error({"dist": "triangular", "low": 0, "mdoe": 1, "high": 2})
    assert err.path == "use_cases.x.potential.mdoe"
    assert "unknown key 'mdoe'" in str(err) and "did you mean 'mode'?" in str(err)


@pytest.mark.parametrize("spec, key", [
    ({"dist": "triangular", "low": 0, "high": 2}, "mode"),
    ({"dist": "uniform", "low": 0}, "high"),
    ({"dist": "normal", "mean": 0}, "sd"),
    ({"dist": "beta", "b": 2}, "a"),
    ({"dist": "fixed"}, "value"),
])
def test_error_missing_key(spec, key):
    err = parse_error(spec)
    assert err.path == f"use_cases.x.potential.{key}"
    assert f"missing key '{key}'" in str(err)


def test_error_lognormal_needs_a_complete_form():
    for spec in ({"dist": "lognormal", "p05": 1.0}, {"dist": "lognormal", "median": 1.0},
                 {"dist": "lognormal", "p05": 1.0, "p95": 2.0, "sigma": 0.1}):
        err = parse_error(spec)
        assert "p05 and p95, or median and sigma" in str(err)


@pytest.mark.parametrize("spec, key", [
    ({"dist": "uniform", "low": 2, "high": 1}, "high"),
    ({"dist": "uniform", "low": 1, "high": 1}, "high"),
    ({"dist": "triangular", "low": 3, "mode": 2, "high": 4}, "mode"),
    ({"dist": "pert", "low": 0, "mode": 5, "high": 4}, "high"),
    ({"dist": "normal", "mean": 0, "sd": 1, "low": 2, "high": 1}, "high"),
    ({"dist": "beta", "a": 1, "b": 1, "low": 1, "high": 0}, "high"),
    ({"dist": "lognormal", "p05": 3, "p95": 2}, "p95"),
])
def test_error_inverted_range_or_mode_outside(spec, key):
    err = parse_error(spec)
    assert err.path == f"use_cases.x.potential.{key}"
    assert "expected" in str(err)


@pytest.mark.parametrize("spec, key", [
    ({"dist": "normal", "mean": 0, "sd": 0}, "sd"),
    ({"dist": "normal", "mean": 0, "sd": -1}, "sd"),
    ({"dist": "lognormal", "p05": 0, "p95": 2}, "p05"),
    ({"dist": "lognormal", "median": -1, "sigma": 1}, "median"),
    ({"dist": "lognormal", "median": 1, "sigma": 0}, "sigma"),
    ({"dist": "beta", "a": 0, "b": 1}, "a"),
    ({"dist": "pert", "low": 0, "mode": 1, "high": 2, "shape": 0}, "shape"),
])
def test_error_nonpositive_shape_parameters(spec, key):
    err = parse_error(spec)
    assert err.path == f"use_cases.x.potential.{key}"
    assert "> 0" in str(err)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_error_non_finite(bad):
    err = parse_error(bad)
    assert err.path == "use_cases.x.potential" and "finite" in str(err)
    err = parse_error({"dist": "uniform", "low": 0, "high": bad})
    assert err.path == "use_cases.x.potential.high" and "finite" in str(err)


@pytest.mark.parametrize("bad", [True, False, "0.1", None, [0.1], (0.1,)])
def test_error_booleans_and_non_numbers(bad):
    err = parse_error(bad)
    assert err.path == "use_cases.x.potential"
    assert "expected a number" in str(err)
    err = parse_error({"dist": "uniform", "low": bad, "high": 1})
    assert err.path == "use_cases.x.potential.low"


def test_error_metadata_must_be_text():
    err = parse_error({"dist": "uniform", "low": 0, "high": 1, "source": 3})
    assert err.path == "use_cases.x.potential.source"


@pytest.mark.parametrize("bad", [["uniform"], {"x": 1}])
def test_error_unhashable_dist_name(bad):
    err = parse_error({"dist": bad, "low": 0, "high": 1})
    assert err.path == "use_cases.x.potential.dist"


def test_distribution_is_a_plain_object():
    d = parse({"dist": "uniform", "low": 0, "high": 1})
    assert isinstance(d, Distribution)
    assert "uniform" in repr(d)


# ----------------------------------------------------------------------------- bounds (issue 9)
REACH = np.array([2.0**-54, 0.5, 1 - 2.0**-53])  # the samplers' extreme points and the median


@given(median=st.floats(1e-15, 1e15), sigma=st.floats(1e-6, MAX_SIGMA))
def test_lognormal_within_bounds_reaches_finite_values(median, sigma):
    d = parse({"dist": "lognormal", "median": median, "sigma": sigma})
    values = d.ppf(REACH)
    assert np.isfinite(values).all() and (values > 0).all()
    # closed form: median * exp(sigma * z) at the reach points
    z = stats.norm.ppf(REACH)
    np.testing.assert_allclose(values, median * np.exp(sigma * z), rtol=1e-9)


@given(sigma=st.floats(MAX_SIGMA, 1e6, exclude_min=True))
def test_lognormal_sigma_above_the_bound_is_refused(sigma):
    with pytest.raises(ScenarioError, match=r"expected sigma <= 5") as info:
        parse({"dist": "lognormal", "median": 1.0, "sigma": sigma}, "x.value", "f.toml")
    assert info.value.path == "x.value.sigma"


def test_lognormal_p05_p95_bound_is_the_same_sigma():
    ratio = math.exp(2 * Z95 * MAX_SIGMA)  # p95 / p05 at sigma = 5 exactly
    assert parse({"dist": "lognormal", "p05": 1.0, "p95": ratio * (1 - 1e-12)}).frozen.args[0] \
        == pytest.approx(MAX_SIGMA)
    with pytest.raises(ScenarioError, match=r"p95 / p05 <= 1\.39e\+07"):
        parse({"dist": "lognormal", "p05": 1.0, "p95": ratio * 1.001})


@given(value=st.one_of(st.integers(min_value=10**15 + 1), st.integers(max_value=-(10**15) - 1),
                       st.floats(1e15, 1e308, exclude_min=True)))
def test_numbers_beyond_the_bound_are_refused_not_overflowed(value):
    with pytest.raises(ScenarioError, match=r"expected a number between -1e\+15 and 1e\+15"):
        parse({"dist": "uniform", "low": 0, "high": value}, "p", "f.toml")


def test_numbers_at_the_bound_are_accepted():
    assert parse(MAX_NUMBER).value == 1e15 and parse(-(10**15)).value == -1e15
