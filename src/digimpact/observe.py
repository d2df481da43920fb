"""What a scenario's KPIs and observations are, per draw: the probes the engine evaluates.

A *probe* is one number per draw, linear in the model's outputs: ``scale`` x the mean adoption
share of some use cases in one year (a KPI, a use case, a profile), or a sector's value in one
year. :func:`build` compiles a scenario's KPIs (every year of the horizon) and observations
into :class:`Probes`; a :class:`~digimpact.plan.Plan` holding them returns, per chunk, the
probes (``prediction``). Each draw's
probes are sums in a fixed order of that draw's own values, so they are bit-identical for any
chunk size and on any backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .records import Observation

if TYPE_CHECKING:
    from .plan import Plan
    from .scenario import Scenario

__all__ = ["Probes", "build", "column"]


class Probes(NamedTuple):
    """Compiled probes: column ``k`` is ``scales[k]`` x the mean over ``members[k]`` of the
    adoption in year ``years[k]``, or, when ``sectors[k] >= 0``, that sector's value."""

    labels: tuple[str, ...]
    members: tuple[np.ndarray, ...]  # use-case positions, empty for a sector probe
    sectors: np.ndarray  # sector index, -1 for an adoption probe
    years: np.ndarray  # year index
    scales: np.ndarray

    def predict(self, adoption: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The probes ``(n, K)`` from adoption ``(n, U, Y)`` and sector values ``(n, S, Y)``."""
        out = np.empty((value.shape[0], len(self.labels)))
        for k, (members, sector, year, scale) in enumerate(
                zip(self.members, self.sectors, self.years, self.scales, strict=True)):
            if sector >= 0:
                out[:, k] = value[:, sector, year]
                continue
            total = adoption[:, members[0], year].copy()
            for u in members[1:]:  # a fixed order: the same bits for any chunk
                total += adoption[:, u, year]
            out[:, k] = total * (scale / len(members))
        return out


def column(obs: Observation) -> str:
    """The label of the probe that predicts ``obs`` (a KPI's probe in the observation's year)."""
    return f"kpi.{obs.of}.{obs.year}" if obs.target == "kpi" else f"observations.{obs.id}"


def _members(scenario: Scenario, obs: Observation) -> tuple[str, ...]:
    if obs.target == "use_case":
        return (obs.of,)
    return tuple(k for k, u in scenario.use_cases.items() if u.profile == obs.of)


def build(scenario: Scenario, plan: Plan, observations: Sequence[Observation] | None = None) -> Probes:
    """The probes of every KPI of ``scenario`` in every year, and of each of ``observations``
    (default: all of the scenario's) that is not a KPI."""
    observations = list(scenario.observations.values()) if observations is None else observations
    position = {u: i for i, u in enumerate(plan.use_cases)}
    years = list(scenario.years)
    rows: dict[str, tuple[tuple[str, ...], int, int, float]] = {}
    for kpi in scenario.kpis.values():
        for i, y in enumerate(years):
            rows[f"kpi.{kpi.id}.{y}"] = (kpi.use_cases, -1, i, kpi.scale)
    for obs in observations:
        if obs.target == "sector":
            rows[column(obs)] = ((), list(scenario.sectors).index(obs.of), years.index(obs.year), 1.0)
        elif obs.target != "kpi":
            rows[column(obs)] = (_members(scenario, obs), -1, years.index(obs.year), 1.0)
    return Probes(labels=tuple(rows),
                  members=tuple(np.array([position[u] for u in m], dtype=int) for m, *_ in rows.values()),
                  sectors=np.array([s for _, s, _, _ in rows.values()], dtype=int),
                  years=np.array([y for *_, y, _ in rows.values()], dtype=int),
                  scales=np.array([c for *_, c in rows.values()], dtype=float))

