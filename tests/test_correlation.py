"""Gaussian copula: target rank correlations, uniform marginals, scenario correlations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import digimpact
from digimpact.correlation import GaussianCopula
from digimpact.sampling import make_sampler

N = 20_000


def uniforms(p: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((p, N))


@pytest.mark.parametrize("rho", [-0.9, -0.5, -0.2, 0.0, 0.3, 0.6, 0.95])
def test_pair_reaches_target_spearman(rho):
    u = uniforms(2, seed=int(100 * (rho + 1)))
    before = u.copy()
    GaussianCopula(["a", "b"], {("a", "b"): rho}).apply(u)
    assert stats.spearmanr(u[0], u[1]).statistic == pytest.approx(rho, abs=0.03)
    for row in u:  # marginals stay uniform
        assert np.all((row > 0) & (row < 1))
        assert stats.kstest(row, "uniform").pvalue > 0.001
    # the first correlated row is unchanged (up to the normal round trip)
    np.testing.assert_allclose(u[0], before[0], rtol=1e-9, atol=1e-12)


def test_normal_correlation_is_2sin_pi_rho_over_6():
    c = GaussianCopula(["a", "b"], {("a", "b"): 0.6})
    assert c.matrix[0, 1] == pytest.approx(2 * math.sin(math.pi * 0.6 / 6), rel=1e-15)
    assert c.matrix[0, 1] == c.matrix[1, 0]
    np.testing.assert_allclose(c.cholesky @ c.cholesky.T, c.matrix, atol=1e-15)


def test_three_parameters_and_bystanders():
    names = ["x", "a", "y", "b", "c"]
    pairs = {("a", "b"): 0.5, ("b", "c"): -0.4, ("a", "c"): 0.1}
    u = uniforms(len(names), seed=3)
    untouched = u[[0, 2]].copy()
    GaussianCopula(names, pairs).apply(u)
    idx = {n: i for i, n in enumerate(names)}
    for (a, b), rho in pairs.items():
        assert stats.spearmanr(u[idx[a]], u[idx[b]]).statistic == pytest.approx(rho, abs=0.03)
    np.testing.assert_array_equal(u[[0, 2]], untouched)  # unlisted rows are not touched
    for i in (0, 2):
        assert abs(stats.spearmanr(u[i], u[idx["a"]]).statistic) < 0.03
    for row in u:
        assert stats.kstest(row, "uniform").pvalue > 0.001


def test_no_pairs_is_identity():
    u = uniforms(3)
    v = u.copy()
    GaussianCopula(["a", "b", "c"], {}).apply(v)
    np.testing.assert_array_equal(u, v)


def test_chunked_application_is_identical():
    u = uniforms(2, seed=9)[:, :1000]
    whole = u.copy()
    cop = GaussianCopula(["a", "b"], {("a", "b"): -0.7})
    cop.apply(whole)
    parts = [u[:, :1].copy(), u[:, 1:333].copy(), u[:, 333:].copy()]
    for p in parts:
        cop.apply(p)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_not_positive_definite_raises_value_error():
    with pytest.raises(ValueError, match="positive definite"):
        GaussianCopula(["a", "b", "c"], {("a", "b"): 0.9, ("b", "c"): 0.9, ("a", "c"): -0.9})


# ----------------------------------------------------------------------------- via a scenario
CORRELATED = """
[scenario]
title = "Correlated potentials"
unit = "u"
base_year = 2020
horizon = [2020, 2021]

[settings]
draws = {draws}
seed = 4
sampler = "{sampler}"

[sectors.s]
group = "g"
value_added = 1.0

# step in the first year with ceiling 1: adoption is 1, so a use case's value is its potential
[use_cases.a]
sector = "s"
potential = {{ dist = "uniform", low = 0.01, high = 0.02 }}
adoption = {{ kind = "step", year = 2020 }}

[use_cases.b]
sector = "s"
potential = {{ dist = "beta", a = 2, b = 5, low = 0.0, high = 0.05 }}
adoption = {{ kind = "step", year = 2020 }}

