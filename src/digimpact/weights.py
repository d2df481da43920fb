"""Importance weights: update Monte Carlo draws on observations, and read weighted results.

The statistical layer under ``digimpact.update``. Each Monte Carlo draw is a sample from the
prior; an observation ``y`` of a quantity the draw predicts as ``f`` has likelihood
``p(y | f)`` under an :class:`ErrorModel`. Weighting draw ``i`` by ``L_i = prod_k p(y_k | f_ik)``
turns the prior sample into a sample of the posterior (importance sampling with the prior as
proposal [1]_):

* :func:`log_likelihood` sums the observations' log densities per draw;
* :func:`importance_weights` normalises ``exp(loglik)`` stably (a softmax);
* :func:`effective_sample_size` is Kish's ``(sum w)^2 / sum w^2`` [2]_, and :func:`check_ess`
  warns with a draw count (:func:`suggest_draws`) when it is small;
* :func:`weighted_quantile` reads intervals off the weighted draws; :func:`systematic_resample`
  turns them into an ordinary, equally weighted sample instead [3]_.

When the data sit in the prior's tail few draws carry the weight. Two remedies:
:func:`tempering_exponent` and :func:`tempering_schedule` measure how far the data move the
prior (adaptive likelihood tempering [4]_, the power ``beta`` of ``L^beta`` that keeps a given
ESS), and :class:`WidenedProposal` draws a second round of model inputs around the weighted
draws, with a defensive mixture of the prior so the weights stay bounded [5]_.

Everything here is elementwise per draw, or a reduction over the whole array of draws: the
numbers do not depend on how the draws were chunked upstream.

References
----------
.. [1] Robert, C. P. and Casella, G. (2004). *Monte Carlo Statistical Methods*, 2nd ed.,
       Springer, ch. 3.3. doi:10.1007/978-1-4757-4145-2
.. [2] Kish, L. (1965). *Survey Sampling*. Wiley, New York (effective sample size).
.. [3] Douc, R., Cappé, O. and Moulines, E. (2005). Comparison of resampling schemes for
       particle filtering. *ISPA 2005*, 64-69. doi:10.1109/ISPA.2005.195385
.. [4] Jasra, A., Stephens, D. A., Doucet, A. and Tsagaris, T. (2011). Inference for Lévy-driven
       stochastic volatility models via adaptive sequential Monte Carlo. *Scand. J. Stat.*
       38(1), 1-22. doi:10.1111/j.1467-9469.2010.00723.x; Zhou, Y., Johansen, A. M. and
       Aston, J. A. D. (2016). Toward automatic model comparison: an adaptive sequential Monte
       Carlo approach. *J. Comput. Graph. Stat.* 25(3), 701-726 (conditional ESS).
       doi:10.1080/10618600.2015.1060885
.. [5] Hesterberg, T. (1995). Weighted average importance sampling and defensive mixture
       distributions. *Technometrics* 37(2), 185-194. doi:10.1080/00401706.1995.10484303
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import ClassVar, Literal, get_args

import numpy as np
import numpy.typing as npt
from scipy import special, stats
from scipy.optimize import brentq

from .errors import UsageError, did_you_mean

__all__ = ["DegenerateWeightsWarning", "ErrorModel", "IntervalError", "IntervalShape",
           "NormalError", "Observation", "QuantileMethod", "RelativeError", "WidenedProposal",
           "check_ess", "effective_sample_size", "importance_weights", "log_likelihood",
           "suggest_draws", "systematic_resample", "tempering_exponent", "tempering_schedule",
           "weighted_quantile"]

IntervalShape = Literal["normal", "uniform"]
"""How :class:`IntervalError` reads an interval: a 90% normal interval, or a hard box."""
QuantileMethod = Literal["inverted_cdf", "averaged_inverted_cdf"]
"""The definitions of :func:`weighted_quantile` (numpy's names for them)."""

Z90 = float(stats.norm.ppf(0.95))
"""Half-width of a central 90% normal interval in standard deviations (1.6449)."""
_RESAMPLE_KEY = int.from_bytes(b"resample", "big")  # spawn keys of this module's streams
_PROPOSAL_KEY = int.from_bytes(b"proposal", "big")
_Z_REACH = 8.0  # probit-space bound of WidenedProposal points (prior mass beyond: 1.2e-15)


def _choice(what: str, value: str, vocabulary: object) -> None:
    allowed = get_args(vocabulary)
    if value not in allowed:
        raise UsageError(f"unknown {what} {value!r}{did_you_mean(value, allowed)}; "
                         f"expected one of {', '.join(allowed)}")


def _positive(what: str, value: float, *, zero: bool = False) -> None:
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        raise UsageError(f"{what} must be a finite number {'>=' if zero else '>'} 0, got {value!r}")


def _generator(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


# ----------------------------------------------------------------------------- error models
class ErrorModel(abc.ABC):
    """How an observed value scatters around the model's prediction (abstract base).

    A subclass is a frozen dataclass with its own parameters and a keyword ``mismatch_sd``:
    the extra spread of a proxy series whose definition differs from the modelled quantity,
    added in quadrature to the measurement error. It implements :meth:`logpdf`.
    """

    mismatch_sd: float
    _nonnegative: ClassVar[tuple[str, ...]] = ("mismatch_sd",)  # fields checked on creation

    def __post_init__(self) -> None:
        for name in self._nonnegative:
            _positive(name, getattr(self, name), zero=True)

    @abc.abstractmethod
    def logpdf(self, observed: float, predicted: npt.ArrayLike) -> np.ndarray:
        """Log density of ``observed`` given each predicted value (vectorised over draws)."""


class _NormalFamily(ErrorModel):
    """A normal error around the prediction whose sd may depend on the observed value."""

    @abc.abstractmethod
    def measurement_sd(self, observed: float) -> float:
        """The measurement error's sd (before the definition mismatch)."""

    def centre(self, observed: float) -> float:
        """The value the normal density is evaluated at."""
        return observed

    def total_sd(self, observed: float) -> float:
        """The total sd: measurement and definition mismatch in quadrature."""
        total = math.hypot(self.measurement_sd(observed), self.mismatch_sd)
        if total == 0:
            raise UsageError(f"{self!r} gives a zero sd at observed value {observed!r}; "
                             "give a mismatch_sd or an absolute error")
        return total

    def logpdf(self, observed: float, predicted: npt.ArrayLike) -> np.ndarray:
        return stats.norm.logpdf(self.centre(observed), loc=predicted, scale=self.total_sd(observed))


@dataclass(frozen=True)
class NormalError(_NormalFamily):
    """Normal measurement error of a fixed sd: ``observed ~ N(predicted, sd^2 + mismatch_sd^2)``.

    Examples
    --------
    >>> e = NormalError(0.3, mismatch_sd=0.4)          # total sd 0.5
    >>> float(e.logpdf(1.0, [1.0])[0]) == float(stats.norm.logpdf(0, scale=0.5))
    True
    """

    sd: float
    _: KW_ONLY
    mismatch_sd: float = 0.0
    _nonnegative = ("sd", "mismatch_sd")

    def measurement_sd(self, observed: float) -> float:
        """The stated sd, whatever the observed value."""
        return self.sd


@dataclass(frozen=True)
class RelativeError(_NormalFamily):
    """Normal error whose sd is a share of the observed value: ``sd = rel * |observed|``.

    Examples
    --------
    >>> RelativeError(0.1).total_sd(20.0)
    2.0
    """

    rel: float
    _: KW_ONLY
    mismatch_sd: float = 0.0
    _nonnegative = ("rel", "mismatch_sd")

    def measurement_sd(self, observed: float) -> float:
        """``rel`` times the observed value's magnitude."""
        return self.rel * abs(observed)


@dataclass(frozen=True)
class IntervalError(_NormalFamily):
    """An observation known only as a range ``[low, high]``.

    ``shape="normal"`` (the default) reads the range as a central 90% interval: a normal
    centred on its midpoint with sd ``(high - low) / (2 * 1.645)``. ``shape="uniform"`` reads it
    as a hard box: every value inside is equally likely, nothing outside is possible; a
    ``mismatch_sd`` softens the edges (the truth plus a normal mismatch falls in the box:
    ``log P(low <= predicted + e <= high)``, up to a constant).

    The normal reading is the default because published ranges ("2-3 sites", "about 50%")
    are judgements rather than bounds, and because a box gives zero weight to every draw
    outside it, which empties the sample as soon as two boxes disagree. The observation is the
    range itself: ``observed`` is only checked to lie inside it (pass :attr:`midpoint`).

    Examples
    --------
    >>> e = IntervalError(2.0, 3.0)
    >>> round(e.total_sd(e.midpoint), 4)
    0.304
    >>> IntervalError(2.0, 3.0, shape="uniform").logpdf(2.5, [1.0, 2.5]).tolist()
    [-inf, 0.0]
    """

    low: float
    high: float
    _: KW_ONLY
    shape: IntervalShape = "normal"
    mismatch_sd: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise UsageError(f"an interval needs finite low < high, got [{self.low}, {self.high}]")
        _choice("interval shape", self.shape, IntervalShape)
        super().__post_init__()

    @property
    def midpoint(self) -> float:
        """The centre of the range, the value to pass as ``observed``."""
        return (self.low + self.high) / 2

    def measurement_sd(self, observed: float) -> float:
        """Half the interval's width over z(0.95): the interval read as a 90% normal one."""
        return (self.high - self.low) / (2 * Z90)

    def centre(self, observed: float) -> float:
        """The interval's midpoint (the observed value must lie inside the interval)."""
        if not self.low <= observed <= self.high:
            raise UsageError(f"observed value {observed!r} lies outside its interval "
                             f"[{self.low}, {self.high}]")
        return self.midpoint

    def logpdf(self, observed: float, predicted: npt.ArrayLike) -> np.ndarray:
        """Normal around the midpoint, or a box softened by ``mismatch_sd`` (``shape="uniform"``)."""
        if self.shape == "normal":
            return super().logpdf(observed, predicted)
        self.centre(observed)
        width = self.high - self.low
        if self.mismatch_sd == 0:
            return stats.uniform.logpdf(predicted, loc=self.low, scale=width)
        m = self.mismatch_sd
        pred = np.asarray(predicted, dtype=float)
        return _log_normal_mass((self.low - pred) / m, (self.high - pred) / m) - math.log(width)


def _log_normal_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, accurate far in either tail."""
    # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): move both ends to the lower tail, where log_ndtr
    # keeps its precision, then log(x - y) = log x + log1p(-y/x).
    upper = a > 0
    lo, hi = np.where(upper, -b, a), np.where(upper, -a, b)
    log_hi = special.log_ndtr(hi)
    return log_hi + np.log1p(-np.exp(special.log_ndtr(lo) - log_hi))


@dataclass(frozen=True)
class Observation:
    """One observed value and its error model; ``name`` labels it in messages.

    Examples
    --------
    >>> Observation(9.13, NormalError(0.3), name="ecommerce 2022").value
    9.13
    """

    value: float
    error: ErrorModel
    name: str = ""


def log_likelihood(predicted: npt.ArrayLike, observations: Sequence[Observation]) -> np.ndarray:
    """Log likelihood of each draw: the sum over independent observations.

    Parameters
    ----------
    predicted : array_like, shape (draws, n_obs)
        Column ``k`` holds each draw's prediction of ``observations[k]``.
    observations : sequence of Observation

    Returns
    -------
    numpy.ndarray, shape (draws,)

    Examples
    --------
    >>> obs = [Observation(1.0, NormalError(1.0)), Observation(0.0, NormalError(2.0))]
    >>> ll = log_likelihood([[1.0, 0.0]], obs)
    >>> bool(np.isclose(ll[0], -np.log(2 * np.pi) - np.log(2.0)))
    True
    """
    pred = np.asarray(predicted, dtype=float)
    if pred.ndim != 2 or pred.shape[1] != len(observations):
        raise UsageError(f"predicted must have shape (draws, {len(observations)}), one column per "
                         f"observation; got {pred.shape}")
    total = np.zeros(pred.shape[0])
    for k, obs in enumerate(observations):  # a few observations, each vectorised over draws
        if not np.isfinite(pred[:, k]).all():
            raise UsageError(f"observation {obs.name or k}: predictions must be finite")
        total += obs.error.logpdf(obs.value, pred[:, k])
    return total


# ----------------------------------------------------------------------------- weights and ESS
def importance_weights(loglik: npt.ArrayLike, *, power: float = 1.0, axis: int = 0) -> np.ndarray:
    """Normalised weights ``exp(power * loglik)`` (they sum to 1 along ``axis``).

    Computed as a softmax, so any log-likelihood scale is safe; ``power < 1`` tempers the
    likelihood (see :func:`tempering_exponent`).

    Examples
    --------
    >>> importance_weights(np.log([1.0, 1.0, 2.0])).tolist()
    [0.25, 0.25, 0.5]
    """
    ll = np.asarray(loglik, dtype=float)
    if np.isnan(ll).any() or (ll == np.inf).any():
        raise UsageError("log likelihoods must be finite or -inf")
    if not (np.max(ll, axis=axis) > -np.inf).all():
        raise UsageError("every draw has zero likelihood: the observations are impossible under "
                         "the model (check a uniform interval, or widen the error models)")
    _positive("power", power, zero=True)
    if power == 0:  # the prior: every draw alike, impossible ones included
        return np.full(ll.shape, 1.0 / ll.shape[axis])
    return special.softmax(power * ll, axis=axis)


def _weights(weights: npt.ArrayLike, *, one_d: bool = False) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if one_d and w.ndim != 1:
        raise UsageError(f"weights must be 1-D, one per draw; got shape {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all() and (w.sum(axis=0) > 0).all()):
        raise UsageError("weights must be finite, >= 0 and not all zero")
    return w


def effective_sample_size(weights: npt.ArrayLike, *, axis: int = 0) -> np.ndarray | float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``; ``1 / sum w^2`` for normalised w.

    It lies between 1 (one draw holds all the weight) and the number of draws (equal weights).

    Examples
    --------
    >>> round(effective_sample_size([1, 1, 2]), 6)      # 16 / 6
    2.666667
    """
    w = np.moveaxis(_weights(weights), axis, 0)
    w = w / w.max(axis=0)  # scale-free; keeps w**2 from overflowing or underflowing
    ess = w.sum(axis=0) ** 2 / (w**2).sum(axis=0)
    return float(ess) if ess.ndim == 0 else ess


def suggest_draws(ess: float, draws: int, target_ess: float) -> int:
    """Draws needed for ``target_ess``, as ESS grows in proportion to the draws.

    The ratio ``ess / draws`` depends on how far the data move the prior, not on the number of
    draws, so ``draws * target_ess / ess`` (rounded up, never fewer than ``draws``).

    Examples
    --------
    >>> suggest_draws(ess=50.0, draws=20_000, target_ess=1000)
    400000
    """
    _positive("ess", ess)
    return max(draws, math.ceil(draws * target_ess / ess))


class DegenerateWeightsWarning(UserWarning):
    """The effective sample size is below the threshold; the message says how many draws to run."""


def check_ess(weights: npt.ArrayLike, *, min_ess: float = 1000.0) -> float:
    """The effective sample size, with a :class:`DegenerateWeightsWarning` below ``min_ess``.

    Examples
    --------
    >>> check_ess(np.ones(5000))
    5000.0
    """
    w = _weights(weights, one_d=True)
    ess = float(effective_sample_size(w))
    if ess < min_ess:
        warnings.warn(f"effective sample size {ess:.1f} of {w.size} draws is below {min_ess:g}: "
                      f"run about {suggest_draws(ess, w.size, min_ess)} draws, or see "
                      "tempering_exponent and WidenedProposal", DegenerateWeightsWarning,
                      stacklevel=2)
    return ess


# ----------------------------------------------------------------------------- weighted quantiles
def weighted_quantile(values: npt.ArrayLike, weights: npt.ArrayLike, q: npt.ArrayLike, *,
                      axis: int = 0, method: QuantileMethod = "inverted_cdf") -> np.ndarray:
    """Quantiles of weighted draws, along ``axis`` (vectorised over the other axes).

    With ``C_i`` the cumulative weight of the sorted values and ``W`` the total:

    ``"inverted_cdf"`` (default)
        The smallest value ``x_i`` with ``C_i >= q W``: the inverse of the weighted empirical
        CDF. Always one of the draws.
    ``"averaged_inverted_cdf"``
        The same, except where ``q W`` equals some ``C_i`` exactly (a flat step of the CDF):
        there, the mean of ``x_i`` and the next value of positive weight.

    Both depend on the weights only through their proportions, and for integer weights ``k``
    both equal ``np.quantile(np.repeat(values, k), q, method=method)`` exactly. numpy's
    interpolating methods ("linear" and the like) are not offered: on repeated values they
    depend on the count of draws, not only on the weights' proportions, so they have no
    meaning for normalised importance weights.

    Parameters
    ----------
    values : array_like
    weights : array_like
        Non-negative, either 1-D along ``axis`` (one weight per draw, shared by every column)
        or of the shape of ``values``.
    q : array_like
        Probabilities in [0, 1].
    axis : int, default: 0
    method : {"inverted_cdf", "averaged_inverted_cdf"}, default: "inverted_cdf"

    Returns
    -------
    numpy.ndarray
        Shape ``q.shape + values.shape`` without ``axis``, as :func:`numpy.quantile`.

    Examples
    --------
    >>> weighted_quantile([1.0, 2.0, 3.0], [1, 1, 2], 0.5).item()
    2.0
    >>> weighted_quantile([1.0, 2.0, 3.0], [1, 1, 2], 0.5, method="averaged_inverted_cdf").item()
    2.5
    """
    _choice("quantile method", method, QuantileMethod)
    qs = np.asarray(q, dtype=float)
    if not ((qs >= 0) & (qs <= 1)).all():
        raise UsageError("quantile probabilities must lie in [0, 1]")
    x = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    w = _weights(weights)
    w = w.reshape(w.shape + (1,) * (x.ndim - 1)) if w.ndim == 1 else np.moveaxis(w, axis, 0)
    order = np.argsort(x, axis=0)
    x = np.take_along_axis(x, order, axis=0)
    cum = np.take_along_axis(np.broadcast_to(w, x.shape), order, axis=0).cumsum(axis=0)
    target = qs.reshape(qs.shape + (1,) * x.ndim) * cum[-1]  # (*q, 1, *rest)
    # First index with C_i >= t; cum == 0 skips leading zero weights when t == 0. The counts
    # compare unnormalised cumulative weights, so integer weights give exact comparisons.
    lo = np.sum((cum < target) | (cum == 0), axis=-x.ndim)
    x_lo = np.take_along_axis(x, lo.reshape(-1, *x.shape[1:]), axis=0).reshape(lo.shape)
    if method == "inverted_cdf":
        return x_lo[()]
    # Next value of positive weight when t sits exactly on a step (and t < W).
    step = np.minimum(np.sum(cum <= target, axis=-x.ndim), x.shape[0] - 1)
    step = np.where(np.squeeze(target, axis=-x.ndim) < cum[-1], step, lo)
    x_hi = np.take_along_axis(x, step.reshape(-1, *x.shape[1:]), axis=0).reshape(lo.shape)
    # numpy's lerp at gamma 1/2 is b - (b - a) / 2; match it bit for bit.
    return np.where(step != lo, x_hi - (x_hi - x_lo) * 0.5, x_lo)[()]


# ----------------------------------------------------------------------------- resampling
def systematic_resample(weights: npt.ArrayLike, *, seed: int, size: int | None = None) -> np.ndarray:
    """Indices of an equally weighted resample of the draws (systematic resampling).

    One uniform ``u`` places ``size`` evenly spaced points ``(j + u) / size`` on the cumulative
    weights; draw ``i`` is taken once per point in its share of [0, 1). Each draw appears
    ``floor(size w_i)`` or ``ceil(size w_i)`` times, the least noise of the common schemes [3]_.
    ``u`` comes from ``SeedSequence(seed, spawn_key=(int.from_bytes(b"resample", "big"),))``,
    so the same seed gives the same indices. The indices are sorted.

    Parameters
    ----------
    weights : array_like, shape (draws,)
    seed : int
        The run's root seed.
    size : int, optional
        Length of the resample; the number of draws by default.

    Examples
    --------
    >>> systematic_resample([0.0, 0.5, 0.25, 0.25], seed=1).tolist()
    [1, 1, 2, 3]
    """
    w = _weights(weights, one_d=True)
    n = w.size if size is None else size
    if n < 1:
        raise UsageError(f"size must be >= 1, got {n}")
    cum = w.cumsum()
    cum /= cum[-1]  # exactly 1.0 at the end, so every point (< 1) lands on a draw
    points = (np.arange(n) + _generator(seed, _RESAMPLE_KEY).random()) / n
    return np.searchsorted(cum, points, side="right")


# ----------------------------------------------------------------------------- tempering
def _cess(loglik: np.ndarray, base: np.ndarray, delta: float) -> float:
    """Conditional ESS share of the increment ``L^delta`` on weights ``base`` (sum 1) [4]_."""
    shifted = loglik - loglik.max()
    possible = shifted > -np.inf  # L^delta of an impossible draw is 0, even at delta = 0
    inc = np.zeros_like(shifted)
    inc[possible] = np.exp(delta * shifted[possible])
    return float((base @ inc) ** 2 / (base @ inc**2))


def tempering_exponent(loglik: npt.ArrayLike, *, ess_fraction: float = 0.5,
                       start: float = 0.0) -> float:
    """The largest power ``beta`` in ``(start, 1]`` whose weights keep ``ess_fraction`` of the ESS.

    From the weights ``L^start`` it finds, with :func:`scipy.optimize.brentq`, the ``beta`` at
    which the conditional ESS of the increment ``L^(beta - start)`` is ``ess_fraction``; for
    ``start = 0`` that is plain ESS ``= ess_fraction * draws``. It returns 1 when the full
    likelihood keeps that much. A result well below 1 says the data are far in the prior's tail
    for this many draws. Tempering by ``beta`` is the same as widening every normal error sd
    by ``1 / sqrt(beta)``: a conservative update that under-uses the data.

    Examples
    --------
    >>> ll = -0.5 * np.linspace(-4, 4, 10_001) ** 2 / 0.1**2   # N(0, 1)-ish bank, sharp data
    >>> beta = tempering_exponent(ll, ess_fraction=0.5)
    >>> round(float(effective_sample_size(importance_weights(ll, power=beta))) / ll.size, 6)
    0.5
    """
    ll = np.asarray(loglik, dtype=float)
    if not 0 < ess_fraction < 1:
        raise UsageError(f"ess_fraction must lie in (0, 1), got {ess_fraction}")
    if not 0 <= start < 1:
        raise UsageError(f"start must lie in [0, 1), got {start}")
    base = importance_weights(ll, power=start)
    gap = lambda beta: _cess(ll, base, beta - start) - ess_fraction  # noqa: E731
    if gap(1.0) >= 0:
        return 1.0
    if gap(start) <= 0:
        raise UsageError(f"fewer than {ess_fraction:g} of the weight rests on draws the "
                         "observations allow: no power keeps that ESS")
    return float(brentq(gap, start, 1.0, xtol=1e-12, rtol=1e-12))


def tempering_schedule(loglik: npt.ArrayLike, *, ess_fraction: float = 0.5) -> np.ndarray:
    """The adaptive powers ``0 < beta_1 < ... < 1`` of a tempered SMC on these draws.

    Each step keeps ``ess_fraction`` of the conditional ESS (:func:`tempering_exponent` from the
    previous power). The number of steps grows with ``log(draws / ESS)``: it measures how much
    the data say relative to the prior. An SMC sampler would resample and move the draws
    between steps; with a fixed bank of draws the schedule is a diagnostic.

    Examples
    --------
    >>> ll = -0.5 * np.linspace(-4, 4, 10_001) ** 2 / 0.01**2
    >>> powers = tempering_schedule(ll)
    >>> len(powers), float(powers[-1])
    (6, 1.0)
    """
    powers = [0.0]
    while powers[-1] < 1.0:  # one step per halving of the ESS: a few dozen at most
        powers.append(tempering_exponent(loglik, ess_fraction=ess_fraction, start=powers[-1]))
    return np.array(powers[1:])


# ----------------------------------------------------------------------------- second round
@dataclass(frozen=True, eq=False)
class WidenedProposal:
    """A second-round proposal for the model's uniform inputs, widened around weighted draws.

    The model's prior is uniform on the unit cube of its inputs. In probit space
    ``z = Phi^-1(u)`` the prior is a standard normal; the proposal is the mixture

    ``q(z) = defensive * N(z; 0, I) + (1 - defensive) * N(z; mean, diag(sd^2))``,

    with ``mean`` and ``sd`` the weighted mean and ``widen`` times the weighted sd of the first
    round (``sd`` capped at the prior's 1, so inputs the data do not inform keep their prior).
    A second round's draw has importance weight ``L(u) * prior(u) / q(u)``:
    :meth:`log_prior_ratio` gives ``log prior - log q``, at most ``-log(defensive)``, so no
    draw's weight can blow up [5]_. Points are kept within ``|z| <= 8``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u = rng.random((4000, 2))
    >>> ll = stats.norm.logpdf(2.0, loc=stats.norm.ppf(u[:, 0]), scale=0.3)
    >>> prop = WidenedProposal.fit(u, importance_weights(ll))
    >>> prop.mean.round(1).tolist(), prop.sd.round(1).tolist()
    ([1.9, -0.1], [0.6, 1.0])
    >>> prop.sample(1000, seed=1).shape
    (1000, 2)
    """

    mean: np.ndarray
    sd: np.ndarray
    defensive: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.defensive < 1:
            raise UsageError(f"defensive must lie in (0, 1), got {self.defensive}")
        if self.mean.shape != self.sd.shape or not (self.sd > 0).all():
            raise UsageError("mean and sd need one positive sd per input")

    @classmethod
    def fit(cls, uniforms: npt.ArrayLike, weights: npt.ArrayLike, *, widen: float = 2.0,
            defensive: float = 0.1) -> WidenedProposal:
        """Fit to first-round ``uniforms`` (draws, inputs) and their importance ``weights``."""
        _positive("widen", widen)
        w = _weights(weights, one_d=True)
        z = _probit(np.asarray(uniforms, dtype=float))
        mean = w @ z / w.sum()
        sd = np.sqrt(w @ (z - mean) ** 2 / w.sum())
        if not (sd > 0).all():
            raise UsageError("the weights rest on one draw; fit from tempered weights "
                             "(importance_weights(loglik, power=tempering_exponent(loglik)))")
        return cls(mean, np.minimum(widen * sd, 1.0), defensive)

    def sample(self, draws: int, *, seed: int) -> np.ndarray:
        """``draws`` points on the open unit cube, shape (draws, inputs).

        The first ``round(defensive * draws)`` come from the prior, the rest from the widened
        normal (a stratified mixture, weighted by the mixture density), from
        ``SeedSequence(seed, spawn_key=(int.from_bytes(b"proposal", "big"),))``.
        """
        rng = _generator(seed, _PROPOSAL_KEY)
        n_prior = round(self.defensive * draws)
        z = rng.standard_normal((draws, self.mean.size))
        z[n_prior:] = self.mean + self.sd * z[n_prior:]
        return special.ndtr(np.clip(z, -_Z_REACH, _Z_REACH))

    def log_prior_ratio(self, uniforms: npt.ArrayLike) -> np.ndarray:
        """``log prior(u) - log q(u)`` per draw: add it to the log likelihood to weight them."""
        z = _probit(np.asarray(uniforms, dtype=float))
        log_ratio = (stats.norm.logpdf(z, self.mean, self.sd) - stats.norm.logpdf(z)).sum(axis=1)
        return -np.logaddexp(math.log(self.defensive), math.log1p(-self.defensive) + log_ratio)


def _probit(u: np.ndarray) -> np.ndarray:
    return np.clip(special.ndtri(u), -_Z_REACH, _Z_REACH)
