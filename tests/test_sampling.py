"""Samplers: open-interval points, reproducibility, chunk invariance, name streams, strata."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from digimpact.sampling import (
    MAX_LHS_DRAWS,
    SAMPLERS,
    LatinHypercubeSampler,
    RandomSampler,
    SobolSampler,
    make_sampler,
    permutation,
    round_tables,
    stream,
)

NAMES = ["use_cases.a.potential", "use_cases.b.adoption.midpoint", "drivers.d.value"]

KINDS = ["random", "lhs", "sobol"]


@pytest.fixture(scope="module", params=KINDS)
def kind(request) -> str:
    return request.param


def test_registry():
    assert set(SAMPLERS) == {"random", "lhs", "sobol"}
    assert isinstance(make_sampler("random", NAMES, 0, 4), RandomSampler)
    assert isinstance(make_sampler("lhs", NAMES, 0, 4), LatinHypercubeSampler)
    assert isinstance(make_sampler("sobol", NAMES, 0, 4), SobolSampler)
    with pytest.raises(ValueError, match="unknown sampler 'halton'"):
        make_sampler("halton", NAMES, 0, 4)


def test_points_in_open_unit_interval(kind):
    u = make_sampler(kind, NAMES, seed=3, draws=1024).uniforms(0, 1024)
    assert u.shape == (len(NAMES), 1024)
    assert u.dtype == np.float64
    assert np.all(u > 0.0) and np.all(u < 1.0)


def test_no_names_and_empty_slices(kind):
    assert make_sampler(kind, [], seed=1, draws=10).uniforms(2, 7).shape == (0, 5)
    assert make_sampler(kind, NAMES, seed=1, draws=10).uniforms(4, 4).shape == (3, 0)
    assert make_sampler(kind, NAMES, seed=1, draws=10).uniforms(0, 1).shape == (3, 1)


@pytest.mark.parametrize("kind_", ["random", "lhs", "sobol"])
@pytest.mark.parametrize("start, stop", [(-1, 3), (3, 2), (0, 11)])
def test_slice_outside_range_rejected(kind_, start, stop):
    kind = kind_
    with pytest.raises(ValueError, match="outside"):
        make_sampler(kind, NAMES, seed=1, draws=10).uniforms(start, stop)


def test_same_seed_identical_other_seed_different(kind):
    a = make_sampler(kind, NAMES, seed=11, draws=256).uniforms(0, 256)
    b = make_sampler(kind, NAMES, seed=11, draws=256).uniforms(0, 256)
    c = make_sampler(kind, NAMES, seed=12, draws=256).uniforms(0, 256)
    np.testing.assert_array_equal(a, b)
    for row_a, row_c in zip(a, c, strict=True):
        assert not np.any(row_a == row_c)  # continuous draws: no value shared by chance
    # rows (parameters) differ from each other too
    assert not np.array_equal(a[0], a[1])


@settings(max_examples=15)
@given(draws=st.integers(1, 300), data=st.data())
def test_chunks_bit_identical_to_one_call(kind, draws, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, draws), max_size=8), label="cuts"))
    bounds = [0, *cuts, draws]
    sampler = make_sampler(kind, NAMES, seed=5, draws=draws)
    full = sampler.uniforms(0, draws)
    pieces = np.concatenate([sampler.uniforms(a, b) for a, b in itertools.pairwise(bounds)], axis=1)
    np.testing.assert_array_equal(pieces, full)
    # a fresh sampler reading just one slice agrees as well
    a, b = bounds[len(bounds) // 2 - 1], bounds[len(bounds) // 2]
    np.testing.assert_array_equal(make_sampler(kind, NAMES, seed=5, draws=draws).uniforms(a, b),
                                  full[:, a:b])


@pytest.mark.parametrize("name", ["random", "lhs"])
def test_draws_follow_the_name_not_the_position(name):
    draws = 500
    base = make_sampler(name, NAMES, seed=9, draws=draws).uniforms(0, draws)
    more = ["zzz.new", *reversed(NAMES), "aaa.new", "use_cases.a.potentia"]
    other = make_sampler(name, more, seed=9, draws=draws).uniforms(0, draws)
    for i, n in enumerate(NAMES):
        np.testing.assert_array_equal(other[more.index(n)], base[i])
    # a similar name gets a different stream
    assert not np.array_equal(other[more.index("use_cases.a.potentia")], base[0])


def test_random_is_the_name_stream():
    # the documented construction: PCG64 seeded from stream(seed, name), one double per draw
    expected = np.random.Generator(np.random.PCG64(stream(4, NAMES[1]))).random(40)
    got = make_sampler("random", NAMES, seed=4, draws=40).uniforms(0, 40)[1]
    np.testing.assert_array_equal(got, expected)


def test_sobol_dimensions_follow_sorted_names():
    draws = 64
    u = make_sampler("sobol", NAMES, seed=2, draws=draws).uniforms(0, draws)
    ordered = sorted(NAMES)
    v = make_sampler("sobol", ordered, seed=2, draws=draws).uniforms(0, draws)
    for i, n in enumerate(NAMES):
        np.testing.assert_array_equal(u[i], v[ordered.index(n)])
    # balance at a power of two: each of the 64 strata of every dimension holds one point
    for row in u:
        assert sorted(np.floor(row * draws).astype(int)) == list(range(draws))


@pytest.mark.parametrize("draws", [1, 2, 3, 37, 64, 1000, 1025])
def test_lhs_one_point_per_stratum(draws):
    names = [f"p{i}" for i in range(6)]
    u = make_sampler("lhs", names, seed=123, draws=draws).uniforms(0, draws)
    for row in u:
        strata = np.floor(row * draws).astype(int)
        assert sorted(strata.tolist()) == list(range(draws))


def test_lhs_jitter_uniform_within_strata():
    draws = 2000
    u = make_sampler("lhs", NAMES, seed=8, draws=draws).uniforms(0, draws)
    for row in u:
        offset = row * draws - np.floor(row * draws)
        assert stats.kstest(offset, "uniform").pvalue > 0.001
    # strata are visited in a scrambled order, not 0, 1, 2, ...
    strata = np.floor(u[0] * draws)
    assert abs(stats.spearmanr(strata, np.arange(draws)).statistic) < 0.1


def test_lhs_chunk_keeps_strata_of_the_whole_design():
    draws = 37
    s = make_sampler("lhs", ["x"], seed=0, draws=draws)
    parts = [s.uniforms(0, 10), s.uniforms(10, 11), s.uniforms(11, 37)]
    strata = np.floor(np.concatenate(parts, axis=1)[0] * draws).astype(int)
    assert sorted(strata.tolist()) == list(range(draws))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 37, 100, 255, 256, 257,
                               1000, 1023, 1024, 1025, 4097, 65537, 200_003])
def test_permutation_is_a_bijection(n):
    rng = np.random.default_rng(n)
    for _ in range(3):
        tables = round_tables(n, rng)
        p = permutation(np.arange(n), n, tables)
        assert p.dtype == np.int64
        assert np.array_equal(np.sort(p), np.arange(n))
        # evaluated index by index (any slice) it gives the same values
        idx = rng.permutation(n)[: min(n, 50)]
        np.testing.assert_array_equal(permutation(idx, n, tables), p[idx])


@pytest.mark.parametrize("n", [1, 6, 37, 1000, 70_001])
def test_permutation_rows_with_their_own_tables(n):
    rng = np.random.default_rng(n)
    tables = np.stack([round_tables(n, rng) for _ in range(5)])
    index = np.broadcast_to(np.arange(n), (5, n))
    p = permutation(index, n, tables)  # rows span several cache blocks when n is large
    assert p.shape == (5, n)
    for row, row_tables in zip(p, tables, strict=True):
        assert np.array_equal(np.sort(row), np.arange(n))
        np.testing.assert_array_equal(row, permutation(np.arange(n), n, row_tables))
    if n > 6:
        assert len({tuple(row) for row in p}) == 5  # different tables, different permutations


def test_round_tables_layout():
    # n = 1025 needs 11 bits: L = 2**6 = 64 and a = ceil(1025 / 64) = 17, a domain of 1088
    t = round_tables(1025, np.random.default_rng(0), rounds=3)
    assert t.shape == (3, 64) and t.dtype == np.intp
    assert t[[0, 2]].min() >= 0 and t[[0, 2]].max() == 16  # Z_64 -> Z_17
    assert t[1].min() >= 0 and t[1].max() < 64 and len(np.unique(t[1, :17])) > 10  # Z_17 -> Z_64
    assert round_tables(1000, np.random.default_rng(0)).shape == (4, 32)  # 10 bits: 32 x 32
    assert round_tables(1, np.random.default_rng(0)).shape == (4, 2)


def test_permutation_rejects_tables_of_another_size():
    with pytest.raises(ValueError, match=r"need shape \(R, 32\)"):
        permutation(np.arange(10), 1000, round_tables(100, np.random.default_rng(0)))


def test_lhs_draws_limit():
    with pytest.raises(ValueError, match="at most 2147483648 draws"):
        make_sampler("lhs", NAMES, 0, MAX_LHS_DRAWS + 1)
    with pytest.raises(ValueError, match="1 to 2147483648 draws"):
        round_tables(0, np.random.default_rng(0))


def test_long_and_short_rows_give_the_same_permutation():
    """Rows of 4,096 values or more are permuted one at a time, shorter ones in blocks of rows:
    a long slice equals the same draws read in short slices."""
    draws = 9000
    sampler = make_sampler("lhs", [f"p{i}" for i in range(7)], seed=4, draws=draws)
    long = sampler.uniforms(0, draws)
    short = np.concatenate([sampler.uniforms(a, min(a + 700, draws)) for a in range(0, draws, 700)],
                           axis=1)
    np.testing.assert_array_equal(long, short)
    for row in long:
        assert sorted(np.floor(row * draws).astype(int).tolist()) == list(range(draws))


def test_permutation_depends_on_tables():
    n = 1000
    a = permutation(np.arange(n), n, round_tables(n, np.random.default_rng(1)))
    b = permutation(np.arange(n), n, round_tables(n, np.random.default_rng(2)))
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, np.arange(n))


def test_slices_in_any_order_and_after_pickling(kind):
    """Samplers keep generators where the last slice ended; reading backwards, repeating a
    slice, or reading from a pickled copy (as a dask worker does) gives the same points."""
    draws = 400
    sampler = make_sampler(kind, NAMES, seed=21, draws=draws)
    full = make_sampler(kind, NAMES, seed=21, draws=draws).uniforms(0, draws)
    for a, b in [(300, 400), (0, 50), (50, 120), (50, 120), (120, 300), (10, 20)]:
        np.testing.assert_array_equal(sampler.uniforms(a, b), full[:, a:b])
    copy = pickle.loads(pickle.dumps(sampler))
    np.testing.assert_array_equal(copy.uniforms(200, 260), full[:, 200:260])


def test_uniform_marginals(kind):
    draws = 4096
    u = make_sampler(kind, NAMES, seed=2024, draws=draws).uniforms(0, draws)
    for row in u:
        assert stats.kstest(row, "uniform").pvalue > 0.001
        assert row.mean() == pytest.approx(0.5, abs=4 * np.sqrt(1 / 12 / draws))


def test_columns_roughly_independent(kind):
    draws = 4096
    u = make_sampler(kind, NAMES, seed=77, draws=draws).uniforms(0, draws)
    rho = np.corrcoef(u)
    off = rho[~np.eye(len(NAMES), dtype=bool)]
    assert np.all(np.abs(off) < 4 / np.sqrt(draws))


def test_lhs_columns_are_uncorrelated():
    """Keyed permutations of different names behave like independent ones: the rank
    correlations between pairs of columns spread as 1/sqrt(n), as for independent draws."""
    from scipy.stats import spearmanr

    n = 4000
    u = make_sampler("lhs", [f"p{i}" for i in range(120)], 5, n).uniforms(0, n)
    rho = np.array([spearmanr(u[i], u[i + 1]).statistic for i in range(0, 120, 2)])
    assert abs(rho.mean()) < 3 / np.sqrt(n * len(rho))
    assert 0.7 < rho.std() * np.sqrt(n) < 1.3
