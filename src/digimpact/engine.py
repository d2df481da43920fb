"""The Monte Carlo engine: chunks of draws evaluated as numpy arrays.

For draw ``d``, use case ``u`` in sector ``s`` and year ``y``::

    value[d, u, y] = base[s, y] * scale[s] * potential[d, u] * V[d, u] * A(y; theta[d, u], S[d, u], C[d, u])

``base`` is the sector's base measure (value added or gross output) grown at its baseline
rate, ``scale`` the sector's ``potential_scale``, ``potential`` the use case's value potential
(a share of the base measure), ``A`` its adoption curve with parameters ``theta``, and
``V``, ``S``, ``C`` the products of the drivers it names that act on value, speed and
ceiling. A speed factor ``S`` runs the clock faster from the first year of the horizon
``t0``: the curve is evaluated at ``t0 + S (y - t0)``. A ceiling factor multiplies adoption,
capped at 1. Sector values are sums over their use cases.

Draws are processed in chunks; every operation is elementwise across draws and sums run in
a fixed order, so a given seed gives bit-identical results for any chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .adoption import CURVES, Curve
from .correlation import GaussianCopula
from .distributions import Distribution, batch_ppf
from .errors import ScenarioError
from .results import Results, build_dataset
from .sampling import make_sampler
from .scenario import SAMPLERS, Scenario, load_scenario

__all__ = ["Plan", "simulate"]

CHUNK_ELEMENTS = 2**22
"""Default chunk: about this many use-case-year values (32 MiB per float array)."""


@dataclass(frozen=True)
class _CurveGroup:
    curve: Curve
    positions: np.ndarray  # use-case positions of this kind
    rows: dict[str, np.ndarray]  # parameter name -> rows in the values array
    points: Any


@dataclass(frozen=True)
class Plan:
    """Everything the chunk evaluation needs, precomputed once per run (picklable)."""

    names: list[str]
    dists: list[Distribution]
    uncertain: list[str]
    years: np.ndarray
    base: np.ndarray  # (S, Y) base measure x potential_scale
    sector_of: np.ndarray  # (U,) sector index of each use case
    potential_rows: np.ndarray  # (U,)
    groups: list[_CurveGroup]
    effects: dict[str, list[tuple[int, np.ndarray]]]  # effect -> [(driver row, positions)]
    copula: GaussianCopula
    sampler_kind: str
    seed: int
    draws: int

    @classmethod
    def build(cls, scenario: Scenario, draws: int, seed: int, sampler: str) -> Plan:
        params = scenario.parameters()
        names = sorted(params)
        row = {n: i for i, n in enumerate(names)}
        uncertain = [n for n in names if not params[n].is_fixed]
        uc_ids = list(scenario.use_cases)
        sectors = list(scenario.sectors)
        measure = scenario.meta.base_measure
        base = np.array([[s.base(measure, y) * s.potential_scale for y in scenario.years]
                         for s in scenario.sectors.values()])
        members: dict[tuple[str, Any], list[int]] = {}
        for i, u in enumerate(scenario.use_cases.values()):  # one group per kind (and table)
            pts = tuple(sorted(u.adoption.points.items())) if u.adoption.points else None
            members.setdefault((u.adoption.kind, pts), []).append(i)
        groups = [cls._group(CURVES[kind], idx, uc_ids, row, dict(pts) if pts else None)
                  for (kind, pts), idx in members.items()]
        effects: dict[str, list[tuple[int, np.ndarray]]] = {}
        for d in scenario.drivers.values():
            users = np.array([i for i, u in enumerate(scenario.use_cases.values()) if d.id in u.drivers],
                             dtype=int)
            if users.size:
                effects.setdefault(d.acts_on, []).append((row[f"drivers.{d.id}.value"], users))
        pairs = {c.params: c.rank for c in scenario.correlations}
        try:
            copula = GaussianCopula(uncertain, pairs)
        except ValueError as exc:
            raise ScenarioError(str(exc), "correlations", scenario.file) from None
        return cls(names=names, dists=[params[n] for n in names], uncertain=uncertain,
                   years=np.array(list(scenario.years), dtype=float), base=base,
                   sector_of=np.array([sectors.index(u.sector) for u in scenario.use_cases.values()]),
                   potential_rows=np.array([row[f"use_cases.{u}.potential"] for u in uc_ids]),
                   groups=groups, effects=effects, copula=copula, sampler_kind=sampler,
                   seed=seed, draws=draws)

    @staticmethod
    def _group(curve: Curve, members: list[int], uc_ids: list[str], row: dict[str, int],
               points: Any) -> _CurveGroup:
        rows = {p: np.array([row[f"use_cases.{uc_ids[m]}.adoption.{p}"] for m in members])
                for p in curve.domains}
        return _CurveGroup(curve, np.array(members), rows, points)

    @property
    def n_use_cases(self) -> int:
        return len(self.sector_of)

    def default_chunk(self) -> int:
        return int(np.clip(CHUNK_ELEMENTS // max(1, self.n_use_cases * len(self.years)), 64, 2**20))

    def values(self, start: int, stop: int) -> np.ndarray:
        """Parameter values for draws ``start .. stop-1``, shape ``(len(names), n)``."""
        sampler = make_sampler(self.sampler_kind, self.uncertain, self.seed, self.draws)
        u = sampler.uniforms(start, stop)
        self.copula.apply(u)
        full = np.full((len(self.names), stop - start), 0.5)
        index = {n: i for i, n in enumerate(self.names)}
        full[[index[n] for n in self.uncertain]] = u
        return batch_ppf(self.dists, full)

    def _effect(self, values: np.ndarray, kind: str) -> np.ndarray | None:
        if kind not in self.effects:
            return None
        out = np.ones((self.n_use_cases, values.shape[1]))
        for driver_row, users in self.effects[kind]:
            out[users] *= values[driver_row]
        return out

    def evaluate(self, start: int, stop: int, keep_use_cases: bool = False) -> dict[str, np.ndarray]:
        """Sample and evaluate draws ``start .. stop-1`` (see :meth:`compute`)."""
        return self.compute(self.values(start, stop), keep_use_cases)

    def compute(self, values: np.ndarray, keep_use_cases: bool = False) -> dict[str, np.ndarray]:
        """The model on parameter values of shape ``(len(names), n)``.

        Returns ``value`` with shape ``(n, S, Y)`` and, with ``keep_use_cases``, also
        ``use_case_value`` and ``adoption`` with shape ``(n, U, Y)``.
        """
        n, years = values.shape[1], self.years
        speed = self._effect(values, "speed")
        adoption = np.empty((self.n_use_cases, n, len(years)))
        for g in self.groups:
            t = years if speed is None else years[0] + speed[g.positions][..., None] * (years - years[0])
            kwargs = {p: values[rows] for p, rows in g.rows.items()}
            if g.points is not None:
                kwargs["points"] = g.points
            adoption[g.positions] = g.curve(t, **kwargs)
        ceiling = self._effect(values, "ceiling")
        if ceiling is not None:
            np.minimum(adoption * ceiling[..., None], 1.0, out=adoption)
        weight = values[self.potential_rows]
        scale = self._effect(values, "value")
        if scale is not None:
            weight = weight * scale
        uc_value = adoption * weight[..., None] * self.base[self.sector_of][:, None, :]
        sector_value = np.zeros((self.base.shape[0], n, len(years)))
        for u, s in enumerate(self.sector_of):  # fixed order: bit-identical for any chunking
            sector_value[s] += uc_value[u]
        out = {"value": sector_value.transpose(1, 0, 2)}
        if keep_use_cases:
            out["use_case_value"] = uc_value.transpose(1, 0, 2)
            out["adoption"] = adoption.transpose(1, 0, 2)
        return out


def chunks(draws: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` slices covering ``range(draws)`` in steps of ``size``."""
    for start in range(0, draws, size):
        yield start, min(start + size, draws)


