"""Workarounds for the libraries digimpact builds on, kept in one leaf module.

This module imports nothing from digimpact, so that any module may use it.

:func:`standard_ppf` calls scipy's private, standardised quantile function ``_ppf``: the
public ``ppf`` checks its arguments and bounds, which costs four times the arithmetic. A private
method may change without notice, so each family's ``_ppf`` is first checked, once, against
the public ``ppf`` on a few points; if it is missing, takes other arguments or answers
differently, the public ``ppf`` is used instead.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["optional_import", "private_ppf_ok", "standard_ppf"]

_PROBE_Q = np.array([2.0**-54, 0.01, 0.3, 0.5, 0.7, 0.99, 1.0 - 2.0**-53])
"""Probabilities of the check, from the smallest to the largest point a sampler returns."""
_PROBE_SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    # family: per shape argument, its values in two rows (as BatchPPF passes them)
    "uniform": (),
    "norm": (),
    "triang": ((0.3, 1.0),),
    "beta": ((2.5, 0.7), (1.2, 4.0)),
    "truncnorm": ((-1.5, 0.2), (2.0, np.inf)),
    "lognorm": ((0.6, 1.4),),
}
"""The families whose private ``_ppf`` may be used, with the shape arguments of their check."""
_verdicts: dict[type, bool] = {}  # family class -> private_ppf_ok (racing threads agree)


def _private_matches_public(family: Any) -> bool:
    shapes = _PROBE_SHAPES.get(str(getattr(family, "name", "")))
    if shapes is None:  # a family not checked here: the public ppf only
        return False
    args = [np.array(values)[:, None] for values in shapes]
    q = np.tile(_PROBE_Q, (2, 1))
    try:
        private = np.asarray(family._ppf(q, *args))
    except (AttributeError, TypeError, ValueError):  # gone, or other arguments
        return False
    public = np.asarray(family.ppf(q, *args))
    # bit-identical, so that results do not depend on which of the two is used
    return private.shape == public.shape and np.array_equal(private, public)


def private_ppf_ok(family: Any) -> bool:
    """Whether :func:`standard_ppf` calls ``family``'s private ``_ppf``.

    True when ``family`` is one of the scipy.stats families digimpact uses and its ``_ppf``
    gives, bit for bit, the public ``ppf`` at a few probabilities and shape arguments. Checked
    once per family class.

    Examples
    --------
    >>> from scipy import stats
    >>> private_ppf_ok(stats.beta), private_ppf_ok(stats.gamma)
    (True, False)
    """
    cls = type(family)
    if cls not in _verdicts:
        _verdicts[cls] = _private_matches_public(family)
    return _verdicts[cls]


def standard_ppf(family: Any, q: np.ndarray, *shapes: np.ndarray) -> np.ndarray:
    """Standardised quantile function (``loc = 0``, ``scale = 1``) of a scipy.stats family.

    Parameters
    ----------
    family : scipy.stats.rv_continuous
        The distribution family, for example ``scipy.stats.beta``.
    q : numpy.ndarray
        Probabilities strictly inside (0, 1).
    *shapes : numpy.ndarray
        The family's shape arguments, valid and broadcastable against ``q``.

    Returns
    -------
    numpy.ndarray
        ``family.ppf(q, *shapes)``, computed by the private ``family._ppf`` (no argument
        checks) when :func:`private_ppf_ok`, else by the public ``family.ppf``.

    Examples
    --------
    >>> from scipy import stats
    >>> standard_ppf(stats.beta, np.array([0.25, 0.5]), np.array([1.0]), np.array([1.0])).tolist()
    [0.25, 0.5]
    """
    if private_ppf_ok(family):
        return family._ppf(q, *shapes)
    return family.ppf(q, *shapes)


def optional_import(module: str, extra: str, purpose: str) -> ModuleType:
    """``module``, from an optional extra of digimpact, or an ``ImportError`` that says how to
    install it.

    Examples
    --------
    >>> optional_import("no_such_module", "extra", "this")
    Traceback (most recent call last):
    ...
    ImportError: this needs no_such_module (the extra extra): pip install "digimpact[extra]"
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f'{purpose} needs {module} (the {extra} extra): pip install '
                          f'"digimpact[{extra}]"') from exc
