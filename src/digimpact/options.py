"""The vocabulary of every string option, declared once, and the positional-argument shim.

Each vocabulary is a :data:`typing.Literal` alias: type checkers see the choices, and
:func:`choices` reads them at run time, so that checks (:func:`digimpact.errors.check_choice`),
the scenario schema and the command line all list the same words. This leaf module imports
nothing from digimpact but :mod:`digimpact.errors`.

Examples
--------
>>> choices(SamplerName)
('random', 'lhs', 'sobol')
>>> choices(ReportMetric)
('annual', 'cumulative', 'full_potential', 'both')
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast, get_args

__all__ = ["BackendName", "BaseMeasure", "Counterfactual", "EffectName", "Estimand", "GroupBy",
           "MetricName", "ObservationTarget", "ObservationUse", "OutputFormat", "OutputsName", "PriceBasis",
           "ReportMetric", "RowLevel", "SamplerName", "ScenarioMetric", "SensitivityMethod", "SeriesKind",
           "TargetMetric", "choices",
           "positional_deprecated", "reported"]

SamplerName = Literal["random", "lhs", "sobol"]
"""How uniform points are drawn: independent, Latin hypercube, scrambled Sobol'."""
OutputsName = Literal["full", "target_year"]
"""What a run keeps: every sector and year, or sectors in the target year and the total."""
BackendName = Literal["local", "dask"]
"""Where the chunks of a run are evaluated: this process or a dask.distributed cluster."""
TargetMetric = Literal["annual", "cumulative"]
"""What a sensitivity output measures, and the older ``metric`` key of a target (now
:data:`Estimand`): the value in one year, or its sum from the first year of the horizon up to
that year."""
Estimand = Literal["annual", "cumulative", "full_potential"]
"""What a scenario's figures are (``[scenario] estimand``, a target's ``estimand``): the value
realised in the target year, its sum over the horizon up to that year, or the annual value in
that year once adoption is complete."""
Counterfactual = Literal["none", "first_year"]
"""What uplift is measured against: no adoption, or the adoption of the horizon's first year."""
ScenarioMetric = Literal[TargetMetric, "both"]
"""The older ``metric`` key of ``[scenario]`` (now ``estimand``); ``"both"`` reads as the annual
estimand with the cumulative value reported too."""
ReportMetric = Literal[Estimand, "both"]
"""What a summary reports: one :data:`Estimand`, or annual and cumulative."""
MetricName = Literal["annual", "cumulative", "full_potential", "npv", "share_of_value_added"]
"""What :meth:`digimpact.Results.metric` reduces values to: one number per draw."""
EffectName = Literal["speed", "ceiling", "value"]
"""What a driver scales in the use cases that name it."""
GroupBy = Literal["parameter", "use_case", "sector", "driver"]
"""How :func:`digimpact.sensitivity` groups the uncertain inputs."""
SensitivityMethod = Literal["sobol", "tornado"]
"""Variance-based Sobol' indices, or one-at-a-time swings."""
BaseMeasure = Literal["value_added", "gross_output"]
"""The sector measure a use case's value potential is a share of."""
PriceBasis = Literal["nominal", "real"]
"""The price basis of a scenario's values."""
OutputFormat = Literal["table", "json"]
"""What the command line prints on stdout."""
CalibrationMode = Literal["levels", "exact"]
"""What :func:`digimpact.calibrate` frees: the group levels only, or every median and spread."""
RowLevel = Literal["sector", "group", "target", "total"]
"""The kinds of row of a report (see :meth:`digimpact.Scenario.report_rows`)."""
SeriesKind = Literal["same", "proxy"]
"""Whether an observed series measures the model's quantity itself or a related one (a proxy,
which enters the update with an extra definition-mismatch error)."""
ObservationUse = Literal["update", "shown"]
"""Whether an observation enters the likelihood of :func:`digimpact.update` or is only shown."""
ObservationTarget = Literal["kpi", "use_case", "profile", "sector"]
"""What an observation measures: a KPI of the scenario, the adoption share of a use case or
the mean of a profile's use cases, or a sector's value."""


def choices(vocabulary: Any) -> tuple[str, ...]:
    """The words of a vocabulary (a ``Literal`` alias), in declaration order.

    Examples
    --------
    >>> choices(BackendName)
    ('local', 'dask')
    """
    return tuple(get_args(vocabulary))


def reported(metric: ReportMetric) -> tuple[Estimand, ...]:
    """The estimands that the report metric ``metric`` stands for.

    Examples
    --------
    >>> reported("both"), reported("annual")
    (('annual', 'cumulative'), ('annual',))
    """
    return cast(tuple[Estimand, ...], choices(TargetMetric)) if metric == "both" else (metric,)


F = TypeVar("F", bound=Callable[..., Any])


def positional_deprecated(*names: str) -> Callable[[F], F]:
    """Accept the old positional form of keyword-only parameters ``names``, with a warning.

    Extra positional arguments of the decorated function are mapped, in order, to ``names``
    and passed as keywords; a :class:`FutureWarning` says to write them as keywords. Remove
    the decorator when the old form has had a release to go.

    Examples
    --------
    >>> @positional_deprecated("b")
    ... def f(a, *, b=0):
    ...     return a + b
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     f(1, 2)
    3
    >>> print(caught[0].message)
    pass b as a keyword (b=...) to f(); positional use is deprecated
    """

    def decorate(func: F) -> F:
        fixed = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    for p in inspect.signature(func).parameters.values())

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra = args[fixed:]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(f"{func.__name__}() takes at most {fixed + len(names)} "
                                    f"positional arguments ({len(args)} given)")
                moved = names[:len(extra)]
                for name in moved:
                    if name in kwargs:
                        raise TypeError(f"{func.__name__}() got multiple values for argument "
                                        f"{name!r}")
                warnings.warn(f"pass {', '.join(moved)} as a keyword "
                              f"({', '.join(f'{n}=...' for n in moved)}) to {func.__name__}(); "
                              f"positional use is deprecated", FutureWarning, stacklevel=2)
                kwargs.update(zip(moved, extra, strict=True))
            return func(*args[:fixed], **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
