"""Update a scenario on observed data: importance weights on its Monte Carlo draws.

:func:`update` runs the scenario once with its KPIs and observations as probes
(:mod:`digimpact.observe`), weights each draw by the likelihood of the observations under
that draw (:mod:`digimpact.weights`), and returns a :class:`Posterior`: a :class:`Results`
whose summaries, intervals and checks are weighted, with the prior beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from . import observe
from .engine import _check_backend, _execute, _prepare, _Run
from .errors import ScenarioError, UsageError, check_choice, check_whole
from .loader import Origins, merge, read_document
from .options import BackendName, ObservationUse, SamplerName, SeriesKind, choices
from .plan import Job
from .records import Observation
from .results import Results, build_dataset, quantile_label
from .scenario import Scenario, load_scenario
from .weights import (
    DegenerateWeightsWarning,
    ErrorModel,
    IntervalError,
    NormalError,
    RelativeError,
    WidenedProposal,
    check_ess,
    effective_sample_size,
    importance_weights,
    systematic_resample,
    tempering_exponent,
    weighted_quantile,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DegenerateWeightsWarning", "Posterior", "error_model", "update", "with_observations"]

OBSERVATION_SECTIONS = ("kpis", "observations")
"""The tables an observations file may hold."""


def with_observations(scenario: Scenario, path: str | Path) -> Scenario:
    """``scenario`` with the ``[kpis]`` and ``[observations]`` of the file ``path`` merged in.

    Raises
    ------
    ScenarioError
        For any other table in the file, or a mistake in its KPIs and observations (naming
        the file and key path).
    """
    doc, origins = read_document(path)
    for key in doc:
        if key not in OBSERVATION_SECTIONS:
            raise ScenarioError(f"unknown key {key!r} in an observations file; expected one of "
                                f"{', '.join(OBSERVATION_SECTIONS)}", key, str(path))
    merged = Origins(default=scenario.file)
    merged.update(origins)
    return Scenario.from_dict(merge(scenario.document, doc), scenario.file, merged)


def error_model(obs: Observation) -> ErrorModel:
    """The :mod:`digimpact.weights` error model of an observation (its own error, plus its
    ``mismatch_sd`` in quadrature)."""
    e, m = obs.error, obs.mismatch_sd
    if e.sd is not None:
        return NormalError(e.sd, mismatch_sd=m)
    if e.relative is not None:
        return RelativeError(e.relative, mismatch_sd=m)
    assert e.interval is not None  # the schema sets exactly one
    return IntervalError(*e.interval, mismatch_sd=m)


class Posterior(Results):
    """Results weighted by the observations: every summary, interval and check of
    :class:`Results` uses the importance weights (weighted mean, weighted quantiles).

    The dataset holds, besides the run's values, ``weight`` (draw), the log likelihood of each
    observation that entered, ``loglik`` (draw, observation), ``log_ratio`` (draw: log prior
    / proposal density, 0 in the first round), the probes ``prediction`` (draw, probe: each
    KPI in each year and each other observation) and every uncertain input, ``inputs`` (draw,
    parameter; see ``keep_inputs`` of :func:`digimpact.simulate`). :attr:`prior` gives the
    prior draws unweighted; :meth:`resample` gives an ordinary, equally weighted Results.
    Monte Carlo intervals (``summary(intervals=True)``, the ``mc_`` columns of :meth:`check`)
    are for equally weighted draws: they are refused, or left empty, here.
    """

    _weighted = True

    def __init__(self, dataset: xr.Dataset, scenario: Scenario | None = None, *,
                 prior: Results | None = None) -> None:
        super().__init__(dataset, scenario)
        self.weights = dataset["weight"].values
        self._prior = prior

    def __repr__(self) -> str:
        return f"<Posterior{super().__repr__()[len('<Results'):-1]}, ESS {self.ess:.1f}>"

    @property
    def ess(self) -> float:
        """Kish's effective sample size of the weights."""
        return float(effective_sample_size(self.weights))

    @property
    def prior(self) -> Results:
        """The prior draws, unweighted: these draws, or after widened rounds (``rounds > 1``)
        those of the first round."""
        if self._prior is not None:
            return self._prior
        return Results(self.dataset.drop_vars(["weight", "loglik", "log_ratio", "observation"]),
                       self.scenario)

    @property
    def observations(self) -> list[Observation]:
        """The observations that entered the likelihood."""
        return [self.scenario.observations[k] for k in self.dataset["observation"].values]

    def _quantiles(self, values: np.ndarray, q: Sequence[float]) -> np.ndarray:
        return weighted_quantile(values, self.weights, q)

    def _mean(self, values: np.ndarray) -> float:
        return float(np.tensordot(self.weights, values, axes=(0, 0)))

    def tempering(self, *, ess_fraction: float = 0.5) -> float:
        """The power ``beta <= 1`` of the likelihood that keeps ``ess_fraction`` of the draws as
        ESS (:func:`digimpact.weights.tempering_exponent`): well below 1, the data sit in the
        prior's tail and more draws are needed."""
        total = self.dataset["loglik"].sum("observation") + self.dataset["log_ratio"]
        return tempering_exponent(total.values, ess_fraction=ess_fraction)

    def resample(self, *, seed: int | None = None) -> Results:
        """An ordinary Results of as many draws, resampled systematically by weight
        (:func:`digimpact.weights.systematic_resample`, seeded by ``seed`` or the run's seed).

        Draw ``i`` appears ``floor(n w_i)`` or ``ceil(n w_i)`` times; summaries of the resample
        match the weighted ones up to that rounding."""
        seed = int(self.dataset.attrs["seed"]) if seed is None else seed
        index = systematic_resample(self.weights, seed=seed)
        ds = self.dataset.drop_vars(["weight", "loglik", "log_ratio", "observation"]).isel(draw=index)
        ds = ds.assign_coords(draw=np.arange(len(index)), source_draw=("draw", index))
        return Results(ds, self.scenario)

    def _table(self, name: str, quantiles: Sequence[float]) -> pd.DataFrame:
        """Prior and posterior mean and quantiles of each column of the variable ``name``
        (draw, column): the prior from :attr:`prior`, the posterior weighted."""
        data, v = self.dataset[name], self.dataset[name].values
        p = self.prior.dataset[name].values
        prior, post = np.quantile(p, quantiles, axis=0), self._quantiles(v, quantiles)
        out = {"prior mean": p.mean(axis=0), "posterior mean": self.weights @ v}
        out |= {f"prior {quantile_label(q)}": prior[i] for i, q in enumerate(quantiles)}
        out |= {f"posterior {quantile_label(q)}": post[i] for i, q in enumerate(quantiles)}
        return pd.DataFrame(out, index=pd.Index(data[data.dims[1]].values, name=data.dims[1]))

    def parameters(self, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Prior and posterior of every uncertain input (drivers and use-case parameters), one
        row each."""
        return self._table("inputs", quantiles)

    def kpis(self, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Prior and posterior of every KPI in every year, indexed by ``(kpi, year)``."""
        table = self._table("prediction", quantiles)
        table = table[table.index.str.startswith("kpi.")]
        parts = table.index.str.split(".")
        table.index = pd.MultiIndex.from_arrays([parts.str[1], parts.str[2].astype(int)],
                                                names=["kpi", "year"])
        return table

    def fit(self, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Each of the scenario's observations with the prior and posterior predictive of its
        probe (before the observation's own error), and whether it entered the update."""
        table = self._table("prediction", quantiles)
        entered = set(self.dataset["observation"].values)
        rows = []
        for obs in self.scenario.observations.values():
            rows.append({"observation": obs.id, "target": obs.target, "of": obs.of,
                         "year": obs.year, "observed": obs.value, "series": obs.series,
                         "entered": obs.id in entered, **table.loc[observe.column(obs)]})
        return pd.DataFrame(rows).set_index("observation")

    def compare(self, *, year: int | None = None,
                quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Prior and posterior ranges side by side for every row of
        :meth:`Scenario.report_rows` (indexed as :meth:`Results.summary`)."""
        prior = self.prior.summary(year=year, quantiles=quantiles)
        post = self.summary(year=year, quantiles=quantiles)
        cols = ["mean", *map(quantile_label, quantiles)]
        return pd.concat([prior[["label"]], prior[cols].add_prefix("prior "),
                          post[cols].add_prefix("posterior ")], axis=1)


def _selected(scenario: Scenario, use: Sequence[str], series: Sequence[str]) -> list[Observation]:
    for word in use:
        check_choice(word, ObservationUse, "use")
    for word in series:
        check_choice(word, SeriesKind, "series")
    chosen = [o for o in scenario.observations.values() if o.use in use and o.series in series]
    if not chosen:
        raise UsageError(f"no observation of the scenario has use in {list(use)} and series in "
                         f"{list(series)}: add [observations] or pass observations=FILE")
    return chosen


def update(scenario: Scenario | Results | str | Path, observations: str | Path | None = None, *,
           draws: int | None = None, seed: int | None = None, sampler: SamplerName | None = None,
           use: Sequence[ObservationUse] = ("update",),
           series: Sequence[SeriesKind] | None = None, min_ess: float = 1000.0,
           rounds: int = 1, chunk_size: int | None = None, backend: BackendName = "local",
           client: Client | str | None = None, progress: bool | None = None) -> Posterior:
    """Weight a scenario's Monte Carlo draws by the likelihood of its observations.

    Each draw ``i`` gets the weight ``w_i`` proportional to ``prod_k p(y_k | f_ik)``, where
    ``f_ik`` is the draw's prediction of observation ``k`` (a KPI, an adoption share or a
    sector value in the observation's year) and ``p`` the observation's error model
    (:func:`error_model`): importance sampling with the prior as proposal.

    Parameters
    ----------
    scenario : Scenario, Results or path
        The scenario; or the results of a run, whose scenario and settings are re-run (the
        same draws, bit for bit) with the probes.
    observations : path, optional
        A TOML file of ``[kpis]`` and ``[observations]`` merged into the scenario.
    draws, seed, sampler
        As for :func:`digimpact.simulate` (default: the scenario's settings, or those of the
        results given).
    use : sequence of {"update", "shown"}, default: ("update",)
        Which observations enter the likelihood, by their ``use`` key.
    series : sequence of {"same", "proxy"}, optional
        Which observations enter, by their ``series`` key (default: both; ``("same",)``
        leaves proxies out).
    min_ess : float, default: 1000
        Below this effective sample size a :class:`DegenerateWeightsWarning` suggests a draw
        count (see :meth:`Posterior.tempering` for how far the data pull).
    rounds : int, default: 1
        With ``rounds > 1``, when the data sit in the prior's tail: each further round draws
        as many points from a proposal widened around the previous round's draws, weighted at
        the likelihood power that keeps 20% ESS
        (:class:`digimpact.weights.WidenedProposal`, a defensive mixture with the prior), and
        weights them by likelihood x prior / proposal. The posterior is the last round's;
        :attr:`Posterior.prior` stays the first round's prior draws. Later rounds run in this
        process.
    chunk_size, backend, client, progress
        As for :func:`digimpact.simulate`; the weights are bit-identical for any chunk size
        and on either backend.

    Raises
    ------
    UsageError
        If no observation is selected, every draw has zero likelihood, or an option is invalid.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> s = s.replace(observations={"o": {"sector": "retail", "year": 2025, "value": 1.0,
    ...                                   "error": {"relative": 0.3}}})
    >>> post = digimpact.update(s, draws=2000, seed=1, min_ess=10)
    >>> 10 < post.ess < 2000
    True
    """
    if isinstance(scenario, Results):
        attrs = scenario.dataset.attrs
        draws = int(attrs["draws"]) if draws is None else draws
        seed = int(attrs["seed"]) if seed is None else seed
        sampler = attrs["sampler"] if sampler is None else sampler
        scenario = scenario.scenario
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if observations is not None:
        scenario = with_observations(scenario, observations)
    chosen = _selected(scenario, use, choices(SeriesKind) if series is None else series)
    _check_backend(backend, client, False, progress)
    rounds = check_whole(rounds, "rounds", 1)
    run = _prepare(scenario, draws, seed, sampler, chunk_size, False, "full", keep_inputs=True)
    plan = dataclasses.replace(run.job.plan, probes=observe.build(scenario, run.job.plan))
    run = run._replace(job=run.job._replace(plan=plan))
    out = _execute([run], backend=backend, client=client, lazy=False, progress=progress)[0]
    posterior = _posterior(run, out, chosen, np.zeros(run.settings.draws))
    points = plan.sampler.uniforms(0, run.settings.draws)
    for r in range(1, rounds):  # widened second rounds, evaluated here chunk by chunk
        total = posterior.dataset["loglik"].sum("observation").values + posterior.dataset["log_ratio"].values
        tempered = importance_weights(total, power=tempering_exponent(total, ess_fraction=0.2))
        proposal = WidenedProposal.fit(points.T, tempered)
        points = proposal.sample(run.settings.draws, seed=_round_seed(run.settings.seed, r)).T.copy()
        out = _evaluate_points(run.job, points)
        posterior = _posterior(run, out, chosen, proposal.log_prior_ratio(points.T),
                              prior=posterior.prior, round_=r + 1)
    check_ess(posterior.weights, min_ess=min_ess)
    return posterior


def _round_seed(seed: int, round_: int) -> int:
    """The seed of the proposal of round ``round_ + 1``, derived from the run's root seed."""
    return int(np.random.SeedSequence([seed, round_]).generate_state(1, np.uint64)[0] >> 1)


def _evaluate_points(job: Job, points: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs of the plan at uniform ``points`` ``(P, draws)``, in the job's chunks."""
    out = {key: np.empty(shape) for key, shape in job.shapes().items()}
    for start, stop in job.chunks():
        for key, arr in job.plan.evaluate(start, stop, False, "full", job.keep_inputs,
                                          points=points[:, start:stop]).items():
            out[key][start:stop] = arr
    return out


def _posterior(run: _Run, out: dict[str, np.ndarray], chosen: Sequence[Observation],
              log_ratio: np.ndarray, *, prior: Results | None = None, round_: int = 1) -> Posterior:
    """The Posterior of one round's outputs: draws weighted by likelihood x prior / proposal
    (``log_ratio``, zero for draws of the prior itself)."""
    probes = run.job.plan.probes
    assert probes is not None
    labels = list(probes.labels)
    columns = out["prediction"][:, [labels.index(observe.column(o)) for o in chosen]]
    loglik = np.column_stack([error_model(o).logpdf(o.value, columns[:, k])
                              for k, o in enumerate(chosen)])
    weights = importance_weights(loglik.sum(axis=1) + log_ratio)
    ds = build_dataset(run.scenario, out, run.settings).assign(
        weight=("draw", weights, {"long_name": "importance weight"}),
        loglik=(("draw", "observation"), loglik, {"long_name": "log likelihood"}),
        log_ratio=("draw", log_ratio, {"long_name": "log prior / proposal density"}),
        prediction=(("draw", "probe"), out["prediction"], {"long_name": "KPIs and observed quantities"}),
    ).assign_coords(observation=[o.id for o in chosen], probe=labels)
    ds.attrs["rounds"] = round_
    return Posterior(ds, run.scenario, prior=prior)