[use_cases.c]
sector = "s"
potential = {{ dist = "triangular", low = 0.0, mode = 0.01, high = 0.03 }}
adoption = {{ kind = "step", year = 2020 }}
{correlations}
"""

PAIRS = """
[[correlations]]
params = ["use_cases.a.potential", "use_cases.b.potential"]
rank = 0.6

[[correlations]]
params = ["use_cases.b.potential", "use_cases.c.potential"]
rank = -0.4
"""

MARGINALS = {"a": stats.uniform(0.01, 0.01), "b": stats.beta(2, 5, scale=0.05),
             "c": stats.triang(1 / 3, loc=0.0, scale=0.03)}


@pytest.mark.parametrize("sampler", ["random", "lhs"])
def test_scenario_correlations(load_toml, sampler):
    scn = load_toml(CORRELATED.format(draws=N, sampler=sampler, correlations=PAIRS))
    assert [c.params for c in scn.correlations] == [
        ("use_cases.a.potential", "use_cases.b.potential"),
        ("use_cases.b.potential", "use_cases.c.potential")]
    assert [c.rank for c in scn.correlations] == [0.6, -0.4]
    r = digimpact.simulate(scn, keep_use_cases=True, progress=False)
    draws = {u: r.dataset["use_case_value"].sel(use_case=u, year=2020).values for u in "abc"}
    assert stats.spearmanr(draws["a"], draws["b"]).statistic == pytest.approx(0.6, abs=0.03)
    assert stats.spearmanr(draws["b"], draws["c"]).statistic == pytest.approx(-0.4, abs=0.03)
    # unlisted pairs are independent: a and c have normal correlation 0
    assert abs(stats.spearmanr(draws["a"], draws["c"]).statistic) < 0.03
    for u, dist in MARGINALS.items():
        assert stats.kstest(draws[u], dist.cdf).pvalue > 0.001, u

    # without [[correlations]] the marginals are the same and the ranks independent
    free = digimpact.simulate(load_toml(CORRELATED.format(draws=N, sampler=sampler,
                                                          correlations=""), "free.toml"),
                              keep_use_cases=True, progress=False)
    free_draws = {u: free.dataset["use_case_value"].sel(use_case=u, year=2020).values
                  for u in "abc"}
    assert abs(stats.spearmanr(free_draws["a"], free_draws["b"]).statistic) < 0.03
    # the first correlated parameter (sorted by name) keeps its own draws
    np.testing.assert_allclose(draws["a"], free_draws["a"], rtol=1e-9)
    for u in "bc":
        assert stats.ks_2samp(draws[u], free_draws[u]).pvalue > 0.001
        assert not np.allclose(draws[u], free_draws[u])


def test_scenario_copula_uses_sampler_points(load_toml):
    # independently rebuild the correlated uniforms of one run from the sampler and copula
    n = 500
    scn = load_toml(CORRELATED.format(draws=n, sampler="random", correlations=PAIRS))
    r = digimpact.simulate(scn, keep_use_cases=True, progress=False)
    names = sorted(n for n, d in scn.parameters().items() if not d.is_fixed)
    assert names == [f"use_cases.{u}.potential" for u in "abc"]
    u = make_sampler("random", names, seed=4, draws=n).uniforms(0, n)
    GaussianCopula(names, {c.params: c.rank for c in scn.correlations}).apply(u)
    for i, name in enumerate(names):
        uc = name.split(".")[1]
        expected = MARGINALS[uc].ppf(u[i])
        np.testing.assert_allclose(r.dataset["use_case_value"].sel(use_case=uc, year=2021).values,
                                   expected, rtol=1e-9, atol=1e-15)


def test_impossible_scenario_correlations_raise_scenario_error(load_toml):
    impossible = """
[[correlations]]
params = ["use_cases.a.potential", "use_cases.b.potential"]
rank = 0.9
[[correlations]]
params = ["use_cases.b.potential", "use_cases.c.potential"]
rank = 0.9
[[correlations]]
params = ["use_cases.a.potential", "use_cases.c.potential"]
rank = -0.9
"""
    with pytest.raises(digimpact.ScenarioError, match="positive definite") as info:
        load_toml(CORRELATED.format(draws=10, sampler="random", correlations=impossible))
    assert info.value.path == "correlations"
