"""Samplers: uniform points for named parameters, any slice of draws, reproducibly.

Every sampler answers ``uniforms(start, stop)`` with an array of shape ``(P, stop - start)``:
row ``i`` holds draws ``start .. stop-1`` of parameter ``names[i]`` on the open interval
(0, 1). The same root seed gives the same points whatever the slicing, so results do not
depend on the chunk size. :class:`Sampler` states the contract in full.

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
    A Sobol' design is joint: its dimensions go to parameters in sorted-name order and its
    scrambling is drawn for all of them at once, so adding or removing a parameter changes
    every parameter's draws (the order in which names are given does not). Use powers of two
    draws.

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

import abc
import hashlib
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
from scipy.stats import qmc

from .errors import check_choice

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
_RANDOM_STREAM, _LHS_STREAM = 0, 1  # ``purpose`` of each sampler's name streams


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def stream(seed: int, name: str, purpose: int = 0) -> np.random.SeedSequence:
    """The seed sequence of parameter ``name`` under root ``seed``.

    Parameters
    ----------
    seed : int
        Root seed of the run.
    name : str
        Parameter name; its 64-bit BLAKE2b hash keys the stream.
    purpose : int, default: 0
        Which of the name's independent streams (``0`` for ``random``, ``1`` for ``lhs``).

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(seed, spawn_key=(hash(name), purpose))``.

    Examples
    --------
    >>> a = np.random.Generator(np.random.PCG64(stream(1, "x"))).random()
    >>> b = np.random.Generator(np.random.PCG64(stream(1, "x"))).random()
    >>> a == b
    True
    """
    return np.random.SeedSequence(seed, spawn_key=(_name_key(name), purpose))


class Sampler(abc.ABC):
    """Uniform points for named parameters, any slice of draws, reproducibly (abstract base).

    Parameters
    ----------
    names : sequence of str
        Parameter names; row ``i`` of every answer holds the draws of ``names[i]``.
    seed : int
        Root seed of the run.
    draws : int
        Number of draws of the whole design; slices lie inside ``[0, draws]``.

    Attributes
    ----------
    kind : str
        The name :func:`make_sampler` knows the sampler by.

    Notes
    -----
    **Contract.** For all ``0 <= a <= b <= c <= draws``, every sampler guarantees:

    * *Shape*: ``uniforms(a, b)`` is a new float64 array of shape ``(len(names), b - a)``.
    * *Open interval*: every point lies in ``[REACH_LOW, REACH_HIGH]``, strictly inside
      (0, 1), so the quantile functions of unbounded distributions stay finite.
    * *Slice invariance*: ``uniforms(a, c)`` equals
      ``np.concatenate([uniforms(a, b), uniforms(b, c)], axis=1)`` bit for bit, whatever was
      read before and in whichever order, so results depend neither on the chunk size nor on
      the worker that reads a chunk.
    * *Reproducibility*: the points depend on ``(names, seed, draws)`` only.
    * *Name keying*: row ``i`` depends on ``names[i]``, ``seed`` and ``draws`` only; adding,
      removing or reordering other names leaves it unchanged. :class:`SobolSampler` is the
      exception: its rows depend on the set of names (though not on their order).

    **Caches, threads and pickling.** Each thread keeps every stream's generator where its last
    read stopped (reading on costs no re-seeding, reading backwards re-seeds), and
    :class:`LatinHypercubeSampler` keeps its round tables once built. Caches are derived from
    ``(names, seed, draws)`` alone, so threads may share a sampler, and a pickled sampler
    carries just those three values and rebuilds its caches where it is used (a dask worker).

    **Subclassing.** Set ``kind`` and override ``_points(start, stop)``: for a valid slice and
    at least one name, return a new float64 array of shape ``(len(names), stop - start)`` with
    values in [0, 1]. :meth:`uniforms` checks the slice, answers for an empty list of names and
    clips the array into ``[REACH_LOW, REACH_HIGH]`` in place. Reading randomness with
    ``_stream_uniforms(purpose, start, stop)`` gives slice invariance and name keying for
    free. Override ``__init__(names, seed, draws)`` to check more or to set up caches, calling
    ``super().__init__``; a constructor with other arguments must override ``__reduce__`` too.
    Add the class to ``SAMPLERS`` to make :func:`make_sampler` know it.

    Examples
    --------
    A sampler of antithetic points ``1 - u``, ``u`` being the random sampler's points:

    >>> class AntitheticSampler(Sampler):
    ...     kind = "antithetic"
    ...     def _points(self, start, stop):
    ...         u = self._stream_uniforms(0, start, stop)
    ...         return np.subtract(1.0, u, out=u)
    >>> u = AntitheticSampler(["x", "y"], seed=1, draws=6).uniforms(2, 6)
    >>> v = RandomSampler(["x", "y"], seed=1, draws=6).uniforms(2, 6)
    >>> u.shape, bool(np.all(u + v == 1.0))
    ((2, 4), True)

    The base class itself draws nothing:

    >>> Sampler(["x"], seed=1, draws=6)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: Can't instantiate abstract class Sampler ...
    """

    kind = ""

    def __init__(self, names: Sequence[str], seed: int, draws: int) -> None:
        self.names, self.seed, self.draws = list(names), int(seed), int(draws)
        self._local = threading.local()

    def __reduce__(self) -> tuple[type[Sampler], tuple[list[str], int, int]]:
        # caches are rebuilt where the sampler is used (for example on a dask worker)
        return type(self), (self.names, self.seed, self.draws)

    def uniforms(self, start: int, stop: int) -> np.ndarray:
        """Points for draws ``start .. stop-1`` of every parameter.

        Parameters
        ----------
        start, stop : int
            The slice of draws, ``0 <= start <= stop <= draws``.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(names), stop - start)``, values in ``[REACH_LOW, REACH_HIGH]``.

        Raises
        ------
        ValueError
            If the slice is not inside ``[0, draws]``.

        Examples
        --------
        >>> s = RandomSampler(["a", "b"], seed=0, draws=10)
        >>> np.array_equal(s.uniforms(0, 10)[:, 3:7], s.uniforms(3, 7))
        True
        """
        if not 0 <= start <= stop <= self.draws:
            raise ValueError(f"draw slice [{start}, {stop}) outside [0, {self.draws})")
        out = self._points(start, stop) if self.names else np.empty((0, stop - start))
        return np.clip(out, REACH_LOW, REACH_HIGH, out=out)

    @abc.abstractmethod
    def _points(self, start: int, stop: int) -> np.ndarray:
        """Unclipped points for a valid slice and at least one name (see Notes)."""

    def _generator(self, name: str, purpose: int, position: int, size: int) -> np.random.Generator:
        """The generator of ``name``'s ``purpose`` stream at output ``position``, for the caller
        to read ``size`` doubles from at once (one 64-bit output per double).

        Each thread keeps its generators where they stop, so reading on costs no re-seeding.
        """
        cursors = self._cursors()
        gen, pos = cursors.get((purpose, name), (None, 0))
        if gen is None or pos > position:  # first read, or a read backwards: start afresh
            gen, pos = np.random.Generator(np.random.PCG64(stream(self.seed, name, purpose))), 0
        cast(np.random.PCG64, gen.bit_generator).advance(position - pos)
        cursors[purpose, name] = (gen, position + size)
        return gen

    def _cursors(self) -> dict[tuple[int, str], tuple[np.random.Generator, int]]:
        """This thread's generators by ``(purpose, name)``, each with the position it stops at."""
        if not hasattr(self._local, "cursors"):
            self._local.cursors = {}
        return self._local.cursors

    def _stream_uniforms(self, purpose: int, start: int, stop: int, skip: int = 0) -> np.ndarray:
        """Doubles ``skip + start .. skip + stop - 1`` of every name's ``purpose`` stream,
        shape ``(len(names), stop - start)``."""
        out = np.empty((len(self.names), stop - start))
        for row, name in zip(out, self.names, strict=True):
            self._generator(name, purpose, skip + start, stop - start).random(out=row)
        return out


