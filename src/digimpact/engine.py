"""The Monte Carlo engine: runs a :class:`~digimpact.plan.Plan` chunk by chunk, locally or on dask.

The model itself (what one draw computes) is described in :mod:`digimpact.plan`. Draws are
processed in chunks; every operation is elementwise across draws and sums run in a fixed order,
so a given seed gives bit-identical results for any chunk size and on either backend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .errors import ScenarioError, UsageError, check_choice, check_whole
from .options import BackendName, OutputsName, SamplerName, positional_deprecated
from .plan import Job, Plan
from .records import SEED_LIMIT, RunSettings
from .results import Results, build_dataset
from .scenario import Scenario, load_scenario

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["KEEP_INPUTS_LIMIT", "SEED_LIMIT", "available_memory", "memory_estimate", "simulate",
           "simulate_many"]


def _progress(total: int, enabled: bool | None, desc: str):
    import warnings

    with warnings.catch_warnings():  # tqdm.auto warns in Jupyter without ipywidgets
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

        # None: only on a terminal, and only once the run has taken a second
        return tqdm(total=total, disable=None if enabled is None else not enabled, delay=1.0,
                    desc=desc, unit="draw", leave=False)


GRAPH_BYTES_PER_CHUNK = 2**14
"""Client memory of a chunk in a lazy task graph (10 to 16 KB measured with dask 2026.8)."""
KEEP_INPUTS_LIMIT = 2**30
"""Most bytes of draws' inputs ``keep_inputs=True`` keeps (draws x uncertain parameters x 8):
1 GiB, e.g. 268,435 draws of a model with 500 uncertain parameters. Raise it to keep more."""


class _Run(NamedTuple):
    """A scenario with its settings resolved and its chunks planned."""

    scenario: Scenario
    job: Job
    settings: RunSettings


def _prepare(scenario: Scenario | str | Path, draws: int | None, seed: int | None,
             sampler: SamplerName | None, chunk_size: int | None, keep_use_cases: bool,
             outputs: OutputsName, keep_inputs: bool = False) -> _Run:
    """Check the options (the scenario's ``[settings]`` fill those not given) and build the plan."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    settings = scenario.settings.resolve(draws=draws, seed=seed, sampler=sampler)
    try:
        plan = Plan.build(scenario, *settings)
    except ScenarioError:
        raise
    except ValueError as exc:  # what the sampler cannot do, e.g. a Latin hypercube of 2**40 draws
        raise UsageError(str(exc)) from None
    size = plan.default_chunk() if chunk_size is None else check_whole(chunk_size, "chunk_size", 1)
    if keep_inputs:
        _check_inputs_size(settings.draws, len(plan.uncertain_rows))
    return _Run(scenario, Job(plan, settings.draws, size, keep_use_cases, outputs, keep_inputs),
                settings)


def _check_inputs_size(draws: int, parameters: int) -> None:
    """Refuse to keep more than :data:`KEEP_INPUTS_LIMIT` bytes of inputs."""
    needed = 8 * draws * parameters
    if needed > KEEP_INPUTS_LIMIT:
        most = KEEP_INPUTS_LIMIT // (8 * max(1, parameters))
        raise UsageError(f"keeping the inputs of {draws:,} draws x {parameters} uncertain parameters "
                         f"takes {_size(needed)} (8 bytes each), more than the {_size(KEEP_INPUTS_LIMIT)} "
                         f"of digimpact.engine.KEEP_INPUTS_LIMIT: keep them for at most {most:,} draws, "
                         "or raise the limit")


# ----------------------------------------------------------------------------- memory
def _nbytes(shapes: Iterable[tuple[int, ...]]) -> int:
    return 8 * sum(math.prod(shape) for shape in shapes)


def _output_bytes(job: Job) -> int:
    return _nbytes(job.shapes().values())


def _chunk_bytes(job: Job) -> int:
    """Bytes of one chunk's working arrays.

    A chunk of ``n`` draws holds about four arrays of parameter values ``(P, n)`` (uniform
    points, their copula transform, quantiles), four of use-case factors ``(U, n)`` (weight,
    value, speed and ceiling drivers), the sector sums and kept use cases, and the reduced
    copies that ``outputs`` returns.
    """
    plan, n = job.plan, min(job.size, job.draws)
    per_draw = [(4 * len(plan.names) + 4 * plan.n_use_cases,),
                *plan.shapes(job.keep_use_cases, "full").values(),
                *plan.shapes(False, job.outputs, job.keep_inputs).values()]
    return n * _nbytes(per_draw)


def memory_estimate(scenario: Scenario | str | Path, draws: int | None = None, *,
                    chunk_size: int | None = None, keep_use_cases: bool = False,
                    outputs: OutputsName = "full", keep_inputs: bool = False) -> int:
    """Bytes of memory a run of :func:`simulate` needs (outputs and one chunk's working arrays).

    The output arrays take 8 bytes per number: draws x sectors x years with
    ``outputs="full"``, draws x (sectors + years) with ``"target_year"``, plus draws x
    sectors (the full potential), plus draws x use cases x (2 years + 1) with
    ``keep_use_cases`` and draws x uncertain parameters with ``keep_inputs``. :func:`simulate`
    refuses a run whose estimate exceeds :func:`available_memory`.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")  # 3 sectors, 11 years
    >>> full = memory_estimate(s, 10**6)
    >>> full - memory_estimate(s, 10**6 - 1000) == 1000 * 3 * (11 + 1) * 8
    True
    >>> round(memory_estimate(s, 10**12) / 2**40)  # TiB
    262
    """
    check_choice(outputs, OutputsName, "outputs")
    job = _prepare(scenario, draws, 0, "random", chunk_size, keep_use_cases, outputs, keep_inputs).job
    return _output_bytes(job) + _chunk_bytes(job)


def available_memory() -> int:
    """Bytes of memory available to a new run (psutil, else ``/proc/meminfo``, else the
    physical memory).

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    try:
        import psutil
    except ImportError:
        try:
            with open("/proc/meminfo") as fh:
                fields = dict(line.split(":", 1) for line in fh)
            return int(fields["MemAvailable"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.virtual_memory().available)


def _size(nbytes: int) -> str:
    """``nbytes`` in binary units, e.g. ``"240.0 TiB"``."""
    power = min((nbytes.bit_length() - 1) // 10, 5) if nbytes > 0 else 0
    return f"{nbytes / 1024**power:.1f} {('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB')[power]}"


def _check_memory(jobs: Sequence[Job], lazy: bool) -> None:
    """Refuse a run that cannot fit: its outputs (all held at the end) and its largest chunk,
    or for lazy results the task graph, against :func:`available_memory`."""
    if lazy:
        chunks = sum(-(-job.draws // job.size) for job in jobs)
        needed, what = GRAPH_BYTES_PER_CHUNK * chunks, f"for a task graph of {chunks:,} chunks"
        advice = "use a larger chunk_size or fewer draws"
    else:
        needed, what = sum(map(_output_bytes, jobs)) + max(map(_chunk_bytes, jobs)), "of memory"
        advice = ('keep less with outputs="target_year" (--outputs target_year), run fewer draws, '
                  'or keep results on a dask cluster with backend="dask", lazy=True')
    available = available_memory()
    if needed > available:
        raise UsageError(f"this run needs about {_size(needed)} {what} and {_size(available)} is "
                         f"available: {advice}")


# ----------------------------------------------------------------------------- running
def _run_local(job: Job, progress: bool | None, desc: str) -> dict[str, np.ndarray]:
    out = {key: np.empty(shape) for key, shape in job.shapes().items()}
    with _progress(job.draws, progress, desc) as bar:
        for start, stop in job.chunks():
            for key, arr in job.evaluate(start, stop).items():
                out[key][start:stop] = arr
            bar.update(stop - start)
    return out


def _check_backend(backend: BackendName, client: Client | str | None, lazy: bool,
                   progress: bool | None) -> None:
    """Refuse options that the chosen backend would ignore."""
    check_choice(backend, BackendName, "backend")
    if backend == "local" and (client is not None or lazy):
        given = [name for name, on in (("client", client is not None), ("lazy=True", lazy)) if on]
        verb, them = ("apply", "them") if len(given) > 1 else ("applies", "it")
        raise UsageError(f"{' and '.join(given)} only {verb} to backend='dask': pass backend='dask' "
                         f"as well, or leave {them} out to run in this process")
    if backend == "dask" and progress:
        raise UsageError("progress bars show on the local backend only: with backend='dask' leave "
                         "progress out and follow the run on the dask dashboard")


_OLD_ORDER = ("draws", "seed", "sampler", "chunk_size", "keep_use_cases", "progress", "outputs",
              "backend", "client", "lazy")


@positional_deprecated(*_OLD_ORDER)
def simulate(scenario: Scenario | str | Path, *, draws: int | None = None, seed: int | None = None,
             sampler: SamplerName | None = None, chunk_size: int | None = None,
             keep_use_cases: bool = False, outputs: OutputsName = "full",
             progress: bool | None = None, backend: BackendName = "local",
             client: Client | str | None = None, lazy: bool = False,
             keep_inputs: bool = False) -> Results:
    """Run the Monte Carlo simulation of a scenario.

    Parameters
    ----------
    scenario : Scenario or path
        A :class:`Scenario` or the path of a scenario file.
    draws, seed : int, optional
        Override the scenario's ``[settings]``: ``draws >= 1``, ``0 <= seed < 2**63``.
    sampler : {"random", "lhs", "sobol"}, optional
        Override the scenario's sampler.
    chunk_size : int, optional
        Draws evaluated together; memory is bounded by it. Results do not depend on it.
    keep_use_cases : bool, default: False
        Also keep each use case's value and adoption (memory grows with draws x use cases).
    outputs : {"full", "target_year"}, default: "full"
        ``"full"``: value by draw, sector and year. ``"target_year"``: sector values in the
        target year only, plus the total for every year; memory grows with draws x (sectors +
        years), for runs of millions of draws.
    progress : bool, optional
        Show a progress bar (local backend only): ``None`` on a terminal once the run takes a
        second, ``True`` always, ``False`` never.
    backend : {"local", "dask"}, default: "local"
        This process, or chunks as tasks on a dask.distributed cluster. Results are
        bit-identical for the same seed.
    client : distributed.Client or str, optional
        With ``backend="dask"``: a client or a scheduler address (``"tcp://host:8786"``); by
        default a ``LocalCluster`` with one single-threaded worker per core, started once and
        reused.
    lazy : bool, default: False
        With ``backend="dask"``: return results backed by dask arrays; summaries then compute
        on the cluster only what they need.
    keep_inputs : bool, default: False
        Also keep each draw's sampled uncertain parameters, as variable ``inputs`` with dims
        ``(draw, parameter)``: 8 bytes x draws x uncertain parameters (Japan 2030, 20,000
        draws: about 80 MB), refused above :data:`KEEP_INPUTS_LIMIT`. They feed
        :func:`digimpact.plot.scatter`, :func:`digimpact.sampled.input_sensitivity` and
        :func:`digimpact.discovery.discover`; the simulated values do not change.

    Returns
    -------
    Results
        Labelled values by draw, sector and year, with provenance.

    Raises
    ------
    UsageError
        Before any work, for an option out of range, ``client`` or ``lazy`` without
        ``backend="dask"``, ``progress=True`` with it, or a run whose :func:`memory_estimate`
        exceeds :func:`available_memory`.
    SimulationError
        If a draw gives a value that is not finite (naming the use case and its parameters).
    BackendError
        With ``backend="dask"``, if the scheduler cannot be reached or the cluster fails.

    See Also
    --------
    simulate_many : several scenarios in one go.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=1000, seed=1)
    >>> r.dataset["value"].dims
    ('draw', 'sector', 'year')
    """
    return simulate_many([scenario], draws=draws, seed=seed, sampler=sampler, chunk_size=chunk_size,
                         keep_use_cases=keep_use_cases, outputs=outputs, progress=progress,
                         backend=backend, client=client, lazy=lazy, keep_inputs=keep_inputs)[0]


@positional_deprecated("backend", "client", "draws", "seed", "sampler", "chunk_size",
                       "keep_use_cases", "outputs", "progress", "lazy")
def simulate_many(scenarios: Iterable[Scenario | str | Path], *, draws: int | None = None,
                  seed: int | None = None, sampler: SamplerName | None = None,
                  chunk_size: int | None = None, keep_use_cases: bool = False,
                  outputs: OutputsName = "full", progress: bool | None = None,
                  backend: BackendName = "local", client: Client | str | None = None,
                  lazy: bool = False, keep_inputs: bool = False) -> list[Results]:
    """Simulate several scenarios (variants, designs, calibration trials) in one go.

    The options are those of :func:`simulate`, with the same defaults, and apply to each
    scenario; ``None`` takes each scenario's own ``[settings]``. With ``backend="dask"``
    every chunk of every scenario is submitted to the same cluster at once. The default
    backend is ``"local"``, as for :func:`simulate` (it was ``"dask"`` in digimpact 0.1; the
    numbers are bit-identical on both). The memory check counts the outputs of all the
    scenarios, which are held together.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> a, b = digimpact.simulate_many([s, s.with_overrides({"settings.seed": 3})], draws=100)
    >>> a.dataset.attrs["seed"], b.dataset.attrs["seed"]
    (2030, 3)
    """
    check_choice(outputs, OutputsName, "outputs")
    _check_backend(backend, client, lazy, progress)
    runs = [_prepare(s, draws, seed, sampler, chunk_size, keep_use_cases, outputs, keep_inputs)
            for s in scenarios]
    if not runs:
        return []
    outs = _execute(runs, backend=backend, client=client, lazy=lazy, progress=progress)
    return [Results(build_dataset(r.scenario, out, r.settings), r.scenario)
            for r, out in zip(runs, outs, strict=True)]


def _execute(runs: Sequence[_Run], *, backend: BackendName, client: Client | str | None, lazy: bool,
             progress: bool | None) -> list[dict]:
    """The output arrays of each run (options already checked), after the memory check."""
    _check_memory([r.job for r in runs], lazy)
    if backend == "local":
        return [_run_local(r.job, progress, r.scenario.title[:30]) for r in runs]
    from . import distributed

    return ([distributed.lazy_arrays(r.job) for r in runs] if lazy
            else distributed.run([r.job for r in runs], client))
