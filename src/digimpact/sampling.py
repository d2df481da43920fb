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
    Feistel network with cycle walking), computed per index, so any slice costs only its own
    size; the key and the jitter both come from the parameter's name, as for ``random``.
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
.. [3] Black, J. and Rogaway, P. (2002). Ciphers with arbitrary finite domains. CT-RSA 2002
       (cycle walking).
.. [4] Owen, A. B. (1998). Scrambling Sobol' and Niederreiter-Xing points. *J. Complexity*
       14(4), 466-489.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import qmc

__all__ = ["REACH_HIGH", "REACH_LOW", "LatinHypercubeSampler", "RandomSampler", "Sampler",
           "SobolSampler", "make_sampler", "permutation", "stream"]

REACH_LOW = 2.0**-54
"""Smallest uniform point any sampler returns (points lie in [REACH_LOW, REACH_HIGH])."""
REACH_HIGH = 1.0 - 2.0**-53
"""Largest uniform point any sampler returns."""
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


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


def _jitter(seed: int, name: str, start: int, stop: int, purpose: int = 0) -> np.ndarray:
    bitgen = np.random.PCG64(stream(seed, name, purpose))
    bitgen.advance(start)  # one 64-bit output per double
    return np.random.Generator(bitgen).random(stop - start)


class Sampler:
    """Base class: uniform points for ``names`` over ``draws`` draws from root ``seed``."""

    kind = ""

    def __init__(self, names: Sequence[str], seed: int, draws: int) -> None:
        self.names, self.seed, self.draws = list(names), int(seed), int(draws)

    def uniforms(self, start: int, stop: int) -> np.ndarray:
        """Points for draws ``start .. stop-1``, shape ``(len(names), stop - start)``."""
        if not 0 <= start <= stop <= self.draws:
            raise ValueError(f"draw slice [{start}, {stop}) outside [0, {self.draws})")
        out = self._points(start, stop) if self.names else np.empty((0, stop - start))
        return np.clip(out, REACH_LOW, REACH_HIGH)

    def _points(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class RandomSampler(Sampler):
    """Independent uniforms, one name-derived PCG64 stream per parameter."""

    kind = "random"

    def _points(self, start: int, stop: int) -> np.ndarray:
        return np.stack([_jitter(self.seed, name, start, stop) for name in self.names])


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def permutation(index: np.ndarray, n: int, keys: np.ndarray) -> np.ndarray:
    """Keyed pseudo-random permutations of ``range(n)``, evaluated at ``index``.

    Parameters
    ----------
    index
        Integers in ``range(n)``, shape ``(m,)`` or ``(P, m)``.
    n
        Size of the permuted range.
    keys
        Round keys (uint64), shape ``(R,)`` or ``(P, R)``: one permutation per row.

    A Feistel network on ``k = bit_length(n - 1)`` bits (unbalanced halves, each round a
    bijection of ``range(2**k)``), restricted to ``range(n)`` by cycle walking; ``2**k < 2 n``
    so few walks are needed.

    Examples
    --------
    >>> keys = np.arange(4, dtype=np.uint64)
    >>> sorted(permutation(np.arange(10), 10, keys).tolist()) == list(range(10))
    True
    """
    k = max(2, int(n - 1).bit_length())
    hi_bits, lo_bits = np.uint64(k // 2), np.uint64(k - k // 2)
    hi_mask, lo_mask = np.uint64((1 << (k // 2)) - 1), np.uint64((1 << (k - k // 2)) - 1)
    keys = np.atleast_2d(np.asarray(keys, dtype=np.uint64))  # (P or 1, R)

    def feistel(x: np.ndarray, key_cols: np.ndarray) -> np.ndarray:
        for r in range(key_cols.shape[-1]):  # x = (high | low) -> (low | high ^ F(low))
            high, low = x >> lo_bits, x & lo_mask
            x = (low << hi_bits) | (high ^ (_mix(low ^ key_cols[..., r]) & hi_mask))
        return x

    x = np.asarray(index, dtype=np.uint64)
    flat_input = x.ndim == 1
    x = feistel(np.atleast_2d(x), keys[:, None, :])
    rows, cols = np.nonzero(x >= n)
    values = x[rows, cols]
    while rows.size:  # cycle walking: stay a bijection of range(n)
        values = feistel(values, keys[rows])
        inside = values < n
        x[rows[inside], cols[inside]] = values[inside]
        rows, cols, values = rows[~inside], cols[~inside], values[~inside]
    x = x.astype(np.int64)
    return x[0] if flat_input else x


class LatinHypercubeSampler(Sampler):
    """Latin hypercube over ``draws`` strata with a name-keyed permutation per parameter."""

    kind = "lhs"

    def _points(self, start: int, stop: int) -> np.ndarray:
        keys = np.stack([stream(self.seed, name, purpose=1).generate_state(4, np.uint64)
                         for name in self.names])
        index = np.broadcast_to(np.arange(start, stop), (len(self.names), stop - start))
        strata = permutation(index, self.draws, keys)
        jitter = np.stack([_jitter(self.seed, name, start, stop, purpose=2) for name in self.names])
        return (strata + jitter) / self.draws


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
