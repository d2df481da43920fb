"""Scale-out on dask.distributed: chunks of draws as tasks, results lazy or gathered.

Each chunk of draws is one task running :meth:`digimpact.plan.Plan.evaluate`, the same
function the local engine runs, so results are bit-identical to the local engine for the same
seed. The plan (parameters, sampler, curves) is sent to each worker once per run. Results are
either gathered chunk by chunk into preallocated arrays (:func:`run`) or left lazy as dask
arrays (:func:`lazy_arrays`).
"""

from __future__ import annotations

import atexit
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .plan import Plan, chunks

__all__ = ["default_client", "lazy_arrays", "run"]

_DEFAULT: dict[str, Any] = {}


def default_client():
    """A ``LocalCluster`` client with one single-threaded worker per core, made once."""
    if "client" not in _DEFAULT:
        import os

        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        _DEFAULT["client"] = Client(cluster)
        atexit.register(_close)
    return _DEFAULT["client"]


def _close() -> None:
    client = _DEFAULT.pop("client", None)
    if client is not None:
        cluster = client.cluster
        client.close()
        cluster.close()


def _connect(address: str):
    from distributed import Client

    return Client(address)


def lazy_arrays(plan: Plan, draws: int, size: int, keep_use_cases: bool,
                outputs: str) -> dict[str, Any]:
    """Dask arrays of every output, one block per chunk of draws (nothing runs yet)."""
    import dask
    import dask.array as da

    shapes = plan.shapes(keep_use_cases, outputs)
    shared = dask.delayed(plan, pure=True, traverse=False)  # one copy in the graph
    blocks: dict[str, list] = {key: [] for key in shapes}
    for start, stop in chunks(draws, size):
        part = dask.delayed(_evaluate, pure=True, nout=len(shapes))(
            shared, start, stop, keep_use_cases, outputs, tuple(shapes))
        for key, block in zip(shapes, part, strict=True):
            blocks[key].append(da.from_delayed(block, (stop - start, *shapes[key]), np.float64))
    return {key: da.concatenate(parts, axis=0) for key, parts in blocks.items()}


def _evaluate(plan: Plan, start: int, stop: int, keep_use_cases: bool, outputs: str,
              keys: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    out = plan.evaluate(start, stop, keep_use_cases, outputs)
    return tuple(out[k] for k in keys)


def run(jobs: Sequence[tuple[Plan, int, int, bool, str]], client=None) -> list[dict[str, np.ndarray]]:
    """Evaluate every chunk of every job ``(plan, draws, chunk size, keep_use_cases, outputs)``
    as a task and copy each result into preallocated arrays as it arrives.

    At most a few chunks per worker are in flight, so the workers hold little and the client
    holds the outputs plus one chunk: memory is bounded by the outputs, not by the graph.
    """
    from distributed import as_completed

    if isinstance(client, str):
        with _connect(client) as connected:
            return run(jobs, connected)
    client = client or default_client()
    outs = [{key: np.empty((draws, *shape)) for key, shape in plan.shapes(keep, outputs).items()}
            for plan, draws, _, keep, outputs in jobs]
    todo = iter([(i, start, stop) for i, (_, draws, size, _, _) in enumerate(jobs)
                 for start, stop in chunks(draws, size)])
    plans = [client.scatter(job[0], broadcast=True, hash=False) for job in jobs]  # own keys
    window = 4 * max(1, len(client.scheduler_info()["workers"]))

    def submit(task):
        i, start, stop = task
        _, _, _, keep, outputs = jobs[i]
        keys = tuple(outs[i])
        future = client.submit(_evaluate, plans[i], start, stop, keep, outputs, keys, pure=False)
        meta[future.key] = (i, start, stop, keys)
        return future

    meta: dict[str, tuple[int, int, int, tuple[str, ...]]] = {}
    pending = as_completed([submit(t) for t in itertools.islice(todo, window)])
    for future in pending:
        i, start, stop, keys = meta.pop(future.key)
        for key, block in zip(keys, future.result(), strict=True):
            outs[i][key][start:stop] = block
        future.release()
        following = next(todo, None)
        if following is not None:
            pending.add(submit(following))
    return outs