class RandomSampler(Sampler):
    """Independent uniforms, one name-derived PCG64 stream per parameter.

    Draw ``i`` of parameter ``name`` is double ``i`` of the generator
    ``PCG64(stream(seed, name, 0))``. Parameters as for :class:`Sampler`.

    Examples
    --------
    >>> u = RandomSampler(["x"], seed=4, draws=3).uniforms(0, 3)[0]
    >>> v = np.random.Generator(np.random.PCG64(stream(4, "x"))).random(3)
    >>> np.array_equal(u, v)
    True
    """

    kind = "random"

    def _points(self, start: int, stop: int) -> np.ndarray:
        return self._stream_uniforms(_RANDOM_STREAM, start, stop)


def _domain(n: int) -> tuple[int, int]:
    """``(a, lo)``: the Feistel domain ``Z_a x Z_L``, ``L = 2**lo``, covering ``range(n)``.

    With ``bits = bit_length(n - 1)`` (at least 2) and ``lo = ceil(bits / 2)``: ``a = ceil(n / L)``,
    so ``a L >= n`` with fewer than ``L`` values to spare, and ``a <= L`` (a round table of
    ``L`` entries also covers ``Z_a``).
    """
    lo = (max(2, int(n - 1).bit_length()) + 1) // 2
    return -(-n // (1 << lo)), lo


def round_tables(n: int, rng: np.random.Generator, rounds: int = ROUNDS) -> np.ndarray:
    """Random round functions of a Feistel permutation of ``range(n)`` (see :func:`permutation`).

    Parameters
    ----------
    n : int
        Size of the permuted range, ``1 <= n <= MAX_LHS_DRAWS``.
    rng : numpy.random.Generator
        Source of the tables; ``rounds * 2**lo`` doubles are read from it.
    rounds : int, default: ROUNDS
        Number of Feistel rounds.

    Returns
    -------
    numpy.ndarray
        Integers of shape ``(rounds, 2**lo)``: row ``r`` is the round function ``F_r``, a
        uniformly random map from ``Z_(2**lo)`` to ``Z_a`` for even ``r`` and from ``Z_a`` (its
        first ``a`` entries) to ``Z_(2**lo)`` for odd ``r``.

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


_LookUp = Callable[[int, np.ndarray], np.ndarray]
"""``look_up(r, v)``: the round function ``F_r`` at values ``v``."""


class _Network:
    """The Feistel network of one permutation of ``range(n)``, or of one per row of an index.

    ``tables`` has shape ``(R, L)`` (one permutation shared by every row) or ``(P, R, L)``
    (row ``p`` uses ``tables[p]``). Round functions are looked up in one of two ways:
    :meth:`own_tables` for one row at a time, :meth:`tables_at` for values of several rows.
    """

    def __init__(self, n: int, tables: np.ndarray, rows: int) -> None:
        a, self.lo = _domain(n)
        self.width = 1 << self.lo
        tables = np.asarray(tables, dtype=np.intp)
        if tables.ndim not in (2, 3) or tables.shape[-1] != self.width:
            raise ValueError(f"tables for n = {n} need shape (R, {self.width}) or (P, R, {self.width})")
        self.rounds = tables.shape[-2]
        self.per_row = tables.reshape(-1, self.rounds, self.width)  # (P or 1, R, L)
        if self.per_row.shape[0] not in (1, rows):
            raise ValueError(f"{self.per_row.shape[0]} permutations' tables for {rows} rows of indices")
        # in the flat tables, round r of row p's permutation starts at p R L + r L, or at r L
        # for every row when they share one permutation
        self.flat = self.per_row.reshape(-1)
        self.stride = 0 if self.per_row.shape[0] == 1 else self.rounds * self.width
        # high + F(low) < 2a, so wrap[high + F(low)] is the sum mod a, without a division
        self.wrap = np.arange(2 * a, dtype=np.intp) % a

    def own_tables(self, row: int) -> _LookUp:
        """Round functions of ``row``'s permutation, read from its own ``(R, L)`` tables."""
        own = self.per_row[0 if self.stride == 0 else row]

        def look_up(r: int, v: np.ndarray) -> np.ndarray:
            return own[r].take(v)
        return look_up

    def tables_at(self, rows: np.ndarray) -> _LookUp:
        """Round functions for values of the index rows ``rows`` (broadcast against the values),
        each read from the flat tables at its row's offset."""
        offset, flat, width = rows * self.stride, self.flat, self.width

        def look_up(r: int, v: np.ndarray) -> np.ndarray:
            return flat.take(v + (offset + r * width))
        return look_up

    def encrypt(self, x: np.ndarray, look_up: _LookUp, out: np.ndarray | None = None) -> np.ndarray:
        """The network at values ``x`` of ``[0, a L)``: ``x = high L + low`` goes through rounds
        ``high <- (high + F_r(low)) mod a`` (even ``r``) and ``low <- low xor F_r(high)`` (odd
        ``r``), each a bijection of the domain whatever ``F_r``; the result is written to ``out``."""
        high, low = x >> self.lo, x & (self.width - 1)
        for r in range(self.rounds):
            if r % 2 == 0:
                f = look_up(r, low)
                f += high
                np.take(self.wrap, f, out=high)
            else:
                low ^= look_up(r, high)
        out = np.left_shift(high, self.lo, out=out)
        out |= low
        return out


def permutation(index: np.ndarray, n: int, tables: np.ndarray) -> np.ndarray:
    """Keyed pseudo-random permutations of ``range(n)``, evaluated at ``index``.

    Parameters
    ----------
    index : numpy.ndarray
        Integers in ``range(n)``, shape ``(m,)`` or ``(P, m)``.
    n : int
        Size of the permuted range, at most ``MAX_LHS_DRAWS``.
    tables : numpy.ndarray
        Round functions from :func:`round_tables`, shape ``(R, L)`` (one permutation for every
        row of ``index``) or ``(P, R, L)`` (one per row).

    Returns
    -------
    numpy.ndarray
        The permuted values, integers of the shape of ``index``.

    Notes
    -----
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
    flat_input, index = np.ndim(index) == 1, np.atleast_2d(index)
    n_rows, m = index.shape
    network = _Network(n, tables, n_rows)
    out = np.empty(index.shape, dtype=np.intp)
    # A long row goes alone: its R L table entries (under 64 sqrt(n) bytes) stay in the cache
    # while its values stream through. Short rows go in blocks of about _BLOCK values, so that
    # numpy's cost per call is paid once per block; each value finds its row's tables by offset.
    long_rows = m >= _LONG_ROW
    step = 1 if long_rows else _BLOCK // max(1, m)
    rows = np.arange(n_rows, dtype=np.intp)[:, None]
    for r0 in range(0, n_rows, step):
        block = slice(r0, r0 + step)
        look_up = network.own_tables(r0) if long_rows else network.tables_at(rows[block])
        network.encrypt(index[block], look_up, out=out[block])
    # Cycle walking: the network permutes [0, a L), which holds [0, n). A value that lands in
    # [n, a L) goes through the network again until it lands in [0, n). This ends, because the
    # network's cycle through the index i < n comes back to i; and it keeps a bijection of
    # [0, n), because i goes to the next value of [0, n) on its cycle (following the cycles
    # backwards inverts it). Flat position k of out is in row k // m (out is C-ordered).
    walk = np.flatnonzero(out >= n)
    while walk.size:
        values = network.encrypt(out.flat[walk], network.tables_at(walk // m))
        out.flat[walk] = values
        walk = walk[values >= n]
    return out[0] if flat_input else out


class LatinHypercubeSampler(Sampler):
    """Latin hypercube over ``draws`` strata with a name-keyed permutation per parameter.

    Draw ``i`` of a parameter is ``(perm(i) + jitter_i) / draws``, ``perm`` a
    :func:`permutation` of ``range(draws)`` keyed by round tables from the parameter's stream
    ``stream(seed, name, 1)`` and ``jitter_i`` a later uniform double of that stream.
    Parameters as for :class:`Sampler`.

    Raises
    ------
    ValueError
        If ``draws`` exceeds ``MAX_LHS_DRAWS``.

    Examples
    --------
    Every stratum ``[k / 8, (k + 1) / 8)`` holds one draw, however the draws are read:

    >>> s = LatinHypercubeSampler(["x"], seed=2, draws=8)
    >>> u = np.concatenate([s.uniforms(0, 3), s.uniforms(3, 8)], axis=1)
    >>> sorted(np.floor(u[0] * 8).astype(int).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7]
    """

    kind = "lhs"

    def __init__(self, names: Sequence[str], seed: int, draws: int) -> None:
        if draws > MAX_LHS_DRAWS:
            raise ValueError(f"a Latin hypercube takes at most {MAX_LHS_DRAWS} draws, not {draws}")
        super().__init__(names, seed, draws)
        self._tables: np.ndarray | None = None
        self._skip = ROUNDS << _domain(self.draws)[1]  # stream outputs taken by the tables

    def tables(self) -> np.ndarray:
        """Round tables of every name's permutation, built on first use.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(names), ROUNDS, L)``: the first ``ROUNDS L`` outputs of each name's
            stream; the jitter of draw ``i`` is output ``ROUNDS L + i``.
        """
        if self._tables is None:
            self._tables = np.stack([
                round_tables(self.draws, self._generator(name, _LHS_STREAM, 0, self._skip))
                for name in self.names])
        return self._tables

    def _points(self, start: int, stop: int) -> np.ndarray:
        index = np.broadcast_to(np.arange(start, stop), (len(self.names), stop - start))
        strata = permutation(index, self.draws, self.tables())
        out = self._stream_uniforms(_LHS_STREAM, start, stop, skip=self._skip)  # jitter
        out += strata
        out /= self.draws
        return out


class SobolSampler(Sampler):
    """Scrambled Sobol' points (:class:`scipy.stats.qmc.Sobol`), dimensions in sorted-name order.

    The engine is seeded with ``numpy.random.default_rng(seed)`` and fast-forwarded to the
    slice. A joint design: its rows depend on the set of names, not only on each row's own
    name (see :class:`Sampler`). Balanced when ``draws`` is a power of two. Parameters as
    for :class:`Sampler`.

    Examples
    --------
    >>> u = SobolSampler(["b", "a"], seed=0, draws=4).uniforms(0, 4)
    >>> v = SobolSampler(["a", "b"], seed=0, draws=4).uniforms(0, 4)
    >>> np.array_equal(u, v[::-1])
    True
    """

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
    """The sampler called ``kind``.

    Parameters
    ----------
    kind : {"random", "lhs", "sobol"}
        Which sampler (a key of ``SAMPLERS``).
    names, seed, draws
        As for :class:`Sampler`.

    Returns
    -------
    Sampler

    Raises
    ------
    UsageError
        If ``kind`` is unknown (a ``ValueError``).

    Examples
    --------
    >>> s = make_sampler("lhs", ["a", "b"], seed=3, draws=8)
    >>> u = s.uniforms(0, 8)
    >>> sorted(np.floor(u[0] * 8).astype(int).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    return SAMPLERS[check_choice(kind, tuple(SAMPLERS), "sampler")](names, seed, draws)
