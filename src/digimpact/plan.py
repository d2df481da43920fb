"""A scenario compiled into arrays, and the evaluation of one chunk of draws.

For draw ``d``, use case ``u`` in sector ``s`` and year ``y``::

    value[d, u, y] = base[s, y] * scale[s] * potential[d, u] * V[d, u] * A(y; theta[d, u], S[d, u], C[d, u])

``base`` is the sector's base measure (value added or gross output) grown at its baseline
rate, ``scale`` the sector's ``potential_scale``, ``potential`` the use case's value potential
(a share of the base measure), ``A`` its adoption curve with parameters ``theta``, and
``V``, ``S``, ``C`` the products of the drivers it names that act on value, speed and
ceiling. A speed factor ``S`` runs the clock faster from the first year of the horizon
``t0``: the curve is evaluated at ``t0 + S (y - t0)``. A ceiling factor multiplies adoption,
capped at 1. Sector values are sums over their use cases.

With ``counterfactual = "first_year"`` uplift is measured against the adoption already
reached in the first year: ``A`` becomes ``A(y) - A(t0)``, per draw and use case. Curves do
not decrease in ``t``, so the uplift is ``>= 0`` and zero in ``t0``.

The full potential of a use case is its annual value in the target year ``T`` once adoption
is complete: ``A`` is replaced by the curve's limit (:meth:`~digimpact.adoption.Curve.limit`,
times ``C`` capped at 1), less ``A(t0)`` under the counterfactual, and ``base`` is taken in
``T``.

Draws are processed in chunks; every operation is elementwise across draws and sums run in
a fixed order, so a given seed gives bit-identical results for any chunk size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .adoption import CURVES, Curve
from .correlation import GaussianCopula
from .distributions import BatchPPF
from .errors import ScenarioError, SimulationError
from .observe import Probes
from .options import EffectName, OutputsName
from .sampling import Sampler, make_sampler
from .scenario import Scenario

__all__ = ["DriverEffect", "Job", "Plan", "chunks"]

CHUNK_ELEMENTS = 2**22
"""Default chunk: about this many use-case-year values."""
BLOCK_ELEMENTS = 2**16
"""Use-case-year values evaluated at once inside a chunk (512 KiB per float array)."""


@dataclass(frozen=True)
class _CurveGroup:
    """The use cases evaluated by one call of a curve: one kind (and, for ``table``, one
    table of points)."""

    curve: Curve
    positions: np.ndarray  # use-case positions of this kind
    rows: dict[str, np.ndarray]  # parameter name -> rows in the values array
    points: Mapping[int, float] | None


class DriverEffect(NamedTuple):
    """A driver's draws (``row`` of the values array) and the use cases they scale
    (``positions``)."""

    row: int
    positions: np.ndarray


class _Layout:
    """Where each parameter and each use case sits in a plan's arrays.

    Every index map of a :class:`Plan` is built from these two orders, so that they agree:
    ``names`` orders the rows of a values array ``(len(names), n)`` (rows grouped by
    distribution family, so that each family's quantile function reads and writes one slice),
    and ``use_cases`` (scenario order) orders every use-case axis.
    """

    def __init__(self, scenario: Scenario) -> None:
        params = scenario.parameters()
        self.params = params
        self.names = sorted(params, key=lambda n: (params[n].family, n))
        self._row = {n: i for i, n in enumerate(self.names)}
        self.use_cases = list(scenario.use_cases)

    def rows(self, names: Iterable[str]) -> np.ndarray:
        """Rows of the values array holding the parameters ``names``."""
        return np.array([self._row[n] for n in names], dtype=int)

    def use_case_rows(self, positions: Iterable[int], parameter: str) -> np.ndarray:
        """Rows of ``parameter`` (e.g. ``potential``, ``adoption.midpoint``) of the use cases
        at ``positions``."""
        return self.rows(f"use_cases.{self.use_cases[i]}.{parameter}" for i in positions)


@dataclass(frozen=True)
class Plan:
    """Everything the chunk evaluation needs, precomputed once per run (picklable).

    Rows index the values array, whose rows are the parameters ``names``; positions index
    the use cases ``use_cases``; sector indices index ``sectors`` (see :meth:`build`).
    """

    names: list[str]  # parameter of each row of a values array
    ppf: BatchPPF  # quantile functions of every row
    uncertain_rows: np.ndarray  # rows of the uncertain parameters, in name order (the sampler's)
    sampler: Sampler
    years: np.ndarray
    target_index: int  # position of the target year in ``years``
    base: np.ndarray  # (S, Y) base measure x potential_scale
    sector_of: np.ndarray  # (U,) sector index of each use case
    potential_rows: np.ndarray  # (U,) row of each use case's potential
    groups: list[_CurveGroup]
    effects: dict[EffectName, list[DriverEffect]]
    copula: GaussianCopula
    use_cases: list[str]  # (U,) ids, for messages
    sectors: list[str]  # (S,) ids, for messages
    counterfactual: bool  # uplift over the first year's adoption
    probes: Probes | None = None  # also return these per draw (digimpact.update)

    @classmethod
    def build(cls, scenario: Scenario, draws: int, seed: int, sampler: str) -> Plan:
        """Compile ``scenario`` into arrays for a run of ``draws`` draws from root ``seed``
        with the sampler called ``sampler``.

        Raises
        ------
        ScenarioError
            If the scenario's correlations cannot be imposed.
        ValueError
            If the sampler cannot make ``draws`` draws.
        """
        layout = _Layout(scenario)
        uncertain = sorted(n for n in layout.names if not layout.params[n].is_fixed)
        sectors = list(scenario.sectors)
        ucs = list(scenario.use_cases.values())
        measure = scenario.meta.base_measure
        base = np.array([[s.base(measure, y) * s.potential_scale for y in scenario.years]
                         for s in scenario.sectors.values()])
        members: dict[tuple[str, Any], list[int]] = {}
        for i, u in enumerate(ucs):  # one group per kind (and table)
            pts = tuple(sorted(u.adoption.points.items())) if u.adoption.points else None
            members.setdefault((u.adoption.kind, pts), []).append(i)
        groups = [_CurveGroup(CURVES[kind], np.array(idx),
                              {p: layout.use_case_rows(idx, f"adoption.{p}") for p in CURVES[kind].domains},
                              dict(pts) if pts else None)
                  for (kind, pts), idx in members.items()]
        effects: dict[EffectName, list[DriverEffect]] = {}
        for d in scenario.drivers.values():
            users = np.array([i for i, u in enumerate(ucs) if d.id in u.drivers], dtype=int)
            if users.size:
                row = int(layout.rows([f"drivers.{d.id}.value"])[0])
                effects.setdefault(d.acts_on, []).append(DriverEffect(row, users))
        pairs = {c.params: c.rank for c in scenario.correlations}
        try:
            copula = GaussianCopula(uncertain, pairs)
        except ValueError as exc:
            raise ScenarioError(str(exc), "correlations", scenario.file) from None
        return cls(names=layout.names, ppf=BatchPPF([layout.params[n] for n in layout.names]),
                   uncertain_rows=layout.rows(uncertain),
                   sampler=make_sampler(sampler, uncertain, seed, draws),
                   years=np.array(list(scenario.years), dtype=float),
                   target_index=list(scenario.years).index(scenario.meta.target_year), base=base,
                   sector_of=np.array([sectors.index(u.sector) for u in ucs]),
                   potential_rows=layout.use_case_rows(range(len(ucs)), "potential"),
                   groups=groups, effects=effects, copula=copula, use_cases=layout.use_cases,
                   sectors=sectors, counterfactual=scenario.meta.counterfactual == "first_year")

    @property
    def uncertain(self) -> list[str]:
        """The uncertain parameters in name order: the sampler's rows."""
        return [self.names[r] for r in self.uncertain_rows]

    @property
    def n_use_cases(self) -> int:
        """The number of use cases ``U``."""
        return len(self.sector_of)

    def default_chunk(self) -> int:
        """Draws per chunk: about ``CHUNK_ELEMENTS`` use-case-year values, 64 to 2**20."""
        return int(np.clip(CHUNK_ELEMENTS // max(1, self.n_use_cases * len(self.years)), 64, 2**20))

    def values(self, start: int, stop: int, points: np.ndarray | None = None) -> np.ndarray:
        """Parameter values for draws ``start .. stop-1``, shape ``(len(names), n)``: from the
        sampler's uniform points, or from ``points`` ``(len(uncertain), n)`` if given (points
        of independent uniforms, e.g. a second-round proposal; the correlations are imposed
        on a copy)."""
        u = self.sampler.uniforms(start, stop) if points is None else points.copy()
        self.copula.apply(u)
        return self.values_at(u)

    def values_at(self, u: np.ndarray) -> np.ndarray:
        """Parameter values at uniform points ``u`` of the uncertain parameters ``(U, n)``."""
        full = np.empty((len(self.names), u.shape[1]))  # rows of fixed parameters are not read
        full[self.uncertain_rows] = u
        return self.ppf(full)

    def _effect(self, values: np.ndarray, kind: str) -> np.ndarray | None:
        if kind not in self.effects:
            return None
        out = np.ones((self.n_use_cases, values.shape[1]))
        for effect in self.effects[kind]:
            out[effect.positions] *= values[effect.row]
        return out

    def evaluate(self, start: int, stop: int, keep_use_cases: bool = False,
                 outputs: OutputsName = "full", keep_inputs: bool = False, *,
                 points: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Sample and evaluate draws ``start .. stop-1`` (see :meth:`compute`), or evaluate the
        uniform ``points`` given for them (see :meth:`values`).

        With ``outputs="target_year"`` only the target year's sector values ``(n, S, 1)``, the
        total for every year ``(n, Y)`` and the full potential ``(n, S)`` are returned. With
        ``keep_inputs``, ``inputs`` ``(n, len(uncertain))`` holds the sampled values of the
        uncertain parameters. A plan with :attr:`probes` also returns ``prediction``
        ``(n, K)`` (see :mod:`digimpact.observe`).

        Raises
        ------
        SimulationError
            If an output is not finite, naming the first such draw, its use case and the
            parameter values that produced it.
        """
        with np.errstate(over="ignore", invalid="ignore"):  # the check below says more
            values = self.values(start, stop, points)
            out = self.compute(values, keep_use_cases or self.probes is not None)
            if self.probes is not None:
                out["prediction"] = self.probes.predict(out["adoption"], out["value"])
                if not keep_use_cases:
                    for key in ("adoption", "use_case_value", "use_case_full_potential"):
                        out.pop(key, None)
            if keep_inputs:
                out["inputs"] = values[self.uncertain_rows].T  # a copy (fancy indexing)
            if outputs == "target_year":
                value = out.pop("value")
                out["value"] = value[:, :, self.target_index:self.target_index + 1].copy()
                out["total"] = value.sum(axis=1)
            for arr in out.values():
                finite = np.isfinite(arr).reshape(len(arr), -1).all(axis=1)
                if not finite.all():
                    draw = int(np.argmin(finite))
                    raise _nonfinite_error(self, values[:, draw:draw + 1], start + draw)
        return out

    def shapes(self, keep_use_cases: bool, outputs: OutputsName,
               keep_inputs: bool = False) -> dict[str, tuple[int, ...]]:
        """Shape of each output array per draw (what :meth:`evaluate` returns after ``n``)."""
        n_s, n_u, n_y = int(self.base.shape[0]), self.n_use_cases, len(self.years)
        out: dict[str, tuple[int, ...]] = (
            {"value": (n_s, n_y)} if outputs == "full" else {"value": (n_s, 1), "total": (n_y,)})
        out["full_potential"] = (n_s,)
        if keep_use_cases:
            out.update(use_case_value=(n_u, n_y), adoption=(n_u, n_y), use_case_full_potential=(n_u,))
        if keep_inputs:
            out["inputs"] = (len(self.uncertain_rows),)
        if self.probes is not None:
            out["prediction"] = (len(self.probes.labels),)
        return out

    def compute(self, values: np.ndarray, keep_use_cases: bool = False) -> dict[str, np.ndarray]:
        """The model on parameter values of shape ``(len(names), n)``.

        Returns ``value`` with shape ``(n, S, Y)`` and ``full_potential`` ``(n, S)`` (in the
        target year) and, with ``keep_use_cases``, also ``use_case_value`` and ``adoption``
        with shape ``(n, U, Y)`` and ``use_case_full_potential`` ``(n, U)``. Use cases are
        evaluated in blocks of about ``BLOCK_ELEMENTS`` values, which stay in the processor's
        cache, and added to their sector's sum in a fixed order.
        """
        n, n_y = values.shape[1], len(self.years)
        speed, ceiling = self._effect(values, "speed"), self._effect(values, "ceiling")
        weight = values[self.potential_rows]  # a copy
        scale = self._effect(values, "value")
        if scale is not None:
            weight *= scale
        shape = (self.n_use_cases, n, n_y)
        kept = {"adoption": np.empty(shape), "use_case_value": np.empty(shape),
                "use_case_full_potential": np.empty(shape[:2])} if keep_use_cases else {}
        sector_value = np.zeros((self.base.shape[0], n, n_y))
        sector_full = np.zeros((self.base.shape[0], n))
        target_base = self.base[:, self.target_index]
        step = max(1, BLOCK_ELEMENTS // max(1, n * n_y))
        for g in self.groups:
            for i in range(0, len(g.positions), step):
                members = slice(i, i + step)
                positions = g.positions[members]
                block, adoption = self._block(g, members, values, speed, ceiling, weight[positions],
                                              keep_use_cases)
                full = self._limit(g, members, values, ceiling, weight[positions])
                if self.counterfactual:  # uplift over the first year (block[..., 0] = weight x A(t0))
                    full -= block[..., 0]
                    block -= block[..., :1]
                if keep_use_cases:
                    sector = self.sector_of[positions]
                    kept["adoption"][positions] = adoption
                    kept["use_case_value"][positions] = block * self.base[sector, None, :]
                    kept["use_case_full_potential"][positions] = full * target_base[sector, None]
                for u, row, limit in zip(positions, block, full, strict=True):
                    sector_value[self.sector_of[u]] += row
                    sector_full[self.sector_of[u]] += limit
        sector_value *= self.base[:, None, :]
        sector_full *= target_base[:, None]
        return {"value": sector_value.transpose(1, 0, 2), "full_potential": sector_full.T,
                **{k: np.moveaxis(v, 0, 1) for k, v in kept.items()}}

    def by_use_case(self, out: dict[str, np.ndarray], estimand: str, index: int) -> np.ndarray:
        """The ``estimand`` of each use case in year ``years[index]``, ``(n, U)``, from the
        outputs of :meth:`compute` with ``keep_use_cases``: the annual value, its sum from the
        first year, or the full potential (grown from the target year with the sector's base)."""
        if estimand == "full_potential":
            base = self.base[self.sector_of]
            return out["use_case_full_potential"] * (base[:, index] / base[:, self.target_index])
        uc = out["use_case_value"]
        return uc[:, :, index] if estimand == "annual" else uc[:, :, :index + 1].sum(-1)

    def _block(self, g: _CurveGroup, members: slice, values: np.ndarray, speed: np.ndarray | None,
               ceiling: np.ndarray | None, weight: np.ndarray,
               keep_adoption: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Weight x adoption of the use cases ``g.positions[members]`` ``(B, n, Y)``, and their
        adoption if ``keep_adoption`` (else ``None``).

        Without a ceiling driver the weight ``(B, n)`` is folded into the curve's level
        parameter (the curve is proportional to it): one product per draw instead of one per
        year. The folded product rounds differently from ``weight x adoption``, so when the
        adoption is kept it is evaluated a second time, unfolded, and the value stays the same
        bits whether or not use cases are kept. The fold commutes with the counterfactual:
        ``A`` is proportional to its level, and so is ``A(y) - A(t0)``.
        """
        # Folding relies on Curve.level: curve(t, level=w * c) == w * curve(t, level=c) for
        # every curve kind (up to rounding; tests/test_adoption.py checks it). A ceiling driver
        # caps ceiling x adoption at 1, and the weight must stay outside that cap: no folding.
        if ceiling is None:
            block = self._adoption(g, members, values, speed, None, weight)
            return block, self._adoption(g, members, values, speed, None) if keep_adoption else None
        adoption = self._adoption(g, members, values, speed, ceiling)
        if not keep_adoption:
            adoption *= weight[..., None]
            return adoption, None
        return adoption * weight[..., None], adoption

    def _params(self, g: _CurveGroup, members: slice, values: np.ndarray) -> dict[str, Any]:
        """Curve parameters of the use cases ``g.positions[members]``: arrays ``(B, n)``."""
        kwargs: dict[str, Any] = {p: values[rows[members]] for p, rows in g.rows.items()}
        if g.points is not None:
            kwargs["points"] = g.points
        return kwargs

    def _adoption(self, g: _CurveGroup, members: slice, values: np.ndarray, speed: np.ndarray | None,
                  ceiling: np.ndarray | None, weight: np.ndarray | None = None) -> np.ndarray:
        """Adoption of the use cases ``g.positions[members]``, shape ``(B, n, Y)`` (a fresh array),
        times ``weight`` ``(B, n)`` if given (folded into the curve's level parameter)."""
        positions, years = g.positions[members], self.years
        t = years
        if speed is not None:  # the clock runs `speed` times faster from the first year
            t = speed[positions][..., None] * (years - years[0])
            t += years[0]
        kwargs = self._params(g, members, values)
        if weight is not None:  # the fold: valid because the curve is proportional to its level
            kwargs[g.curve.level] *= weight
        adoption = g.curve(t, **kwargs)
        if ceiling is not None:
            adoption *= ceiling[positions][..., None]
            np.minimum(adoption, 1.0, out=adoption)
        return adoption


    def _limit(self, g: _CurveGroup, members: slice, values: np.ndarray,
               ceiling: np.ndarray | None, weight: np.ndarray) -> np.ndarray:
        """Weight x adoption once complete of the use cases ``g.positions[members]``,
        ``(B, n)``: the curve's limit (a speed driver does not change it), times the ceiling
        factor capped at 1. The weight is folded in as in :meth:`_block`, so that a curve that
        has reached its limit gives the same bits as the limit."""
        kwargs = self._params(g, members, values)
        if ceiling is None:
            kwargs[g.curve.level] = kwargs[g.curve.level] * weight
            return g.curve.limit(**kwargs)
        limit = np.minimum(g.curve.limit(**kwargs) * ceiling[g.positions[members]], 1.0)
        limit *= weight
        return limit


class Job(NamedTuple):
    """One run: a plan, its draws in chunks of ``size``, and what to keep of them."""

    plan: Plan
    draws: int
    size: int
    keep_use_cases: bool
    outputs: OutputsName
    keep_inputs: bool = False

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each output array of the whole run."""
        return {key: (self.draws, *shape) for key, shape in
                self.plan.shapes(self.keep_use_cases, self.outputs, self.keep_inputs).items()}

    def chunks(self) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each chunk of the run."""
        return chunks(self.draws, self.size)

    def evaluate(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The outputs of draws ``start .. stop-1`` (see :meth:`Plan.evaluate`)."""
        return self.plan.evaluate(start, stop, self.keep_use_cases, self.outputs, self.keep_inputs)


def chunks(draws: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` slices covering ``range(draws)`` in steps of ``size``."""
    for start in range(0, draws, size):
        yield start, min(start + size, draws)


def _nonfinite_error(plan: Plan, values: np.ndarray, draw: int) -> SimulationError:
    """The error for draw ``draw`` (parameter ``values`` of shape ``(len(names), 1)``) whose
    outputs are not all finite: it names the use case and the parameter values behind it.

    The use case is the first whose own value is not finite; if every use case is finite, a
    sum overflowed (a sector's, or the total of the sectors) and its largest term is named.
    """
    detail = plan.compute(values, keep_use_cases=True)  # one draw: the same bits as in its chunk
    uc = detail["use_case_value"][0]  # (U, Y)
    bad = ~np.isfinite(uc)
    if bad.any():
        u, y = map(int, np.argwhere(bad)[0])
        what = f"gives a non-finite value ({uc[u, y]})"
    else:
        sums = detail["value"][0]  # (S, Y); the total below as row S
        s, y = map(int, np.argwhere(~np.isfinite(np.vstack([sums, sums.sum(axis=0)])))[0])
        terms = np.where((plan.sector_of == s) | (s == len(sums)), np.abs(uc[:, y]), -1.0)
        u = int(np.argmax(terms))
        what = f"is the largest term ({uc[u, y]:g}) of a sum that overflows"
    uid, sector = plan.use_cases[u], plan.sectors[plan.sector_of[u]]
    rows = [i for i, n in enumerate(plan.names) if n.startswith(f"use_cases.{uid}.")]
    rows += [e.row for effects in plan.effects.values() for e in effects if u in e.positions]
    rows.sort(key=plan.names.__getitem__)
    params = ", ".join(f"{plan.names[r]}={values[r, 0]:g}" for r in rows)
    return SimulationError(
        f"use case {uid!r} (sector {sector!r}) {what} in draw {draw}, year {int(plan.years[y])}: "
        f"{params}; sector base x potential_scale = {plan.base[plan.sector_of[u], y]:g}")
