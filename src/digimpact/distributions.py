"""Uncertain parameters: small, uniform objects on top of :mod:`scipy.stats`.

A parameter is written in a scenario file either as a plain number (fixed) or as a
keyword table, for example ``{ dist = "triangular", low = 0.02, mode = 0.04, high = 0.07 }``.
:func:`parse` turns either form into a :class:`Distribution`, whose :meth:`~Distribution.ppf`
maps a sampler's uniform points to values. :func:`batch_ppf` evaluates many parameters at
once, one scipy call per distribution family, which is how the engine stays vectorised.

Supported forms (extra keys ``source``, ``note`` and ``unit`` are kept as metadata):

============  ==========================================  ===========================
``dist``      keys                                        scipy.stats family
============  ==========================================  ===========================
fixed         ``value`` (or a plain number)               --
uniform       ``low``, ``high``                           ``uniform``
triangular    ``low``, ``mode``, ``high``                 ``triang``
pert          ``low``, ``mode``, ``high``, [``shape``=4]  ``beta`` (scaled)
normal        ``mean``, ``sd``, [``low``], [``high``]     ``norm`` / ``truncnorm``
lognormal     ``p05``, ``p95`` or ``median``, ``sigma``   ``lognorm``
beta          ``a``, ``b``, [``low``=0], [``high``=1]     ``beta`` (scaled)
============  ==========================================  ===========================

References
----------
.. [1] Vose, D. (2008). *Risk Analysis: A Quantitative Guide*, 3rd ed., Wiley (PERT, ch. 9).
.. [2] Virtanen, P. et al. (2020). SciPy 1.0. *Nature Methods* 17, 261-272.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ._compat import standard_ppf
from .errors import ScenarioError, did_you_mean

__all__ = ["MAX_NUMBER", "MAX_SIGMA", "BatchPPF", "Distribution", "batch_ppf", "parse"]

_Z95 = float(stats.norm.ppf(0.95))
MAX_NUMBER = 1e15
"""Largest magnitude of any number in a parameter spec (a thousand times Japan's GDP in yen)."""
MAX_SIGMA = 5.0
"""Largest lognormal ``sigma``: p95 / p05 = exp(2 x 1.645 sigma) is 1.4e7 at 5, and the
samplers' reach (8.2 sigma above the median) a factor of 6e17."""
_META_KEYS = ("source", "note", "unit")
_FORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # dist: (required keys, optional keys); alternative forms listed separately
    "fixed": (("value",), ()),
    "uniform": (("low", "high"), ()),
    "triangular": (("low", "mode", "high"), ()),
    "pert": (("low", "mode", "high"), ("shape",)),
    "normal": (("mean", "sd"), ("low", "high")),
    "lognormal": ((), ("p05", "p95", "median", "sigma")),
    "beta": (("a", "b"), ("low", "high")),
}


@dataclass(frozen=True, eq=False)
class Distribution:
    """One uncertain (or fixed) scalar parameter.

    Use :func:`parse` to build one from a scenario value.

    Examples
    --------
    >>> d = parse({"dist": "uniform", "low": 2.0, "high": 4.0})
    >>> float(d.ppf(0.25)), d.mean()
    (2.5, 3.0)
    >>> parse(0.3).ppf([0.1, 0.9]).tolist()
    [0.3, 0.3]
    """

    kind: str
    spec: Mapping[str, Any]
    frozen: Any = field(default=None, repr=False)

    @property
    def is_fixed(self) -> bool:
        """True for a plain number: no draws are needed."""
        return self.frozen is None

    @property
    def family(self) -> str:
        """Name of the scipy.stats family behind the draws (``""`` for a fixed value)."""
        return "" if self.is_fixed else self.frozen.dist.name

    @property
    def value(self) -> float:
        """The fixed value (``nan`` for an uncertain parameter)."""
        return float(self.spec["value"]) if self.is_fixed else math.nan

    def ppf(self, q: Any) -> np.ndarray:
        """Quantile function: values at probabilities ``q`` (array-like in [0, 1])."""
        q = np.asarray(q, dtype=float)
        if self.is_fixed:
            return np.full(q.shape, self.value)
        return np.asarray(self.frozen.ppf(q), dtype=float)

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int | None = None):
        """Random variates by inversion of uniform draws from ``rng``."""
        return self.ppf(np.random.default_rng(rng).random(size))

    def mean(self) -> float:
        """Expected value."""
        return self.value if self.is_fixed else float(self.frozen.mean())

    def median(self) -> float:
        """Median value."""
        return float(self.ppf(0.5))

    def support(self) -> tuple[float, float]:
        """Smallest and largest possible values."""
        if self.is_fixed:
            return self.value, self.value
        low, high = self.frozen.support()
        return float(low), float(high)

    def to_spec(self) -> float | dict[str, Any]:
        """The scenario-file form this parameter was built from."""
        return self.value if self.kind == "fixed" and set(self.spec) == {"value"} else dict(self.spec)

    def scipy_call(self) -> tuple[Any, tuple[float, ...]]:
        """``(family, args)`` such that ``family.ppf(q, *args)`` equals :meth:`ppf`."""
        args = (*self.frozen.args, self.frozen.kwds.get("loc", 0.0), self.frozen.kwds.get("scale", 1.0))
        return self.frozen.dist, tuple(float(a) for a in args)


