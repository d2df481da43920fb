"""The Monte Carlo engine: runs a :class:`~digimpact.plan.Plan` chunk by chunk, locally or on dask.

The model itself (what one draw computes) is described in :mod:`digimpact.plan`. Draws are
processed in chunks; every operation is elementwise across draws and sums run in a fixed order,
so a given seed gives bit-identical results for any chunk size and on either backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .plan import Plan, chunks
from .results import Results, build_dataset
from .scenario import SAMPLERS, Scenario, load_scenario

__all__ = ["simulate", "simulate_many"]


def _progress(total: int, enabled: bool | None, desc: str):
    import warnings

    with warnings.catch_warnings():  # tqdm.auto warns in Jupyter without ipywidgets
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

        # None: only on a terminal, and only once the run has taken a second
        return tqdm(total=total, disable=None if enabled is None else not enabled, delay=1.0,
                    desc=desc, unit="draw", leave=False)


OUTPUTS = ("full", "target_year")
BACKENDS = ("local", "dask")


def _resolve(scenario: Scenario | str | Path, draws: int | None, seed: int | None,
             sampler: str | None) -> tuple[Scenario, int, int, str]:
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
    return scenario, draws, seed, sampler


def _check(outputs: str, backend: str) -> None:
    if outputs not in OUTPUTS:
        raise ValueError(f"unknown outputs {outputs!r}; expected one of {', '.join(OUTPUTS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def simulate(scenario: Scenario | str | Path, draws: int | None = None, seed: int | None = None,
             sampler: str | None = None, chunk_size: int | None = None,
             keep_use_cases: bool = False, progress: bool | None = None, outputs: str = "full",
             backend: str = "local", client=None, lazy: bool = False) -> Results:
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
        Show a progress bar (local backend): ``None`` (default) on a terminal once the run
        takes a second, ``True`` always, ``False`` never.
    outputs
        ``"full"``: value by draw, sector and year. ``"target_year"``: sector values in the
        target year only, plus the total for every year; memory grows with draws x (sectors +
        years), for runs of millions of draws.
    backend
        ``"local"`` (this process) or ``"dask"``: chunks run as tasks on a dask.distributed
        cluster. Results are bit-identical for the same seed.
    client
        With ``backend="dask"``: a ``distributed.Client`` or a scheduler address
        (``"tcp://host:8786"``); by default a ``LocalCluster`` with one single-threaded
        worker per core, started once and reused.
    lazy
        With ``backend="dask"``: return results backed by dask arrays; summaries then compute
        on the cluster only what they need.

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
    scenario, draws, seed, sampler = _resolve(scenario, draws, seed, sampler)
    _check(outputs, backend)
    plan = Plan.build(scenario, draws, seed, sampler)
    size = plan.default_chunk() if chunk_size is None else int(chunk_size)
    if size < 1:
        raise ValueError("chunk_size must be >= 1")
    if backend == "dask":
        from . import distributed

        if lazy:
            out = distributed.lazy_arrays(plan, draws, size, keep_use_cases, outputs)
        else:
            out = distributed.run([(plan, draws, size, keep_use_cases, outputs)], client)[0]
    else:
        out = {key: np.empty((draws, *shape))
               for key, shape in plan.shapes(keep_use_cases, outputs).items()}
        with _progress(draws, progress, scenario.title[:30]) as bar:
            for start, stop in chunks(draws, size):
                for key, arr in plan.evaluate(start, stop, keep_use_cases, outputs).items():
                    out[key][start:stop] = arr
                bar.update(stop - start)
    return Results(build_dataset(scenario, out, draws=draws, seed=seed, sampler=sampler), scenario)


def simulate_many(scenarios, backend: str = "dask", client=None, draws: int | None = None,
                  seed: int | None = None, sampler: str | None = None,
                  chunk_size: int | None = None, keep_use_cases: bool = False,
                  outputs: str = "full", progress: bool | None = None,
                  lazy: bool = False) -> list[Results]:
    """Simulate several scenarios (variants, designs, calibration trials) in one go.

    With ``backend="dask"`` every chunk of every scenario is submitted to the same cluster at
    once; the other arguments are those of :func:`simulate` and apply to each scenario.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> a, b = digimpact.simulate_many([s, s.with_overrides({"settings.seed": 3})],
    ...                                backend="local", draws=100)
    >>> a.dataset.attrs["seed"], b.dataset.attrs["seed"]
    (2030, 3)
    """
    common = {"draws": draws, "seed": seed, "sampler": sampler, "chunk_size": chunk_size,
              "keep_use_cases": keep_use_cases, "outputs": outputs, "progress": progress}
    if backend == "local" or lazy:
        return [simulate(s, backend=backend, client=client, lazy=lazy, **common)
                for s in scenarios]
    from . import distributed

    _check(outputs, backend)
    resolved = [_resolve(s, draws, seed, sampler) for s in scenarios]
    plans = [Plan.build(*r) for r in resolved]
    jobs = [(plan, r[1], chunk_size or plan.default_chunk(), keep_use_cases, outputs)
            for plan, r in zip(plans, resolved, strict=True)]
    outs = distributed.run(jobs, client)
    return [Results(build_dataset(r[0], out, draws=r[1], seed=r[2], sampler=r[3]), r[0])
            for r, out in zip(resolved, outs, strict=True)]
