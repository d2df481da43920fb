"""Adoption curves: the share of a use case's value potential captured in each year.

Plain vectorised functions, usable on their own. Every curve takes calendar years ``t``
and parameters that broadcast against each other; the year axis comes last, so parameters
of shape ``(n,)`` and years of shape ``(Y,)`` give an ``(n, Y)`` result, and years of shape
``(n, Y)`` (one time axis per draw) work too. Every curve returns values in
``[0, ceiling]`` and is non-decreasing in ``t`` for valid parameters.

References
----------
.. [1] Bass, F. M. (1969). A new product growth for model consumer durables.
       *Management Science* 15(5), 215-227.
.. [2] Griliches, Z. (1957). Hybrid corn: an exploration in the economics of technological
       change. *Econometrica* 25(4), 501-522.
.. [3] Gompertz, B. (1825). On the nature of the function expressive of the law of human
       mortality. *Phil. Trans. R. Soc.* 115, 513-583.

Examples
--------
>>> import numpy as np
>>> years = np.arange(2020, 2031)
>>> float(logistic(years, midpoint=2025, steepness=1.0, ceiling=0.8)[5])
0.4
>>> round(float(bass(2030, p=0.03, q=0.38, start=2020)), 3)
0.813
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

__all__ = ["CURVES", "Curve", "bass", "fit_logistic", "gompertz", "linear", "logistic", "step",
           "table"]

def _prep(t: ArrayLike, *params: ArrayLike) -> tuple[np.ndarray, ...]:
    """Years as float array; parameters with a trailing axis for the years."""
    return (np.asarray(t, dtype=float), *(np.asarray(p, dtype=float)[..., None] for p in params))


def _diff(t: np.ndarray, origin: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """``t - origin`` in a fresh array of the full broadcast shape (for in-place updates)."""
    out = np.empty(np.broadcast_shapes(t.shape, origin.shape, *(o.shape for o in others)))
    return np.subtract(t, origin, out=out)


def _squeeze(t: ArrayLike, out: np.ndarray) -> np.ndarray:
    # scalar years in, no trailing year axis out
    return out[..., 0] if np.ndim(t) == 0 else out


def logistic(t: ArrayLike, midpoint: ArrayLike, steepness: ArrayLike, ceiling: ArrayLike = 1.0) -> np.ndarray:
    """Logistic S-curve ``ceiling / (1 + exp(-steepness (t - midpoint)))``.

    Parameters
    ----------
    t : array_like
        Calendar years.
    midpoint : array_like
        Year in which half the ceiling is reached.
    steepness : array_like
        Growth rate per year (> 0); 10% to 90% of the ceiling takes ``4.39 / steepness`` years.
    ceiling : array_like
        Long-run adoption share in [0, 1].

    Examples
    --------
    >>> logistic([2024, 2025, 2026], 2025, 1.0).round(4).tolist()
    [0.2689, 0.5, 0.7311]
    """
    t, m, k, c = _prep(t, midpoint, steepness, ceiling)
    z = _diff(t, m, k, c)
    z *= -k
    with np.errstate(over="ignore"):  # exp -> inf long before the midpoint: the curve is 0 there
        np.exp(z, out=z)  # numpy's vectorised exp: about twice as fast as scipy's expit
    z += 1.0
    return _squeeze(t, np.divide(c, z, out=z))


def bass(t: ArrayLike, p: ArrayLike, q: ArrayLike, start: ArrayLike, ceiling: ArrayLike = 1.0) -> np.ndarray:
    """Bass diffusion, cumulative share adopted ``tau = t - start`` years after launch.

    ``F(tau) = (1 - exp(-(p+q) tau)) / (1 + (q/p) exp(-(p+q) tau))`` for ``tau >= 0``,
    zero before ``start``; scaled by ``ceiling``.

    Parameters
    ----------
    t : array_like
        Calendar years.
    p : array_like
        Coefficient of innovation (> 0); meta-analysis mean about 0.03.
    q : array_like
        Coefficient of imitation (>= 0); meta-analysis mean about 0.38.
    start : array_like
        Launch year (``F = 0`` there).
    ceiling : array_like
        Market potential as a share in [0, 1].

    Examples
    --------
    >>> bass([2020, 2025, 2030], 0.03, 0.38, 2020).round(2).tolist()
    [0.0, 0.33, 0.81]
    """
    t, p_, q_, s, c = _prep(t, p, q, start, ceiling)
    decay = np.exp(-(p_ + q_) * np.maximum(t - s, 0.0))
    return _squeeze(t, c * (1.0 - decay) / (1.0 + (q_ / p_) * decay))


def gompertz(t: ArrayLike, midpoint: ArrayLike, steepness: ArrayLike, ceiling: ArrayLike = 1.0) -> np.ndarray:
    """Gompertz curve ``ceiling * exp(-exp(-steepness (t - midpoint)))``.

    Asymmetric S-curve: slow start, long tail. ``midpoint`` is the inflection year, where
    the curve reaches ``ceiling / e`` (about 37% of the ceiling).

    Examples
    --------
    >>> float(gompertz(2025, 2025, 0.5) * np.e)
    1.0
    """
    t, m, k, c = _prep(t, midpoint, steepness, ceiling)
    z = _diff(t, m, k, c)
    z *= -k
    with np.errstate(over="ignore"):  # exp -> inf long before the midpoint: the curve is 0 there
        np.exp(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    z *= c
    return _squeeze(t, z)


def linear(t: ArrayLike, start: ArrayLike, end: ArrayLike, ceiling: ArrayLike = 1.0) -> np.ndarray:
    """Linear ramp from 0 in ``start`` to ``ceiling`` in ``end`` (``end > start``).

    Examples
    --------
    >>> linear([2019, 2020, 2025, 2031], 2020, 2030, 0.5).tolist()
    [0.0, 0.0, 0.25, 0.5]
    """
    t, s, e, c = _prep(t, start, end, ceiling)
    return _squeeze(t, c * np.clip((t - s) / (e - s), 0.0, 1.0))


def step(t: ArrayLike, year: ArrayLike, ceiling: ArrayLike = 1.0) -> np.ndarray:
    """Zero before ``year``, ``ceiling`` from ``year`` on.

    Examples
    --------
    >>> step([2024, 2025, 2026], 2025, 0.3).tolist()
    [0.0, 0.3, 0.3]
    """
    t, y, c = _prep(t, year, ceiling)
    return _squeeze(t, np.where(t >= y, c, 0.0))


def table(t: ArrayLike, points: Mapping[Any, float], scale: ArrayLike = 1.0) -> np.ndarray:
    """Piecewise-linear curve through published milestones ``{year: share}``, times ``scale``.

    Flat before the first and after the last milestone. Shares must not decrease with the
    year; the ceiling is ``scale * max(share)``.

    Examples
    --------
    >>> table([2020, 2022.5, 2030, 2035], {2020: 0.09, 2025: 0.20, 2030: 0.30}).round(3).tolist()
    [0.09, 0.145, 0.3, 0.3]
    """
    xs = np.array([float(k) for k in points])
    ys = np.array([float(v) for v in points.values()])
    order = np.argsort(xs)
    t, sc = _prep(t, scale)
    return _squeeze(t, sc * np.interp(t, xs[order], ys[order]))


def fit_logistic(points: Mapping[Any, float], max_ceiling: float = 1.0) -> dict[str, float]:
    """Fit a logistic curve through published milestones ``{year: share}``.

    Least squares (:func:`scipy.optimize.curve_fit`) over midpoint, steepness and a ceiling
    between the largest milestone and ``max_ceiling``. With three milestones the fit is
    usually exact; use it to pin an uncertain logistic to a published path.

    Returns
    -------
    dict
        ``midpoint``, ``steepness`` and ``ceiling``.

    Examples
    --------
    >>> fit = fit_logistic({2020: 0.09, 2025: 0.20, 2030: 0.30})  # report Exhibit 21
    >>> {k: round(v, 3) for k, v in fit.items()}
    {'midpoint': 2024.357, 'steepness': 0.26, 'ceiling': 0.369}
    """
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    years = np.array([float(y) for y in points])
    shares = np.array([float(v) for v in points.values()])
    top = float(shares.max())
    guess = [float(years.mean()), 4.0 / max(np.ptp(years), 1.0), min(max_ceiling, 1.2 * top)]
    bounds = ([years.min() - 50, 1e-3, top], [years.max() + 50, 10.0, max_ceiling])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # exact fits have no covariance
        params, _ = curve_fit(lambda t, m, k, c: c * expit(k * (t - m)), years, shares,
                              p0=guess, bounds=bounds)
    return dict(zip(("midpoint", "steepness", "ceiling"), map(float, params), strict=True))


@dataclass(frozen=True)
class Curve:
    """A curve kind as scenario files name it: its function and its parameters.

    ``domains`` maps each uncertain parameter to ``"year"``, ``"share"`` (in [0, 1]),
    ``"positive"``, ``"nonnegative"``, or Bass's ``"innovation"`` and ``"imitation"`` (their
    ranges are in :mod:`digimpact.schema`); ``defaults`` gives the optional ones. The curve is
    proportional to its ``level`` parameter (the ceiling, or a table's scale), so the engine
    may fold a use case's value weight into it.
    """

    function: Callable[..., np.ndarray]
    domains: Mapping[str, str]
    defaults: Mapping[str, float]
    fixed: tuple[str, ...] = ()
    level: str = "ceiling"

    def __call__(self, t: ArrayLike, **params: Any) -> np.ndarray:
        """The curve at years ``t`` with parameters ``params`` (see :attr:`domains`)."""
        return self.function(t, **params)

    def limit(self, **params: Any) -> np.ndarray:
        """Adoption once complete (``t -> +inf``), in closed form, for the curve's parameters.

        Every kind tends to its level parameter: the ceiling of logistic, Bass, Gompertz,
        linear and step curves, and ``scale`` times the largest milestone for a table (its
        shares do not decrease, so the last one). Other parameters are ignored.

        Examples
        --------
        >>> CURVES["logistic"].limit(midpoint=2025, steepness=1.0, ceiling=0.8).tolist()
        0.8
        >>> CURVES["table"].limit(scale=0.5, points={2020: 0.1, 2030: 0.6}).tolist()
        0.3
        """
        level = np.asarray(params[self.level], dtype=float)
        return level * max(params["points"].values()) if "points" in self.fixed else level


CURVES: dict[str, Curve] = {
    "logistic": Curve(logistic, {"midpoint": "year", "steepness": "positive", "ceiling": "share"},
                      {"ceiling": 1.0}),
    "bass": Curve(bass, {"p": "innovation", "q": "imitation", "start": "year", "ceiling": "share"},
                  {"ceiling": 1.0}),
    "gompertz": Curve(gompertz, {"midpoint": "year", "steepness": "positive", "ceiling": "share"},
                      {"ceiling": 1.0}),
    "linear": Curve(linear, {"start": "year", "end": "year", "ceiling": "share"}, {"ceiling": 1.0}),
    "step": Curve(step, {"year": "year", "ceiling": "share"}, {"ceiling": 1.0}),
    "table": Curve(table, {"scale": "nonnegative"}, {"scale": 1.0}, fixed=("points",), level="scale"),
}
"""Curve kinds by the name used in scenario files (``adoption.kind``)."""
