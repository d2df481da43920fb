"""Samplers: the contract every sampler keeps (``SamplerContract``), then each sampler's own
properties (LHS strata and its Feistel permutation, Sobol' balance and name order)."""

from __future__ import annotations

import itertools
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from digimpact.sampling import (
    MAX_LHS_DRAWS,
    REACH_HIGH,
    REACH_LOW,
    ROUNDS,
    SAMPLERS,
    LatinHypercubeSampler,
    RandomSampler,
    Sampler,
    SobolSampler,
    make_sampler,
    permutation,
    round_tables,
    stream,
)

NAMES = ["use_cases.a.potential", "use_cases.b.adoption.midpoint", "drivers.d.value"]


def pcg(seed: int, name: str, purpose: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(stream(seed, name, purpose)))


# ----------------------------------------------------------------------------- the contract
class SamplerContract:
    """The contract of :class:`Sampler` (see its Notes); each sampler's test class inherits it."""

    sampler_cls: type[Sampler]

    def sampler(self, names=NAMES, seed=5, draws=256) -> Sampler:
        return self.sampler_cls(names, seed, draws)

    def test_registered_under_its_kind(self):
        assert SAMPLERS[self.sampler_cls.kind] is self.sampler_cls
        assert type(make_sampler(self.sampler_cls.kind, NAMES, 0, 4)) is self.sampler_cls

    @pytest.mark.parametrize("draws, start, stop", [(10, 0, 10), (10, 3, 7), (10, 9, 10), (1, 0, 1),
                                                    (1000, 17, 900)])
    def test_shape(self, draws, start, stop):
        u = self.sampler(draws=draws).uniforms(start, stop)
        assert u.shape == (len(NAMES), stop - start) and u.dtype == np.float64

    def test_no_names_and_empty_slices(self):
        assert self.sampler([], 1, 10).uniforms(2, 7).shape == (0, 5)
        assert self.sampler(NAMES, 1, 10).uniforms(4, 4).shape == (3, 0)

    @pytest.mark.parametrize("start, stop", [(-1, 3), (3, 2), (0, 11)])
    def test_slice_outside_range_rejected(self, start, stop):
        with pytest.raises(ValueError, match=r"draw slice \[.*\) outside \[0, 10\)"):
            self.sampler(draws=10).uniforms(start, stop)

    def test_points_in_the_open_interval(self):
        u = self.sampler(seed=3, draws=4096).uniforms(0, 4096)
        assert REACH_LOW <= u.min() and u.max() <= REACH_HIGH
        assert 0.0 < REACH_LOW and REACH_HIGH < 1.0

    # one hypothesis test run by several classes (executors): allowed, it uses no state
    @settings(max_examples=15, suppress_health_check=[*settings.default.suppress_health_check,
                                                    HealthCheck.differing_executors])
    @given(draws=st.integers(1, 300), data=st.data())
    def test_slice_invariance(self, draws, data):
        """Any split of a range gives the points of one read, bit for bit."""
        cuts = sorted(data.draw(st.lists(st.integers(0, draws), max_size=8), label="cuts"))
        bounds = [0, *cuts, draws]
        sampler = self.sampler(draws=draws)
        full = sampler.uniforms(0, draws)
        pieces = [sampler.uniforms(a, b) for a, b in itertools.pairwise(bounds)]
        np.testing.assert_array_equal(np.concatenate(pieces, axis=1), full)
        # a fresh sampler reading just one slice agrees as well
        a, b = bounds[len(bounds) // 2 - 1], bounds[len(bounds) // 2]
        np.testing.assert_array_equal(self.sampler(draws=draws).uniforms(a, b), full[:, a:b])

    def test_slices_in_any_order_and_after_pickling(self):
        """Reading backwards, repeating a slice, or reading from a pickled copy (as a dask
        worker does) gives the same points; the pickle carries no caches."""
        draws = 400
        sampler = self.sampler(seed=21, draws=draws)
        fresh_pickle = pickle.dumps(sampler)
        full = self.sampler(seed=21, draws=draws).uniforms(0, draws)
        for a, b in [(300, 400), (0, 50), (50, 120), (50, 120), (120, 300), (10, 20)]:
            np.testing.assert_array_equal(sampler.uniforms(a, b), full[:, a:b])
        assert pickle.dumps(sampler) == fresh_pickle
        copy = pickle.loads(pickle.dumps(sampler))
        assert type(copy) is type(sampler)
        np.testing.assert_array_equal(copy.uniforms(200, 260), full[:, 200:260])

    def test_threads_share_a_sampler(self):
        """Threads reading interleaved slices of one sampler get the points of one read."""
        draws, width = 2**16, 2**12
        sampler = self.sampler(seed=13, draws=draws)
        full = self.sampler(seed=13, draws=draws).uniforms(0, draws)
        starts = [s for _ in range(2) for s in range(0, draws, width)]
        with ThreadPoolExecutor(4) as pool:
            parts = list(pool.map(lambda s: sampler.uniforms(s, s + width), starts))
        for s, part in zip(starts, parts, strict=True):
            np.testing.assert_array_equal(part, full[:, s:s + width])

    def test_reproducible_by_seed(self):
        a = self.sampler(seed=11).uniforms(0, 256)
        np.testing.assert_array_equal(self.sampler(seed=11).uniforms(0, 256), a)
        c = self.sampler(seed=12).uniforms(0, 256)
        for row_a, row_c in zip(a, c, strict=True):
            assert not np.any(row_a == row_c)  # continuous draws: no value shared by chance
        assert not np.array_equal(a[0], a[1])  # rows (parameters) differ from each other too

    def test_name_keying(self):
        """A row depends on its own name only: adding, removing or reordering others keeps it."""
        base = self.sampler(seed=9, draws=500).uniforms(0, 500)
        more = ["zzz.new", *reversed(NAMES), "aaa.new", "use_cases.a.potentia"]
        other = self.sampler(more, seed=9, draws=500).uniforms(0, 500)
        for i, n in enumerate(NAMES):
            np.testing.assert_array_equal(other[more.index(n)], base[i])
        np.testing.assert_array_equal(self.sampler(NAMES[1:], 9, 500).uniforms(0, 500), base[1:])
        # a similar name gets other draws
        assert not np.array_equal(other[more.index("use_cases.a.potentia")], base[0])

    def test_uniform_marginals(self):
        draws = 4096
        u = self.sampler(seed=2024, draws=draws).uniforms(0, draws)
        for row in u:
            assert stats.kstest(row, "uniform").pvalue > 0.001
            assert row.mean() == pytest.approx(0.5, abs=4 * np.sqrt(1 / 12 / draws))

    def test_columns_roughly_independent(self):
        draws = 4096
        rho = np.corrcoef(self.sampler(seed=77, draws=draws).uniforms(0, draws))
        assert np.all(np.abs(rho[~np.eye(len(NAMES), dtype=bool)]) < 4 / np.sqrt(draws))


# ----------------------------------------------------------------------------- base class
class ConstantSampler(Sampler):
    """Points 0 and 1 alternately: the base class clips them into the open interval."""

    kind = "constant"

    def _points(self, start, stop):
        return np.broadcast_to(np.arange(start, stop) % 2.0, (len(self.names), stop - start)).copy()


def test_base_class_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Sampler(NAMES, 0, 4)

    class NoPoints(Sampler):
        kind = "none"

    with pytest.raises(TypeError, match="_points"):
        NoPoints(NAMES, 0, 4)


def test_base_class_clips_and_checks_for_a_subclass():
    s = ConstantSampler(NAMES, seed=0, draws=6)
    np.testing.assert_array_equal(s.uniforms(1, 4), [[REACH_HIGH, REACH_LOW, REACH_HIGH]] * 3)
    assert ConstantSampler([], 0, 6).uniforms(0, 6).shape == (0, 6)
    with pytest.raises(ValueError, match="outside"):
        s.uniforms(5, 7)
    assert type(pickle.loads(pickle.dumps(s))) is ConstantSampler


def test_make_sampler_rejects_unknown_kinds():
    assert set(SAMPLERS) == {"random", "lhs", "sobol"}
    with pytest.raises(ValueError, match="unknown sampler 'halton'; expected one of random, lhs, sobol"):
        make_sampler("halton", NAMES, 0, 4)


# ----------------------------------------------------------------------------- random
class TestRandomSampler(SamplerContract):
    sampler_cls = RandomSampler

    def test_row_is_the_name_stream(self):
        # the documented construction: PCG64 seeded from stream(seed, name), one double per draw
        got = self.sampler(seed=4, draws=40).uniforms(0, 40)[1]
        np.testing.assert_array_equal(got, pcg(4, NAMES[1], 0).random(40))

    def test_first_draws_do_not_depend_on_draws(self):
        np.testing.assert_array_equal(self.sampler(draws=1000).uniforms(0, 100),
                                      self.sampler(draws=100).uniforms(0, 100))


# ----------------------------------------------------------------------------- Latin hypercube
class TestLatinHypercubeSampler(SamplerContract):
    sampler_cls = LatinHypercubeSampler

    def test_row_is_the_documented_construction(self):
        """Round tables from the first ROUNDS L doubles of stream (seed, name, 1), then draw i
        is (perm(i) + double ROUNDS L + i) / draws."""
        draws, seed = 1000, 6
        u = self.sampler(seed=seed, draws=draws).uniforms(0, draws)
        for row, name in zip(u, NAMES, strict=True):
            gen = pcg(seed, name, 1)
            tables = round_tables(draws, gen)
            assert tables.shape == (ROUNDS, 32)
            expected = (permutation(np.arange(draws), draws, tables) + gen.random(draws)) / draws
            np.testing.assert_array_equal(row, expected)

    def test_tables_built_once(self):
        s = self.sampler(draws=100)
        assert s.tables() is s.tables()
        assert s.tables().shape == (len(NAMES), ROUNDS, 16)  # 100 <= 7 x 16: L = 16

    @pytest.mark.parametrize("draws", [1, 2, 3, 37, 64, 1000, 1025])
    def test_one_point_per_stratum(self, draws):
        u = self.sampler([f"p{i}" for i in range(6)], seed=123, draws=draws).uniforms(0, draws)
        for row in u:
            assert sorted(np.floor(row * draws).astype(int).tolist()) == list(range(draws))

    def test_jitter_uniform_within_strata_and_strata_scrambled(self):
        draws = 2000
        u = self.sampler(seed=8, draws=draws).uniforms(0, draws)
        for row in u:
            assert stats.kstest(row * draws - np.floor(row * draws), "uniform").pvalue > 0.001
        # strata are visited in a scrambled order, not 0, 1, 2, ...
        assert abs(stats.spearmanr(np.floor(u[0] * draws), np.arange(draws)).statistic) < 0.1

    def test_chunks_keep_the_strata_of_the_whole_design(self):
        draws = 37
        s = self.sampler(["x"], seed=0, draws=draws)
        parts = [s.uniforms(0, 10), s.uniforms(10, 11), s.uniforms(11, 37)]
        strata = np.floor(np.concatenate(parts, axis=1)[0] * draws).astype(int)
        assert sorted(strata.tolist()) == list(range(draws))

    def test_long_and_short_rows_give_the_same_permutation(self):
        """Rows of 4,096 values or more are permuted one at a time, shorter ones in blocks of
        rows: a long slice equals the same draws read in short slices."""
        draws = 9000
        sampler = self.sampler([f"p{i}" for i in range(7)], seed=4, draws=draws)
        long = sampler.uniforms(0, draws)
        short = [sampler.uniforms(a, min(a + 700, draws)) for a in range(0, draws, 700)]
        np.testing.assert_array_equal(long, np.concatenate(short, axis=1))
        for row in long:
            assert sorted(np.floor(row * draws).astype(int).tolist()) == list(range(draws))

    def test_columns_are_uncorrelated(self):
        """Keyed permutations of different names behave like independent ones: the rank
        correlations between pairs of columns spread as 1/sqrt(n), as for independent draws."""
        n = 4000
        u = self.sampler([f"p{i}" for i in range(120)], 5, n).uniforms(0, n)
        rho = np.array([stats.spearmanr(u[i], u[i + 1]).statistic for i in range(0, 120, 2)])
        assert abs(rho.mean()) < 3 / np.sqrt(n * len(rho))
        assert 0.7 < rho.std() * np.sqrt(n) < 1.3

    def test_draws_limit(self):
        with pytest.raises(ValueError, match="at most 2147483648 draws"):
            self.sampler(draws=MAX_LHS_DRAWS + 1)
        with pytest.raises(ValueError, match="1 to 2147483648 draws"):
            round_tables(0, np.random.default_rng(0))


# ----------------------------------------------------------------------------- the permutation
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


@settings(max_examples=30)
@given(n=st.integers(1, 5000), seed=st.integers(0, 2**32 - 1))
def test_permutation_is_a_bijection_for_any_size(n, seed):
    """Cycle walking brings every value back into range(n) without collisions, whatever n
    (n just above a power of two leaves up to half the Feistel domain to walk through)."""
    p = permutation(np.arange(n), n, round_tables(n, np.random.default_rng(seed)))
    assert np.array_equal(np.sort(p), np.arange(n))


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


@pytest.mark.parametrize("n", [37, 5000])
def test_permutation_shared_tables_for_every_row(n):
    tables = round_tables(n, np.random.default_rng(3))
    one = permutation(np.arange(n), n, tables)
    index = np.stack([np.arange(n), np.arange(n)[::-1], np.arange(n)])
    for shared in (tables, tables[None]):
        np.testing.assert_array_equal(permutation(index, n, shared), one[index])


def test_round_tables_layout():
    # n = 1025 needs 11 bits: L = 2**6 = 64 and a = ceil(1025 / 64) = 17, a domain of 1088
    t = round_tables(1025, np.random.default_rng(0), rounds=3)
    assert t.shape == (3, 64) and t.dtype == np.intp
    assert t[[0, 2]].min() >= 0 and t[[0, 2]].max() == 16  # Z_64 -> Z_17
    assert t[1].min() >= 0 and t[1].max() < 64 and len(np.unique(t[1, :17])) > 10  # Z_17 -> Z_64
    assert round_tables(1000, np.random.default_rng(0)).shape == (4, 32)  # 10 bits: 32 x 32
    assert round_tables(1, np.random.default_rng(0)).shape == (4, 2)


def test_permutation_rejects_tables_that_do_not_fit():
    with pytest.raises(ValueError, match=r"need shape \(R, 32\)"):
        permutation(np.arange(10), 1000, round_tables(100, np.random.default_rng(0)))
    tables = np.stack([round_tables(10, np.random.default_rng(i)) for i in range(3)])
    with pytest.raises(ValueError, match="3 permutations' tables for 2 rows"):
        permutation(np.broadcast_to(np.arange(10), (2, 10)), 10, tables)


def test_permutation_depends_on_tables():
    n = 1000
    a = permutation(np.arange(n), n, round_tables(n, np.random.default_rng(1)))
    b = permutation(np.arange(n), n, round_tables(n, np.random.default_rng(2)))
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, np.arange(n))


