"""Monte Carlo error: exact order-statistic ranks and coverage, Sobol' replicates, draws needed,
runs to a precision."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import EXAMPLE
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import digimpact
from digimpact import mcerror
from digimpact.errors import UsageError


def exact_coverage(n: int, q: float, coverage: float) -> float:
    """P(x_(l) <= x_q <= x_(u)) = P(l <= Y <= u - 1), Y ~ binomial(n, q), ranks 0-based."""
    low, high = mcerror.order_statistic_ranks(n, q, coverage=coverage)
    return float(stats.binom.cdf(high, n, q) - stats.binom.cdf(low, n, q))


# ----------------------------------------------------------------------------- ranks
@pytest.mark.parametrize(("n", "q", "ranks"), [
    (100, 0.5, (39, 60)),  # the classic [x_(40), x_(61)] for the median of 100
    (20, 0.5, (5, 14)),    # [x_(6), x_(15)]
    (1000, 0.95, (935, 963)),  # P(Y <= 935) = 0.0207 < 0.025 <= P(Y <= 936); P(Y <= 963) = 0.979
])
def test_ranks_by_hand(n, q, ranks):
    low, high = mcerror.order_statistic_ranks(n, q)
    assert (int(low), int(high)) == ranks
    # hand check of the binomial tails at n = 100, q = 0.5: P(Y <= 39) = 0.0176, P(Y >= 61) = 0.0176
    if n == 100:
        assert exact_coverage(n, q, 0.95) == pytest.approx(1 - 2 * 0.017600, abs=1e-5)


@given(n=st.integers(1, 5000), q=st.floats(0.005, 0.995),
       coverage=st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]))
def test_ranks_give_at_least_the_coverage(n, q, coverage):
    assert exact_coverage(n, q, coverage) >= coverage - 1e-12


@given(q=st.floats(0.01, 0.99), coverage=st.sampled_from([0.8, 0.95, 0.99]))
def test_bounded_draws_is_the_fewest_with_finite_ends(q, coverage):
    n = mcerror.bounded_draws(q, coverage=coverage)
    x = np.linspace(0.0, 1.0, n)
    assert np.isfinite(mcerror.quantile_intervals(x, [q], coverage=coverage).half_width).all()
    if n > 1:
        assert np.isinf(mcerror.quantile_intervals(x[:-1], [q], coverage=coverage).half_width).all()


def test_intervals_of_values_by_hand():
    iv = mcerror.quantile_intervals(np.arange(100.0, 0.0, -1.0), [0.5, 0.999])  # 1..100, unsorted
    assert iv.estimate.tolist() == pytest.approx([50.5, 99.901])
    # q = 0.999: P(Y <= 98) = 0.0045 < 0.025 <= P(Y <= 99), and P(Y = 100) = 0.905 > 0.025
    assert iv.low.tolist() == [40.0, 99.0] and iv.high.tolist() == [61.0, np.inf]
    assert iv.half_width[0] == 10.5


def test_coverage_on_uniform_samples_is_within_a_binomial_band():
    """2000 samples of 300 uniforms: the 95% interval of the 90% quantile covers 0.9 in a share
    within four binomial standard deviations of its exact coverage."""
    rng = np.random.default_rng(12)
    reps, n, q = 2000, 300, 0.9
    samples = rng.random((reps, n))
    covered = [bool(iv.low[0] <= q <= iv.high[0])
               for iv in (mcerror.quantile_intervals(row, [q]) for row in samples)]
    p = exact_coverage(n, q, 0.95)
    assert 0.95 <= p < 0.97
    assert abs(np.mean(covered) - p) < 4 * np.sqrt(p * (1 - p) / reps)


# ----------------------------------------------------------------------------- draws needed
@given(n=st.integers(10, 10**6), width=st.floats(0.01, 10), p1=st.floats(0.01, 10),
       p2=st.floats(0.01, 10))
def test_draws_needed_is_monotone(n, width, p1, p2):
    small, large = sorted([p1, p2])
    assert mcerror.draws_needed(n, width, small) >= mcerror.draws_needed(n, width, large)
    assert mcerror.draws_needed(n, width, width) == n
    assert mcerror.draws_needed(n, 2 * width, small) >= mcerror.draws_needed(n, width, small)


def test_draws_needed_predicts_the_half_width():
    """The 1/sqrt(n) extrapolation from 2000 normal draws to half the width holds within 10%."""
    rng = np.random.default_rng(5)
    h = mcerror.quantile_intervals(rng.standard_normal(2000), [0.95]).half_width[0]
    n = int(mcerror.draws_needed(2000, h, h / 2))
    assert n == 8000
    widths = [mcerror.quantile_intervals(rng.standard_normal(n), [0.95]).half_width[0] for _ in range(20)]
    assert np.mean(widths) == pytest.approx(h / 2, rel=0.1)
    assert np.isinf(mcerror.draws_needed(10, np.inf, 1.0))


def test_running_intervals_match_prefixes():
    x = np.random.default_rng(1).random(500)
    iv = mcerror.running_intervals(x, [0.1, 0.5], [100, 500])
    assert iv.estimate.shape == (2, 2)
    np.testing.assert_array_equal(iv.high[0], mcerror.quantile_intervals(x[:100], [0.1, 0.5]).high)
    assert (iv.half_width[1] < iv.half_width[0]).all()


# ----------------------------------------------------------------------------- from results
def total(r):
    return r.metric().values


def test_intervals_of_random_results_are_order_statistic_intervals():
    r = digimpact.simulate(EXAMPLE, draws=1000, seed=4, sampler="random", progress=False)
    iv = mcerror.intervals(r, [total], [0.05, 0.95])
    expected = mcerror.quantile_intervals(total(r), [0.05, 0.95])
    for got, want in zip(iv, expected, strict=True):
        np.testing.assert_array_equal(got[0], want)


def test_sobol_intervals_come_from_sixteen_replicates():
    r = digimpact.simulate(EXAMPLE, draws=1024, seed=4, sampler="sobol", progress=False)
    iv = mcerror.intervals(r, [total], [0.05, 0.5, 0.95])
    reps = mcerror.sobol_replicates(r)
    assert reps is mcerror.sobol_replicates(r)  # made once
    assert len(reps) == mcerror.SOBOL_REPLICATES
    assert {x.dataset.attrs["draws"] for x in reps} == {1024 // 16}
    assert len({x.dataset.attrs["seed"] for x in reps}) == 16
    per_rep = np.array([np.quantile(total(x), [0.05, 0.5, 0.95]) for x in reps])
    se = per_rep.std(axis=0, ddof=1) / 4
    np.testing.assert_allclose(iv.half_width[0], stats.t.ppf(0.975, 15) * se)
    np.testing.assert_array_equal(iv.estimate[0], np.quantile(total(r), [0.05, 0.5, 0.95]))
    with pytest.raises(UsageError, match="at least 32 draws"):
        mcerror.intervals(digimpact.simulate(EXAMPLE, draws=16, sampler="sobol"), [total], [0.5])


def test_bad_coverage_is_refused():
    with pytest.raises(UsageError, match="coverage"):
        mcerror.order_statistic_ranks(10, 0.5, coverage=95)


# ----------------------------------------------------------------------------- precision
def test_run_until_precision_stops_below_it_and_is_reproducible():
    kw = dict(precision=0.1, seed=9, sampler="random", batch=500)
    a = mcerror.run_until_precision(EXAMPLE, **kw)
    b = mcerror.run_until_precision(EXAMPLE, **kw)
    n = a.dataset.attrs["draws"]
    assert n == b.dataset.attrs["draws"] == 1500  # 500 -> 1000 (predicted) -> 1500
    np.testing.assert_array_equal(a.dataset["value"].values, b.dataset["value"].values)
    assert mcerror.target_half_widths(a).max() <= 0.1
    fewer = digimpact.simulate(EXAMPLE, draws=n - 500, seed=9, sampler="random")
    assert mcerror.target_half_widths(fewer).max() > 0.1  # one batch fewer was not enough
    same = digimpact.simulate(EXAMPLE, draws=n, seed=9, sampler="random")
    np.testing.assert_array_equal(a.dataset["value"].values, same.dataset["value"].values)
    assert a.dataset.attrs["precision"] == 0.1


def test_run_until_precision_sobol_sizes_are_powers_of_two():
    r = mcerror.run_until_precision(EXAMPLE, precision=0.6, seed=1, sampler="sobol", batch=300)
    n = r.dataset.attrs["draws"]
    assert n & (n - 1) == 0 and n >= 512


def test_run_until_precision_warns_at_max_draws():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = mcerror.run_until_precision(EXAMPLE, precision=0.01, seed=1, sampler="lhs", batch=200,
                                        max_draws=600)
    assert r.dataset.attrs["draws"] == 600
    assert any("max_draws = 600" in str(w.message) for w in caught)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "0.1"])
def test_run_until_precision_refuses_a_bad_precision(bad):
    with pytest.raises(UsageError, match="precision must be a positive number"):
        mcerror.run_until_precision(EXAMPLE, precision=bad)


# ----------------------------------------------------------------------------- check and CLI
def test_check_flags_the_issue_example_as_within_mc_error(capsys, tmp_path):
    """Issue 12: 2000 random draws, seed 3 miss core+public high (40.60 vs 40 +- 0.5), on
    Japan 2030 as it was then (before issue 10)."""
    from conftest import ROOT, before_issue_10

    from digimpact.cli import main as cli

    path = tmp_path / "exhibit5_before_issue_10.toml"
    before_issue_10(digimpact.load_scenario(ROOT / "scenarios" / "japan2030" / "exhibit5.toml")).to_toml(path)
    r = digimpact.simulate(path, draws=2000, sampler="random", seed=3, progress=False)
    row = r.check().set_index(["target", "bound"]).loc[("core_public", "high")]
    assert row["simulated"] == pytest.approx(40.6047, abs=1e-4) and not row["ok"]
    assert row["mc_low"] < 40.5 < row["simulated"] < row["mc_high"] and row["within_mc_error"]
    expected = mcerror.draws_needed(2000, (row["mc_high"] - row["mc_low"]) / 2, row["residual"] - 0.5)
    assert row["draws_needed"] == expected > 2000
    assert cli(["check", str(path), "--draws", "2000", "--sampler", "random", "--seed", "3"]) == 1
    assert f"1 within Monte Carlo error: more draws would settle it, about --draws {int(expected)}" \
        in capsys.readouterr().err


def test_cli_precision_is_reproducible(capsys):
    import json

    from digimpact.cli import main as cli

    args = ["check", str(EXAMPLE), "--precision", "0.1", "--draws", "500", "--seed", "9",
            "--sampler", "random", "--format", "json"]
    cli(args)
    first = json.loads(capsys.readouterr().out)
    cli(args)
    assert json.loads(capsys.readouterr().out) == first
    assert first["provenance"]["draws"] == 1500
    assert all((t["mc_high"] - t["mc_low"]) / 2 <= 0.1 for t in first["targets"])
    assert cli(["check", str(EXAMPLE), "--precision", "-1"]) == 2
