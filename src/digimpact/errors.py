"""The exceptions a user's mistake raises: scenario, options, results files, numbers, backend."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

__all__ = ["BackendError", "ResultsError", "ScenarioError", "SimulationError", "UsageError",
           "check_choice", "check_whole", "did_you_mean"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``.

    Examples
    --------
    >>> did_you_mean("midpont", ["midpoint", "ceiling"])
    " (did you mean 'midpoint'?)"
    """
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def check_choice(value: object, vocabulary: Any, what: str) -> str:
    """``value`` if it is one of ``vocabulary``, else a :class:`UsageError` saying what is.

    Parameters
    ----------
    value
        The option as given.
    vocabulary
        A ``Literal`` alias of :mod:`digimpact.options`, or a sequence of words.
    what
        The option's name in the message, e.g. ``"sampler"``.

    Examples
    --------
    >>> from digimpact.options import SamplerName
    >>> check_choice("lhs", SamplerName, "sampler")
    'lhs'
    >>> try:
    ...     check_choice("lsh", SamplerName, "sampler")
    ... except UsageError as exc:
    ...     print(exc)
    unknown sampler 'lsh' (did you mean 'lhs'?); expected one of random, lhs, sobol
    """
    words = get_args(vocabulary) or tuple(vocabulary)
    if value not in words:
        hint = did_you_mean(value, words) if isinstance(value, str) else ""
        raise UsageError(f"unknown {what} {value!r}{hint}; expected one of {', '.join(words)}")
    return str(value)


def check_whole(value: object, what: str, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high)`` (``high`` a power of two), else a
    :class:`UsageError`; integral floats such as ``1e6`` are accepted, booleans are not.

    Examples
    --------
    >>> check_whole(1e3, "draws", 1)
    1000
    >>> check_whole(-1, "seed", 0, 2**63)
    Traceback (most recent call last):
    ...
    digimpact.errors.UsageError: seed must be an integer >= 0 and < 2**63, got -1
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number: int | None = int(value)
    else:
        number = int(value) if isinstance(value, float) and value.is_integer() else None
    if number is not None and low <= number and (high is None or number < high):
        return number
    below = f" and < 2**{high.bit_length() - 1}" if high else ""
    raise UsageError(f"{what} must be an integer >= {low}{below}, got {value!r}")


class ScenarioError(ValueError):
    """A mistake in a scenario, named by file, key path and what was expected.

    Parameters
    ----------
    message
        What was wrong and what was expected.
    path
        Key path inside the scenario, e.g. ``use_cases.pricing.adoption.midpoint``.
    file
        The scenario file the key comes from, when known.

    Examples
    --------
    >>> str(ScenarioError("expected a number", path="sectors.x.growth", file="a.toml"))
    'a.toml: sectors.x.growth: expected a number'
    """

    def __init__(self, message: str, path: str = "", file: str | Path | None = None) -> None:
        self.message = message
        self.path = path
        self.file = str(file) if file is not None else None
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [p for p in (self.file, self.path) if p]
        return ": ".join([*parts, self.message])

    def __reduce__(self):  # keep pickling (dask, multiprocessing) faithful
        return (type(self), (self.message, self.path, self.file))


class UsageError(ValueError):
    """An option, or a combination of options, that cannot work as given.

    Raised before any work starts: an unknown choice, a draw count whose memory estimate
    exceeds the machine's, a seed that cannot be stored, a year outside the horizon. The
    message says what to do instead.

    Examples
    --------
    >>> str(UsageError("draws must be >= 1"))
    'draws must be >= 1'
    """


class ResultsError(ValueError):
    """A results file that digimpact cannot read back, named by its path.

    Raised by :func:`digimpact.open_results` for a file that is empty, truncated, not netCDF4,
    not written by digimpact, or whose stored scenario does not match its hash.

    Examples
    --------
    >>> str(ResultsError("empty file", file="out/results.nc"))
    'out/results.nc: empty file'
    """

    def __init__(self, message: str, file: str | Path) -> None:
        self.message = message
        self.file = str(file)
        super().__init__(f"{self.file}: {message}")

    def __reduce__(self):
        return (type(self), (self.message, self.file))


class SimulationError(ArithmeticError):
    """A valid scenario produced numbers that are not finite (named by use case and parameter).

    Examples
    --------
    >>> isinstance(SimulationError("value of use case 'a' is inf"), ArithmeticError)
    True
    """


class BackendError(RuntimeError):
    """The dask scheduler could not be reached, or a worker or the scheduler failed mid-run.

    Examples
    --------
    >>> str(BackendError("no dask scheduler answered at tcp://127.0.0.1:1 within 10 s"))
    'no dask scheduler answered at tcp://127.0.0.1:1 within 10 s'
    """