def _progress(total: int, enabled: bool | None, desc: str):
    from tqdm.auto import tqdm

    # None: only on a terminal, and only once the run has taken a second
    return tqdm(total=total, disable=None if enabled is None else not enabled, delay=1.0,
                desc=desc, unit="draw", leave=False)


def simulate(scenario: Scenario | str | Path, draws: int | None = None, seed: int | None = None,
             sampler: str | None = None, chunk_size: int | None = None,
             keep_use_cases: bool = False, progress: bool | None = None) -> Results:
    """Run the Monte Carlo simulation of a scenario.

    Parameters
    ----------
    scenario
        A :class:`Scenario` or the path of a scenario file.
    draws, seed, sampler
        Override the scenario's ``[settings]``; ``sampler`` is ``"random"``, ``"lhs"`` or
        ``"sobol"``.
    chunk_size
        Draws evaluated together; memory is bounded by it. Results do not depend on it.
    keep_use_cases
        Also keep each use case's value and adoption (memory grows with draws x use cases).
    progress
        Show a progress bar: ``None`` (default) on a terminal once the run takes a second,
        ``True`` always, ``False`` never.

    Returns
    -------
    Results
        Labelled values by draw, sector and year, with provenance.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=1000, seed=1)
    >>> r.dataset["value"].dims
    ('draw', 'sector', 'year')
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    settings = scenario.settings
    draws = settings.draws if draws is None else int(draws)
    seed = settings.seed if seed is None else int(seed)
    sampler = settings.sampler if sampler is None else sampler
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {', '.join(SAMPLERS)}")
    if draws < 1 or seed < 0:
        raise ValueError("draws must be >= 1 and seed >= 0")
    plan = Plan.build(scenario, draws, seed, sampler)
    size = plan.default_chunk() if chunk_size is None else int(chunk_size)
    if size < 1:
        raise ValueError("chunk_size must be >= 1")
    n_s, n_u, n_y = plan.base.shape[0], plan.n_use_cases, len(plan.years)
    out = {"value": np.empty((draws, n_s, n_y))}
    if keep_use_cases:
        out["use_case_value"] = np.empty((draws, n_u, n_y))
        out["adoption"] = np.empty((draws, n_u, n_y))
    with _progress(draws, progress, scenario.title[:30]) as bar:
        for start, stop in chunks(draws, size):
            for key, arr in plan.evaluate(start, stop, keep_use_cases).items():
                out[key][start:stop] = arr
            bar.update(stop - start)
    return Results(build_dataset(scenario, out, draws=draws, seed=seed, sampler=sampler), scenario)