def _number(value: Any, path: str, file: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"expected a number, got {value!r}", path, file)
    if isinstance(value, int) and abs(value) > MAX_NUMBER:  # float() of a huge int overflows
        raise ScenarioError(f"expected a number between {-MAX_NUMBER:g} and {MAX_NUMBER:g}, got "
                            f"an integer of {len(str(abs(value)))} digits", path, file)
    if not math.isfinite(value):
        raise ScenarioError(f"expected a finite number, got {value!r}", path, file)
    if abs(value) > MAX_NUMBER:
        raise ScenarioError(f"expected a number between {-MAX_NUMBER:g} and {MAX_NUMBER:g}, got "
                            f"{value:g}", path, file)
    return float(value)


def _ordered(spec: Mapping[str, float], keys: Sequence[str], path: str, file) -> None:
    for a, b in itertools.pairwise(keys):
        if spec[a] > spec[b]:
            raise ScenarioError(f"expected {a} <= {b}, got {a} = {spec[a]:g} and {b} = {spec[b]:g}",
                                f"{path}.{b}", file)
    first, last = keys[0], keys[-1]
    if spec[first] >= spec[last]:
        raise ScenarioError(f"expected {first} < {last}, got {first} = {spec[first]:g} and "
                            f"{last} = {spec[last]:g}", f"{path}.{last}", file)


def _positive(spec: Mapping[str, float], key: str, path: str, file) -> None:
    if spec[key] <= 0:
        raise ScenarioError(f"expected {key} > 0, got {spec[key]:g}", f"{path}.{key}", file)


def _build(kind: str, s: dict[str, float], path: str, file) -> Any:
    if kind == "uniform":
        _ordered(s, ("low", "high"), path, file)
        return stats.uniform(loc=s["low"], scale=s["high"] - s["low"])
    if kind == "triangular":
        _ordered(s, ("low", "mode", "high"), path, file)
        width = s["high"] - s["low"]
        return stats.triang((s["mode"] - s["low"]) / width, loc=s["low"], scale=width)
    if kind == "pert":
        _ordered(s, ("low", "mode", "high"), path, file)
        lam = s.get("shape", 4.0)
        if lam <= 0:
            raise ScenarioError(f"expected shape > 0, got {lam:g}", f"{path}.shape", file)
        width = s["high"] - s["low"]
        a = 1 + lam * (s["mode"] - s["low"]) / width
        b = 1 + lam * (s["high"] - s["mode"]) / width
        return stats.beta(a, b, loc=s["low"], scale=width)
    if kind == "normal":
        _positive(s, "sd", path, file)
        if "low" not in s and "high" not in s:
            return stats.norm(loc=s["mean"], scale=s["sd"])
        lo, hi = s.get("low", -math.inf), s.get("high", math.inf)
        if lo >= hi:
            raise ScenarioError(f"expected low < high, got {lo:g} and {hi:g}", f"{path}.high", file)
        return stats.truncnorm((lo - s["mean"]) / s["sd"], (hi - s["mean"]) / s["sd"],
                               loc=s["mean"], scale=s["sd"])
    if kind == "lognormal":
        if {"p05", "p95"} <= s.keys() and not {"median", "sigma"} & s.keys():
            _positive(s, "p05", path, file)
            _ordered(s, ("p05", "p95"), path, file)
            mu = 0.5 * (math.log(s["p05"]) + math.log(s["p95"]))
            sigma = (math.log(s["p95"]) - math.log(s["p05"])) / (2 * _Z95)
        elif {"median", "sigma"} <= s.keys() and not {"p05", "p95"} & s.keys():
            _positive(s, "median", path, file)
            _positive(s, "sigma", path, file)
            mu, sigma = math.log(s["median"]), s["sigma"]
        else:
            raise ScenarioError("expected either p05 and p95, or median and sigma", path, file)
        if sigma > MAX_SIGMA:
            key = "sigma" if "sigma" in s else "p95"
            raise ScenarioError(f"expected sigma <= {MAX_SIGMA:g} (p95 / p05 <= "
                                f"{math.exp(2 * _Z95 * MAX_SIGMA):.3g}), got sigma = {sigma:g}",
                                f"{path}.{key}", file)
        return stats.lognorm(sigma, scale=math.exp(mu))
    if kind == "beta":
        _positive(s, "a", path, file)
        _positive(s, "b", path, file)
        lo, hi = s.get("low", 0.0), s.get("high", 1.0)
        if lo >= hi:
            raise ScenarioError(f"expected low < high, got {lo:g} and {hi:g}", f"{path}.high", file)
        return stats.beta(s["a"], s["b"], loc=lo, scale=hi - lo)
    raise AssertionError(kind)  # pragma: no cover - guarded by _FORMS


