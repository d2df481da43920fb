"""Samplers: uniform points for named parameters, any slice of draws, reproducibly.

Every sampler answers ``uniforms(start, stop)`` with an array of shape ``(P, stop - start)``:
row ``i`` holds draws ``start .. stop-1`` of parameter ``names[i]`` on the open interval
(0, 1). The same root seed gives the same points whatever the slicing, so results do not
depend on the chunk size.

``random``
    Independent uniforms. Each parameter has its own PCG64 stream seeded from the root seed
    and a hash of the parameter's *name*; a slice is read by advancing the stream. Adding,
    removing or reordering parameters leaves every other parameter's draws unchanged.
``lhs``
    Latin hypercube: draw ``i`` of a parameter falls in stratum ``perm(i)`` of ``draws`` equal
    strata, jittered uniformly inside it. ``perm`` is a keyed pseudo-random permutation (a
    four-round generalised Feistel network [3]_ [4]_ with random round tables, and cycle
    walking), computed per index, so any slice costs only its own size; the tables and the
    jitter both come from the parameter's name, as for ``random``. The tables take less than
    ``64 sqrt(draws)`` bytes per parameter (128 KiB at ten million draws) and are built once
    per run.
``sobol``
    Scrambled Sobol' points from :class:`scipy.stats.qmc.Sobol`, read with ``fast_forward``.
    A Sobol' design is joint, so its dimensions go to parameters in sorted-name order: adding
    a parameter can change the draws of parameters sorted after it. Use powers of two draws.

References
----------
.. [1] McKay, M. D., Beckman, R. J. and Conover, W. J. (1979). A comparison of three methods
       for selecting values of input variables. *Technometrics* 21(2), 239-245.
.. [2] O'Neill, M. E. (2014). PCG: a family of simple fast space-efficient statistically good
       algorithms for random number generation. HMC-CS-2014-0905.
.. [3] Luby, M. and Rackoff, C. (1988). How to construct pseudorandom permutations from
       pseudorandom functions. *SIAM J. Comput.* 17(2), 373-386.
.. [4] Black, J. and Rogaway, P. (2002). Ciphers with arbitrary finite domains. CT-RSA 2002
       (cycle walking).
.. [5] Owen, A. B. (1998). Scrambling Sobol' and Niederreiter-Xing points. *J. Complexity*
       14(4), 466-489.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import qmc

__all__ = ["MAX_LHS_DRAWS", "REACH_HIGH", "REACH_LOW", "ROUNDS", "LatinHypercubeSampler",
           "RandomSampler", "Sampler", "SobolSampler", "make_sampler", "permutation", "round_tables",
           "stream"]

REACH_LOW = 2.0**-54
"""Smallest uniform point any sampler returns (points lie in [REACH_LOW, REACH_HIGH])."""
REACH_HIGH = 1.0 - 2.0**-53
"""Largest uniform point any sampler returns."""
ROUNDS = 4
"""Feistel rounds of the Latin hypercube's permutations (four make a strong pseudo-random one)."""
MAX_LHS_DRAWS = 2**31
"""Largest number of draws of a Latin hypercube."""
_BLOCK = 2**16  # permutation values per cache-resident block of short rows
_LONG_ROW = 4096  # rows at least this long are permuted one at a time


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def stream(seed: int, name: str, purpose: int = 0) -> np.random.SeedSequence:
    """The seed sequence of parameter ``name`` under root ``seed``.

    Examples
    --------
    >>> a = np.random.Generator(np.random.PCG64(stream(1, "x"))).random()
    >>> b = np.random.Generator(np.random.PCG64(stream(1, "x"))).random()
    >>> a == b
    True
    """
    return np.random.SeedSequence(seed, spawn_key=(_name_key(name), purpose))


