"""Scale-out on dask.distributed: chunks of draws as tasks, results lazy or gathered.

Each chunk of draws is one task running :meth:`digimpact.engine.Plan.evaluate`, the same
function the local engine runs, so results are bit-identical to the local engine for the same
seed. The plan (parameters, sampler, curves) is sent to the cluster once per run.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .engine import Plan
    from .results import Results

__all__ = ["compute", "default_client", "lazy_arrays"]

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

    from .engine import chunks

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


def compute(results: Sequence[Results], client=None) -> list[Results]:
    """Compute lazy results on the cluster, all in one graph; return in-memory results."""
    from .results import Results

    if isinstance(client, str):  # a scheduler address: connect for this computation only
        with _connect(client) as connected:
            return compute(results, connected)
    client = client or default_client()
    datasets = client.compute([r.dataset for r in results], sync=True)
    return [Results(ds, r.scenario) for ds, r in zip(datasets, results, strict=True)]