# ----------------------------------------------------------------------------- Sobol'
class TestSobolSampler(SamplerContract):
    sampler_cls = SobolSampler

    def test_name_keying(self):
        """The documented exception: a Sobol' design is joint. Rows follow their names whatever
        the order names are given in, but adding or removing a name changes every row."""
        ordered = sorted(NAMES)
        u = self.sampler(NAMES, seed=2, draws=64).uniforms(0, 64)
        v = self.sampler(ordered, seed=2, draws=64).uniforms(0, 64)
        for i, n in enumerate(NAMES):
            np.testing.assert_array_equal(u[i], v[ordered.index(n)])
        w = self.sampler([*NAMES, "zzz.new"], seed=2, draws=64).uniforms(0, 64)
        assert not np.any(np.all(w[:3] == u, axis=1))

    def test_balance_at_a_power_of_two(self):
        draws = 64  # each of the 64 strata of every dimension holds one point
        for row in self.sampler(seed=2, draws=draws).uniforms(0, draws):
            assert sorted(np.floor(row * draws).astype(int)) == list(range(draws))

    def test_is_scipys_scrambled_sobol(self):
        from scipy.stats import qmc

        expected = qmc.Sobol(d=3, scramble=True, rng=np.random.default_rng(7)).random(32).T
        got = self.sampler(sorted(NAMES), seed=7, draws=32).uniforms(0, 32)
        np.testing.assert_array_equal(got, expected)