class Sampler:
    """Base class: uniform points for ``names`` over ``draws`` draws from root ``seed``."""

    kind = ""

    def __init__(self, names: Sequence[str], seed: int, draws: int) -> None:
        self.names, self.seed, self.draws = list(names), int(seed), int(draws)
        self._local = threading.local()

    def __getstate__(self) -> dict:
        # caches are rebuilt where the sampler is used (for example on a dask worker)
        return {k: v for k, v in self.__dict__.items() if k in ("names", "seed", "draws")}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["names"], state["seed"], state["draws"])

    def uniforms(self, start: int, stop: int) -> np.ndarray:
        """Points for draws ``start .. stop-1``, shape ``(len(names), stop - start)``."""
        if not 0 <= start <= stop <= self.draws:
            raise ValueError(f"draw slice [{start}, {stop}) outside [0, {self.draws})")
        out = self._points(start, stop) if self.names else np.empty((0, stop - start))
        return np.clip(out, REACH_LOW, REACH_HIGH, out=out)

    def _points(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _generator(self, name: str, purpose: int, position: int, size: int) -> np.random.Generator:
        """The generator of ``name``'s ``purpose`` stream at output ``position``, for the caller
        to read ``size`` doubles from at once (one 64-bit output per double).

        Each thread keeps its generators where they stop, so reading on costs no re-seeding.
        """
        cursors = self._local.__dict__.setdefault(purpose, {})
        gen, pos = cursors.get(name, (None, 0))
        if gen is None or pos > position:
            gen, pos = np.random.Generator(np.random.PCG64(stream(self.seed, name, purpose))), 0
        gen.bit_generator.advance(position - pos)
        cursors[name] = (gen, position + size)
        return gen

    def _stream_uniforms(self, purpose: int, start: int, stop: int, skip: int = 0) -> np.ndarray:
        """Doubles ``skip + start .. skip + stop - 1`` of every name's ``purpose`` stream,
        shape ``(len(names), stop - start)``."""
        out = np.empty((len(self.names), stop - start))
        for row, name in zip(out, self.names, strict=True):
            self._generator(name, purpose, skip + start, stop - start).random(out=row)
        return out


class RandomSampler(Sampler):
    """Independent uniforms, one name-derived PCG64 stream per parameter."""

    kind = "random"

    def _points(self, start: int, stop: int) -> np.ndarray:
        return self._stream_uniforms(0, start, stop)


def _domain(n: int) -> tuple[int, int]:
    """``(a, lo)``: the Feistel domain ``Z_a x Z_(2**lo)`` covering ``range(n)`` with little slack."""
    lo = (max(2, int(n - 1).bit_length()) + 1) // 2
    return -(-n // (1 << lo)), lo


def round_tables(n: int, rng: np.random.Generator, rounds: int = ROUNDS) -> np.ndarray:
    """Random round functions of a Feistel permutation of ``range(n)`` (see :func:`permutation`).

    Returns an integer array of shape ``(rounds, 2**lo)``: row ``r`` is the round function
    ``F_r``, a uniformly random map from ``Z_(2**lo)`` to ``Z_a`` for even ``r`` and from
    ``Z_a`` (its first ``a`` entries) to ``Z_(2**lo)`` for odd ``r``.

    Examples
    --------
    >>> round_tables(1000, np.random.default_rng(0)).shape  # 1000 <= 32 x 32: a = 32, lo = 5
    (4, 32)
    """
    if not 1 <= n <= MAX_LHS_DRAWS:
        raise ValueError(f"a Latin hypercube needs 1 to {MAX_LHS_DRAWS} draws, not {n}")
    a, lo = _domain(n)
    high = np.where(np.arange(rounds) % 2 == 0, a, 1 << lo)[:, None]
    return (rng.random((rounds, 1 << lo)) * high).astype(np.intp)  # floor(u high): uniform


def _feistel(high: np.ndarray, low: np.ndarray, look_up: Callable[[int, np.ndarray], np.ndarray],
             wrap: np.ndarray, rounds: int) -> None:
    """Feistel rounds on ``(high, low)`` in place; ``look_up(r, v)`` is ``F_r(v)`` and
    ``wrap[v] = v mod a``."""
    for r in range(rounds):
        if r % 2 == 0:  # high <- (high + F_r(low)) mod a
            f = look_up(r, low)
            f += high
            np.take(wrap, f, out=high)
        else:  # low <- low xor F_r(high)
            low ^= look_up(r, high)


def permutation(index: np.ndarray, n: int, tables: np.ndarray) -> np.ndarray:
    """Keyed pseudo-random permutations of ``range(n)``, evaluated at ``index``.

    Parameters
    ----------
    index
        Integers in ``range(n)``, shape ``(m,)`` or ``(P, m)``.
    n
        Size of the permuted range, at most ``MAX_LHS_DRAWS``.
    tables
        Round functions from :func:`round_tables`, shape ``(R, L)`` or ``(P, R, L)``: one
        permutation per row of ``index``.

    A generalised Feistel network (Black and Rogaway, 2002) on ``Z_a x Z_L`` with
    ``L = 2**lo``, ``lo = ceil(bit_length(n - 1) / 2)`` and ``a = ceil(n / L)``: index
    ``x = high L + low`` goes through rounds that alternate ``high <- (high + F(low)) mod a``
    and ``low <- low xor G(high)``, each a bijection, with uniformly random round functions
    (four such rounds make a strong pseudo-random permutation; Luby and Rackoff, 1988).
    Values that land in ``[n, a L)`` (fewer than ``L``, about ``1 / sqrt(n)`` of them) go
    through the rounds again until they fall in ``range(n)`` (cycle walking), so the result is
    a bijection of ``range(n)``. Each value costs a few table look-ups and no hashing; long rows
    are computed one at a time (their tables stay in the processor's cache), short ones in
    blocks of rows.

    Examples
    --------
    >>> tables = round_tables(10, np.random.default_rng(1))
    >>> sorted(permutation(np.arange(10), 10, tables).tolist()) == list(range(10))
    True
    """
    a, lo = _domain(n)
    tables = np.asarray(tables, dtype=np.intp)
    if tables.ndim not in (2, 3) or tables.shape[-1] != 1 << lo:
        raise ValueError(f"tables for n = {n} need shape (R, {1 << lo}) or (P, R, {1 << lo})")
    rounds, width = tables.shape[-2:]
    flat_input, index = np.ndim(index) == 1, np.atleast_2d(index)
    per_row = tables.reshape(-1, rounds, width)  # (P or 1, R, L)
    flat, wrap = per_row.reshape(-1), np.arange(2 * a, dtype=np.intp) % a
    shared = per_row.shape[0] == 1  # one permutation for every row
    row_offset = np.arange(index.shape[0], dtype=np.intp)[:, None] * (0 if shared else rounds * width)

    def at_offset(offset: np.ndarray) -> Callable[[int, np.ndarray], np.ndarray]:
        return lambda r, v: flat.take(v + (offset + r * width))

    out = np.empty(index.shape, dtype=np.intp)
    m = index.shape[1]
    step = 1 if m >= _LONG_ROW else max(1, _BLOCK // max(1, m))  # rows per block
    for r0 in range(0, index.shape[0], step):
        block = slice(r0, r0 + step)
        if step == 1:  # a long row: look up in its own tables, which stay in cache
            own = per_row[0 if shared else r0]
            look_up = lambda r, v, own=own: own[r].take(v)  # noqa: E731
        else:  # a block of short rows: each value's tables found by its row's offset
            look_up = at_offset(row_offset[block])
        high, low = index[block] >> lo, index[block] & (width - 1)
        _feistel(high, low, look_up, wrap, rounds)
        np.left_shift(high, lo, out=out[block])
        out[block] |= low
    walk = np.flatnonzero(out >= n)
    while walk.size:  # cycle walking: stay a bijection of range(n)
        values = out.flat[walk]
        high, low = values >> lo, values & (width - 1)
        _feistel(high, low, at_offset(row_offset[walk // max(1, m), 0]), wrap, rounds)
        values = (high << lo) | low
        out.flat[walk] = values
        walk = walk[values >= n]
    return out[0] if flat_input else out


class LatinHypercubeSampler(Sampler):
    """Latin hypercube over ``draws`` strata with a name-keyed permutation per parameter."""

    kind = "lhs"

    def __init__(self, names: Sequence[str], seed: int, draws: int) -> None:
        if draws > MAX_LHS_DRAWS:
            raise ValueError(f"a Latin hypercube takes at most {MAX_LHS_DRAWS} draws, not {draws}")
        super().__init__(names, seed, draws)
        self._tables: np.ndarray | None = None
        self._skip = ROUNDS << _domain(self.draws)[1]  # stream outputs taken by the tables

    def tables(self) -> np.ndarray:
        """Round tables of every name's permutation, ``(len(names), ROUNDS, L)`` (built once).

        They are the first ``ROUNDS L`` outputs of the name's stream; the jitter of draw ``i``
        is output ``ROUNDS L + i``.
        """
        if self._tables is None:
            self._tables = np.stack([round_tables(self.draws, self._generator(name, 1, 0, self._skip))
                                     for name in self.names])
        return self._tables

    def _points(self, start: int, stop: int) -> np.ndarray:
        index = np.broadcast_to(np.arange(start, stop), (len(self.names), stop - start))
        strata = permutation(index, self.draws, self.tables())
        out = self._stream_uniforms(1, start, stop, skip=self._skip)  # jitter inside the stratum
        out += strata
        out /= self.draws
        return out


class SobolSampler(Sampler):
    """Scrambled Sobol' points (scipy.stats.qmc), dimensions in sorted-name order."""

    kind = "sobol"

    def _points(self, start: int, stop: int) -> np.ndarray:
        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        engine = qmc.Sobol(d=len(self.names), scramble=True, rng=np.random.default_rng(self.seed))
        if start:  # scipy rejects fast_forward(0)
            engine.fast_forward(start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance needs powers of two
            points = engine.random(stop - start).T
        out = np.empty_like(points)
        out[order] = points
        return out


SAMPLERS: dict[str, type[Sampler]] = {
    cls.kind: cls for cls in (RandomSampler, LatinHypercubeSampler, SobolSampler)}


def make_sampler(kind: str, names: Sequence[str], seed: int, draws: int) -> Sampler:
    """The sampler called ``kind`` (``random``, ``lhs`` or ``sobol``).

    Examples
    --------
    >>> s = make_sampler("lhs", ["a", "b"], seed=3, draws=8)
    >>> u = s.uniforms(0, 8)
    >>> sorted(np.floor(u[0] * 8).astype(int).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    try:
        cls = SAMPLERS[kind]
    except KeyError:
        raise ValueError(f"unknown sampler {kind!r}; expected one of {', '.join(SAMPLERS)}") from None
    return cls(names, seed, draws)