def parse(value: Any, path: str = "", file: str | None = None) -> Distribution:
    """Build a :class:`Distribution` from a number or a keyword table.

    Parameters
    ----------
    value
        A finite number (fixed value) or a mapping with a ``dist`` key (see module docs).
    path, file
        Where the value comes from, for error messages.

    Raises
    ------
    ScenarioError
        Unknown distribution or key, missing key, non-finite number, inverted range.

    Examples
    --------
    >>> d = parse({"dist": "lognormal", "p05": 5, "p95": 10})
    >>> round(float(d.ppf(0.05)), 6), round(float(d.ppf(0.95)), 6)
    (5.0, 10.0)
    """
    if not isinstance(value, Mapping):
        return Distribution("fixed", {"value": _number(value, path, file)})
    kind = value.get("dist")
    if kind is None:
        raise ScenarioError(
            f"expected a number or a table with a 'dist' key (one of {', '.join(_FORMS)})",
            path, file)
    if not isinstance(kind, str) or kind not in _FORMS:
        raise ScenarioError(f"unknown distribution {kind!r}{did_you_mean(str(kind), _FORMS)};"
                            f" expected one of {', '.join(_FORMS)}", f"{path}.dist", file)
    required, optional = _FORMS[kind]
    allowed = {"dist", *required, *optional, *_META_KEYS}
    for key in value:
        if key not in allowed:
            raise ScenarioError(f"unknown key {key!r}{did_you_mean(key, allowed)} for dist = "
                                f"{kind!r}; expected {', '.join(sorted(allowed - {'dist'}))}",
                                f"{path}.{key}", file)
    for key in required:
        if key not in value:
            raise ScenarioError(f"missing key {key!r} for dist = {kind!r}", f"{path}.{key}", file)
    numbers = {k: _number(v, f"{path}.{k}", file) for k, v in value.items()
               if k not in ("dist", *_META_KEYS)}
    for key in _META_KEYS:
        if key in value and not isinstance(value[key], str):
            raise ScenarioError(f"expected a string, got {value[key]!r}", f"{path}.{key}", file)
    spec = dict(value)
    if kind == "fixed":
        return Distribution("fixed", spec)
    return Distribution(kind, spec, _build(kind, numbers, path, file))


class BatchPPF:
    """Quantile functions of many parameters, one scipy call per distribution family.

    The grouping by family is computed once; calling the object on uniform points of shape
    ``(P, n)`` returns values of the same shape, row ``i`` equal to ``dists[i].ppf(q[i])``.

    Examples
    --------
    >>> ds = [parse({"dist": "uniform", "low": 0, "high": 2}), parse(5.0),
    ...       parse({"dist": "uniform", "low": 1, "high": 2})]
    >>> BatchPPF(ds)(np.full((3, 2), 0.5)).tolist()
    [[1.0, 1.0], [5.0, 5.0], [1.5, 1.5]]
    """

    def __init__(self, dists: Sequence[Distribution]) -> None:
        self.size = len(dists)
        self.fixed_rows = _rows([i for i, d in enumerate(dists) if d.is_fixed])
        self.fixed_values = np.array([d.value for d in dists if d.is_fixed])[:, None]
        families: dict[str, tuple[Any, list[int], list[tuple[float, ...]]]] = {}
        for i, d in enumerate(dists):
            if not d.is_fixed:
                family, args = d.scipy_call()
                entry = families.setdefault(family.name, (family, [], []))
                entry[1].append(i)
                entry[2].append(args)
        # per family: rows, shape arguments (n_shapes, rows, 1), loc and scale (rows, 1)
        self.families: list[tuple[Any, slice | np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for family, rows, arg_rows in families.values():
            columns = np.asarray(arg_rows, dtype=float).T[:, :, None]
            self.families.append((family, _rows(rows), columns[:-2], columns[-2], columns[-1]))

    def __call__(self, q: np.ndarray) -> np.ndarray:
        out = np.empty(q.shape, dtype=float)
        out[self.fixed_rows] = self.fixed_values
        for family, rows, shapes, loc, scale in self.families:
            # standardised quantile function: parameters were validated by parse() and samplers
            # return points inside (0, 1), so scipy's private _ppf, without the public ppf's
            # checks, is used when it agrees with ppf (see _compat)
            x = standard_ppf(family, q[rows], *shapes)
            if isinstance(rows, slice):  # out[rows] is a view: no scatter
                np.multiply(x, scale, out=out[rows])
                out[rows] += loc
            else:
                out[rows] = x * scale + loc
        return out


def _rows(rows: list[int]) -> slice | np.ndarray:
    """Row indices as a slice when they are consecutive (views instead of copies)."""
    if rows and rows == list(range(rows[0], rows[0] + len(rows))):
        return slice(rows[0], rows[0] + len(rows))
    return np.array(rows, dtype=int)


def batch_ppf(dists: Sequence[Distribution], q: np.ndarray) -> np.ndarray:
    """``BatchPPF(dists)(q)``: evaluate many quantile functions at once (see :class:`BatchPPF`)."""
    return BatchPPF(dists)(q)
