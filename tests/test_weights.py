"""Importance weights: error models, likelihood, ESS, weighted quantiles, resampling, tempering,
the widened second round; checked on closed forms (conjugate normal), hand-computed cases,
numpy's quantiles on repeated values, and a simulation-based calibration of the intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from digimpact.errors import UsageError
from digimpact.weights import (
    Z90,
    DegenerateWeightsWarning,
    IntervalError,
    NormalError,
    Observation,
    RelativeError,
    WidenedProposal,
    check_ess,
    effective_sample_size,
    importance_weights,
    log_likelihood,
    suggest_draws,
    systematic_resample,
    tempering_exponent,
    tempering_schedule,
    weighted_quantile,
)

METHODS = ["inverted_cdf", "averaged_inverted_cdf"]
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def posterior(m0: float, s0: float, ys: list[float], ss: list[float]) -> tuple[float, float]:
    """Closed-form normal posterior of theta ~ N(m0, s0^2) given y_k ~ N(theta, s_k^2)."""
    precision = 1 / s0**2 + sum(1 / s**2 for s in ss)
    mean = (m0 / s0**2 + sum(y / s**2 for y, s in zip(ys, ss, strict=True))) / precision
    return mean, precision**-0.5


def weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mean = float(w @ x / w.sum())
    return mean, float(np.sqrt(w @ (x - mean) ** 2 / w.sum()))


# ----------------------------------------------------------------------------- error models
def test_normal_error_adds_the_mismatch_in_quadrature():
    e = NormalError(0.3, mismatch_sd=0.4)  # total sd 0.5
    assert e.total_sd(7.0) == pytest.approx(0.5, rel=1e-15)
    expected = [-math.log(0.5) - LOG_SQRT_2PI, -math.log(0.5) - LOG_SQRT_2PI - 0.5]
    np.testing.assert_allclose(e.logpdf(1.0, [1.0, 1.5]), expected, rtol=1e-14)


def test_relative_error_scales_with_the_observed_value():
    assert RelativeError(0.1).total_sd(-20.0) == pytest.approx(2.0)
    assert RelativeError(0.1, mismatch_sd=1.5).total_sd(20.0) == pytest.approx(2.5)  # 3-4-5
    with pytest.raises(UsageError, match="zero sd"):
        RelativeError(0.1).logpdf(0.0, [1.0])


def test_normal_interval_is_a_central_90_percent_interval():
    e = IntervalError(2.0, 3.0)
    sd = e.total_sd(e.midpoint)
    assert sd == pytest.approx(0.5 / 1.6448536269514722, rel=1e-12)
    assert stats.norm.cdf(3.0, loc=e.midpoint, scale=sd) == pytest.approx(0.95, abs=1e-12)
    # the density is the normal at the midpoint whatever point inside is passed as observed
    np.testing.assert_array_equal(e.logpdf(2.2, [2.0, 4.0]), e.logpdf(2.5, [2.0, 4.0]))
    wide = IntervalError(2.0, 3.0, mismatch_sd=1.0)
    assert wide.total_sd(2.5) == pytest.approx(math.hypot(0.5 / Z90, 1.0))
    with pytest.raises(UsageError, match="outside its interval"):
        e.logpdf(3.5, [1.0])


def test_uniform_interval_is_a_box_softened_by_the_mismatch():
    box = IntervalError(1.0, 3.0, shape="uniform")
    np.testing.assert_array_equal(box.logpdf(2.0, [0.5, 1.0, 2.0, 3.0, 3.5]),
                                  [-np.inf, -math.log(2), -math.log(2), -math.log(2), -np.inf])
    soft = IntervalError(1.0, 3.0, shape="uniform", mismatch_sd=0.5)
    pred = np.array([-1.0, 0.0, 2.0, 3.0, 5.0])
    naive = np.log(stats.norm.cdf(3.0, pred, 0.5) - stats.norm.cdf(1.0, pred, 0.5)) - math.log(2)
    np.testing.assert_allclose(soft.logpdf(2.0, pred), naive, rtol=1e-12)
    # far in the tail the naive difference is 0; the mass is the normal tail beyond the edge
    far = soft.logpdf(2.0, [42.0, -38.0])  # 39 beyond either edge
    tail = special.log_ndtr(-39.0 / 0.5) - math.log(2)
    np.testing.assert_allclose(far, [tail, tail], rtol=1e-10)


@pytest.mark.parametrize("make, message", [
    (lambda: NormalError(-1.0), "sd must be a finite number >= 0"),
    (lambda: NormalError(1.0, mismatch_sd=math.nan), "mismatch_sd"),
    (lambda: RelativeError(math.inf), "rel"),
    (lambda: IntervalError(3.0, 2.0), "low < high"),
    (lambda: IntervalError(2.0, 3.0, shape="unifrom"), "did you mean 'uniform'"),
])
def test_error_models_reject_bad_parameters(make, message):
    with pytest.raises(UsageError, match=message):
        make()


def test_log_likelihood_sums_independent_observations():
    obs = [Observation(1.0, NormalError(1.0)), Observation(0.0, NormalError(2.0), name="b")]
    pred = np.array([[1.0, 0.0], [2.0, 2.0]])
    expected = [-2 * LOG_SQRT_2PI - math.log(2), -2 * LOG_SQRT_2PI - math.log(2) - 0.5 - 0.5]
    np.testing.assert_allclose(log_likelihood(pred, obs), expected, rtol=1e-14)
    with pytest.raises(UsageError, match=r"shape \(draws, 2\)"):
        log_likelihood(pred[:, :1], obs)
    with pytest.raises(UsageError, match="observation b: predictions must be finite"):
        log_likelihood([[1.0, np.nan]], obs)


def test_log_likelihood_does_not_depend_on_chunking():
    rng = np.random.default_rng(3)
    pred = rng.normal(size=(1001, 3))
    obs = [Observation(0.2, NormalError(0.5)), Observation(1.0, RelativeError(0.3)),
           Observation(0.5, IntervalError(0.0, 1.0, shape="uniform", mismatch_sd=0.2))]
    whole = log_likelihood(pred, obs)
    chunks = np.concatenate([log_likelihood(c, obs) for c in np.array_split(pred, 7)])
    np.testing.assert_array_equal(whole, chunks)


# ----------------------------------------------------------------------------- weights and ESS
def test_importance_weights_normalise_stably():
    np.testing.assert_allclose(importance_weights(np.log([1.0, 1.0, 2.0])), [0.25, 0.25, 0.5])
    far = importance_weights([-1e6, -1e6 + math.log(3)])  # exp() of either underflows
    np.testing.assert_allclose(far, [0.25, 0.75])
    assert importance_weights([-np.inf, 0.0]).tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(importance_weights([-np.inf, 0.0], power=0), [0.5, 0.5])


@given(st.lists(st.floats(-700, 700), min_size=1, max_size=50), st.floats(-1e4, 1e4))
def test_importance_weights_sum_to_one_and_ignore_a_constant(ll, shift):
    w = importance_weights(ll)
    assert w.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(importance_weights(np.array(ll) + shift), w, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("ll", [[-np.inf, -np.inf], [0.0, np.nan], [0.0, np.inf]])
def test_importance_weights_reject_impossible_or_undefined_likelihoods(ll):
    with pytest.raises(UsageError):
        importance_weights(ll)


def test_ess_on_hand_computed_weights():
    assert effective_sample_size([1, 1, 2]) == pytest.approx(16 / 6, rel=1e-15)
    assert effective_sample_size([0.25, 0.25, 0.5]) == pytest.approx(16 / 6, rel=1e-15)
    assert effective_sample_size(np.ones(7)) == pytest.approx(7.0, rel=1e-15)
    assert effective_sample_size([0.0, 3.0, 0.0]) == 1.0
    assert effective_sample_size([1e-300, 2e-300]) == pytest.approx(9 / 5)  # no underflow
    np.testing.assert_allclose(effective_sample_size([[1, 1], [1, 0], [2, 0]]), [16 / 6, 1.0])
    with pytest.raises(UsageError, match="not all zero"):
        effective_sample_size([0.0, 0.0])


@given(st.lists(st.floats(0, 1e6, allow_subnormal=False), min_size=1, max_size=60)
       .filter(lambda w: sum(w) > 0),
       st.integers(-20, 20))
def test_ess_lies_between_one_and_the_draws_and_ignores_scale(w, k):
    ess = effective_sample_size(w)
    assert 1 - 1e-12 <= ess <= len(w) * (1 + 1e-12)
    assert effective_sample_size(np.array(w) * 2.0**k) == pytest.approx(ess, rel=1e-12)


def test_suggest_draws_scales_the_draws_to_the_target():
    assert suggest_draws(50.0, 20_000, 1000) == 400_000
    assert suggest_draws(3.0, 10, 10) == 34  # rounded up
    assert suggest_draws(5000.0, 20_000, 1000) == 20_000  # never fewer


def test_check_ess_warns_with_a_draw_count():
    w = np.r_[np.ones(10), np.zeros(9990)]
    with pytest.warns(DegenerateWeightsWarning, match=r"10\.0 of 10000 draws .* about 1000000 draws"):
        assert check_ess(w, min_ess=1000) == pytest.approx(10.0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_ess(w, min_ess=10) == pytest.approx(10.0)


# ----------------------------------------------------------------------------- weighted quantiles
QS = st.lists(st.floats(0, 1), min_size=1, max_size=5)
VALUES = st.floats(-1e6, 1e6, allow_subnormal=False)


@given(st.lists(st.tuples(VALUES, st.integers(0, 4)), min_size=1, max_size=30)
       .filter(lambda vw: any(k for _, k in vw)), QS, st.sampled_from(METHODS))
def test_weighted_quantile_equals_numpy_on_repeated_values(vw, q, method):
    values, counts = (np.array(c) for c in zip(*vw, strict=True))
    expected = np.quantile(np.repeat(values, counts), q, method=method)
    np.testing.assert_array_equal(weighted_quantile(values, counts, q, method=method), expected)
    # proportions only: the same weights scaled by a power of two give the same quantiles
    scaled = weighted_quantile(values, counts * 2.0**-40, q, method=method)
    np.testing.assert_array_equal(scaled, expected)


@given(st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32 - 1), QS,
       st.sampled_from(METHODS))
def test_weighted_quantile_is_vectorised_over_columns(n, m, seed, q, method):
    rng = np.random.default_rng(seed)
    values = rng.integers(-5, 5, size=(n, m)).astype(float)  # ties on purpose
    shared = rng.integers(0, 4, size=n)
    shared[rng.integers(n)] += 1
    own = rng.integers(1, 4, size=(n, m))
    got_shared = weighted_quantile(values.T, shared, q, axis=1, method=method)
    got_own = weighted_quantile(values, own, q, method=method)
    for j in range(m):
        col = values[:, j]
        np.testing.assert_array_equal(
            got_shared[:, j], np.quantile(np.repeat(col, shared), q, method=method))
        np.testing.assert_array_equal(
            got_own[:, j], np.quantile(np.repeat(col, own[:, j]), q, method=method))


def test_weighted_quantile_agrees_with_numpy_weights_on_float_weights():
    rng = np.random.default_rng(7)
    values, w = rng.normal(size=(500, 3)), rng.exponential(size=500)
    q = [0.05, 0.5, 0.95]
    expected = np.quantile(values, q, axis=0, weights=np.broadcast_to(w[:, None], values.shape),
                           method="inverted_cdf")
    np.testing.assert_array_equal(weighted_quantile(values, w, q), expected)


def test_weighted_quantile_hand_cases_and_errors():
    assert weighted_quantile([3.0, 1.0, 2.0], [2, 1, 1], 0.5) == 2.0
    assert weighted_quantile([3.0, 1.0, 2.0], [2, 1, 1], 0.5, method="averaged_inverted_cdf") == 2.5
    assert weighted_quantile([5.0, 1.0, 2.0], [0, 1, 1], 1.0) == 2.0  # a zero weight never shows
    assert weighted_quantile([5.0, 1.0, 2.0], [1, 0, 1], 0.0) == 2.0
    with pytest.raises(UsageError, match="did you mean 'inverted_cdf'"):
        weighted_quantile([1.0], [1.0], 0.5, method="inverted_cfd")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        weighted_quantile([1.0], [1.0], 1.5)
    with pytest.raises(UsageError, match="weights"):
        weighted_quantile([1.0, 2.0], [1.0, -1.0], 0.5)


# ----------------------------------------------------------------------------- resampling
def test_systematic_resample_is_reproducible_by_seed():
    w = np.random.default_rng(0).exponential(size=1000)
    a, b = systematic_resample(w, seed=11), systematic_resample(w, seed=11)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, systematic_resample(w, seed=12))
    assert systematic_resample(w, seed=11, size=50).shape == (50,)
    with pytest.raises(UsageError, match="1-D"):
        systematic_resample(np.ones((2, 2)), seed=1)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=40).filter(lambda w: sum(w) > 0),
       st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_systematic_resample_takes_each_draw_floor_or_ceil_of_its_share(w, size, seed):
    idx = systematic_resample(w, seed=seed, size=size)
    counts = np.bincount(idx, minlength=len(w))
    share = size * np.array(w) / sum(w)
    assert (counts >= np.floor(share - 1e-9)).all() and (counts <= np.ceil(share + 1e-9)).all()
    assert (counts[np.array(w) == 0] == 0).all()


def test_systematic_resample_is_unbiased():
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=2000), rng.exponential(size=2000)
    target = w @ x / w.sum()
    means = np.array([x[systematic_resample(w, seed=s, size=200)].mean() for s in range(400)])
    # the mean over 400 independent resamples is within 4 standard errors of the weighted mean
    assert abs(means.mean() - target) < 4 * means.std(ddof=1) / math.sqrt(400)
    assert means.std() > 0


# ----------------------------------------------------------------------------- the conjugate case
def test_conjugate_normal_posterior_from_prior_draws():
    m0, s0, ys, ss = 1.0, 2.0, [2.5, 1.8], [1.0, 0.5]
    theta = np.random.default_rng(2021).normal(m0, s0, size=200_000)
    obs = [Observation(y, NormalError(s)) for y, s in zip(ys, ss, strict=True)]
    w = importance_weights(log_likelihood(np.column_stack([theta, theta]), obs))
    mean, sd = weighted_moments(theta, w)
    exact_mean, exact_sd = posterior(m0, s0, ys, ss)
    ess = effective_sample_size(w)
    assert abs(mean - exact_mean) < 4 * exact_sd / math.sqrt(ess)
    assert abs(sd / exact_sd - 1) < 4 / math.sqrt(2 * ess)
    lo, hi = weighted_quantile(theta, w, [0.05, 0.95])
    assert lo == pytest.approx(exact_mean - Z90 * exact_sd, abs=0.01)
    assert hi == pytest.approx(exact_mean + Z90 * exact_sd, abs=0.01)


def test_simulation_based_calibration_of_the_90_percent_interval():
    reps, bank, s0, s = 200, 20_000, 1.0, 0.4
    rng = np.random.default_rng(11)
    theta = rng.normal(0.0, s0, size=bank)  # one fixed bank of prior draws
    truth = rng.normal(0.0, s0, size=reps)  # theta* from the prior ...
    y = rng.normal(truth, s)  # ... and data from the likelihood
    w = importance_weights(stats.norm.logpdf(y[None, :], loc=theta[:, None], scale=s))
    lo, hi = weighted_quantile(np.broadcast_to(theta[:, None], w.shape), w, [0.05, 0.95])
    covered = int(((lo <= truth) & (truth <= hi)).sum())
    band = stats.binom.ppf([0.0005, 0.9995], reps, 0.90)
    assert band[0] <= covered <= band[1]
    # and the intervals are the posterior's, not the prior's (which would also cover 90%)
    _, post_sd = posterior(0.0, s0, [0.0], [s])
    assert np.mean(hi - lo) == pytest.approx(2 * Z90 * post_sd, rel=0.03)


# ----------------------------------------------------------------------------- tempering
def sharp_bank(n: int = 20_000, y: float = 3.0, s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    theta = np.random.default_rng(8).normal(size=n)
    return theta, stats.norm.logpdf(y, loc=theta, scale=s)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_tempering_exponent_hits_the_target_ess(fraction):
    theta, ll = sharp_bank()
    beta = tempering_exponent(ll, ess_fraction=fraction)
    assert 0 < beta < 1
    ess = effective_sample_size(importance_weights(ll, power=beta))
    assert ess / theta.size == pytest.approx(fraction, rel=1e-9)


def test_tempering_exponent_is_one_when_the_data_are_weak():
    _, ll = sharp_bank(s=5.0)
    assert tempering_exponent(ll, ess_fraction=0.5) == 1.0


def test_tempered_weights_are_the_posterior_with_a_wider_error():
    theta, ll = sharp_bank(y=1.0, s=0.2)
    beta = tempering_exponent(ll, ess_fraction=0.5)
    w = importance_weights(ll, power=beta)
    mean, sd = weighted_moments(theta, w)
    exact_mean, exact_sd = posterior(0.0, 1.0, [1.0], [0.2 / math.sqrt(beta)])
    ess = effective_sample_size(w)
    assert abs(mean - exact_mean) < 4 * exact_sd / math.sqrt(ess)
    assert abs(sd / exact_sd - 1) < 4 / math.sqrt(2 * ess)


def test_tempering_schedule_halves_the_conditional_ess_each_step():
    _, ll = sharp_bank()
    powers = tempering_schedule(ll, ess_fraction=0.5)
    assert powers[-1] == 1.0 and (np.diff(powers) > 0).all() and len(powers) > 2
    for before, after in zip(np.r_[0.0, powers[:-2]], powers[:-1], strict=True):
        base = importance_weights(ll, power=before)
        inc = np.exp((after - before) * (ll - ll.max()))
        assert (base @ inc) ** 2 / (base @ inc**2) == pytest.approx(0.5, rel=1e-9)


def test_tempering_rejects_data_that_rule_out_most_draws():
    ll = np.r_[np.zeros(10), np.full(90, -np.inf)]
    with pytest.raises(UsageError, match="no power keeps that ESS"):
        tempering_exponent(ll, ess_fraction=0.5)
    with pytest.raises(UsageError, match=r"\(0, 1\)"):
        tempering_exponent(ll, ess_fraction=1.0)


# ----------------------------------------------------------------------------- the second round
def test_widened_proposal_matches_the_prior_when_fit_on_prior_draws():
    prop = WidenedProposal(np.zeros(3), np.ones(3), defensive=0.2)
    u = prop.sample(500, seed=4)
    np.testing.assert_allclose(prop.log_prior_ratio(u), 0.0, atol=1e-15)
    assert ((u > 0) & (u < 1)).all()
    np.testing.assert_array_equal(u, prop.sample(500, seed=4))


def test_widened_proposal_weights_average_to_one_and_are_bounded():
    prop = WidenedProposal(np.array([2.0, -1.0]), np.array([0.3, 0.5]), defensive=0.1)
    log_ratio = prop.log_prior_ratio(prop.sample(200_000, seed=9))
    assert log_ratio.max() <= -math.log(0.1) + 1e-12
    ratio = np.exp(log_ratio)  # E_q[prior / q] = 1
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(ratio.size)


def test_second_rounds_recover_a_posterior_in_the_prior_tail():
    """Data 4.5 prior sd away: the prior bank degenerates; temper, widen, draw again, twice."""
    draws, y, s = 20_000, 4.5, 0.1

    def loglik(u: np.ndarray) -> np.ndarray:  # two inputs; the data inform the first
        return stats.norm.logpdf(y, loc=special.ndtri(u[:, 0]), scale=s)

    u = np.random.default_rng(1).random((draws, 2))
    ll = loglik(u)
    with pytest.warns(DegenerateWeightsWarning):
        ess = [check_ess(importance_weights(ll))]
    w = importance_weights(ll, power=tempering_exponent(ll, ess_fraction=0.2))
    for seed in (2, 3):
        prop = WidenedProposal.fit(u, w)
        assert prop.sd[1] == 1.0  # the uninformed input keeps its prior
        u = prop.sample(draws, seed=seed)
        w = importance_weights(loglik(u) + prop.log_prior_ratio(u))
        ess.append(effective_sample_size(w))
    assert ess[0] < 2 < ess[1] < 1000 < 5000 < ess[2]
    mean, sd = weighted_moments(special.ndtri(u[:, 0]), w)
    exact_mean, exact_sd = posterior(0.0, 1.0, [y], [s])
    assert abs(mean - exact_mean) < 4 * exact_sd / math.sqrt(ess[2])
    assert abs(sd / exact_sd - 1) < 4 / math.sqrt(2 * ess[2])


def test_widened_proposal_rejects_weights_on_one_draw():
    u = np.random.default_rng(0).random((10, 2))
    with pytest.raises(UsageError, match="one draw"):
        WidenedProposal.fit(u, np.eye(10)[3])
    with pytest.raises(UsageError, match="defensive"):
        WidenedProposal(np.zeros(1), np.ones(1), defensive=0.0)
