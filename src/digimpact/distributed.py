"""Scale-out on dask.distributed: chunks of draws as tasks, results lazy or gathered.

Each chunk of draws is one task running :meth:`digimpact.plan.Plan.evaluate`, the same
function the local engine runs, so results are bit-identical to the local engine for the same
seed. The plan (parameters, sampler, curves) is sent to each worker once per run. Results are
either gathered chunk by chunk into preallocated arrays (:func:`run`) or left lazy as dask
arrays (:func:`lazy_arrays`).

Failures of the cluster raise :class:`~digimpact.errors.BackendError` with one line: a
scheduler that does not answer as a dask scheduler within :func:`connect_timeout` seconds,
and a worker or the scheduler lost mid-run.
"""

from __future__ import annotations

import atexit
import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .errors import BackendError, UsageError
from .options import OutputsName
from .plan import Job, Plan

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["connect_timeout", "default_client", "lazy_arrays", "run"]

TIMEOUT_VARIABLE = "DIGIMPACT_DASK_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
"""Seconds a scheduler has to answer (override with the environment variable above)."""

_DEFAULT: dict[str, Any] = {}


def default_client() -> Client:
    """A ``LocalCluster`` client with one single-threaded worker per core, made once (and
    closed when the interpreter exits)."""
    if "client" not in _DEFAULT:
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


def connect_timeout() -> float:
    """Seconds a scheduler has to answer: ``$DIGIMPACT_DASK_TIMEOUT``, else 10.

    Examples
    --------
    >>> connect_timeout() > 0
    True
    """
    text = os.environ.get(TIMEOUT_VARIABLE, "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise UsageError(f"{TIMEOUT_VARIABLE} must be a number of seconds > 0, got {text!r}")
    return seconds


async def _identity(address: str, timeout: float) -> dict:
    from distributed.core import rpc

    remote = rpc(address, timeout=timeout)
    try:
        return await remote.identity()
    finally:
        await remote.close_rpc()


def _probe(address: str, timeout: float) -> None:
    """Ask ``address`` who it is, within ``timeout`` seconds in all.

    ``distributed.Client`` bounds only the TCP connection by its timeout, not the handshake
    after it: a server that accepts and never answers blocks it, and one that answers in
    another protocol (HTTP) makes it read a bogus frame length (an allocation of exabytes).
    The probe runs on an event loop of its own in a thread, so it also works inside Jupyter.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(asyncio.run, asyncio.wait_for(_identity(address, timeout), timeout)).result()
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise ValueError(f"it answered as {reply.get('type') if isinstance(reply, dict) else reply!r}, "
                         "not as a dask scheduler")


def _connect(address: str, timeout: float | None = None) -> Client:
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`BackendError`."""
    from distributed import Client

    timeout = connect_timeout() if timeout is None else timeout
    try:
        _probe(address, timeout)
        return Client(address, timeout=timeout)
    except Exception as exc:  # refused, no answer, another protocol, bad address
        reason = "no answer" if isinstance(exc, TimeoutError) else _one_line(exc)
        raise BackendError(f"could not connect to dask scheduler at {address} within {timeout:g} s "
                           f"({reason}); is the scheduler running there? (set {TIMEOUT_VARIABLE} "
                           "to wait longer)") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def lazy_arrays(job: Job) -> dict[str, Any]:
    """Dask arrays of every output, one block per chunk of draws (nothing runs yet)."""
    import dask
    import dask.array as da

    shapes = job.plan.shapes(job.keep_use_cases, job.outputs, job.keep_inputs)
    shared = dask.delayed(job.plan, pure=True, traverse=False)  # one copy in the graph
    blocks: dict[str, list] = {key: [] for key in shapes}
    for start, stop in job.chunks():
        part = dask.delayed(_evaluate, pure=True, nout=len(shapes))(
            shared, start, stop, job.keep_use_cases, job.outputs, tuple(shapes))
        for key, block in zip(shapes, part, strict=True):
            blocks[key].append(da.from_delayed(block, (stop - start, *shapes[key]), np.float64))
    return {key: da.concatenate(parts, axis=0) for key, parts in blocks.items()}


def _evaluate(plan: Plan, start: int, stop: int, keep_use_cases: bool, outputs: OutputsName,
              keys: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    out = plan.evaluate(start, stop, keep_use_cases, outputs, keep_inputs="inputs" in keys)
    return tuple(out[k] for k in keys)


def _lost() -> tuple[type[BaseException], ...]:
    """The exceptions by which dask says a worker or the scheduler went away."""
    from concurrent.futures import CancelledError  # the base of FutureCancelledError

    from distributed import KilledWorker

    return (CancelledError, KilledWorker, OSError)  # OSError: CommClosedError, TimeoutError


@contextmanager
def _connected(client: Client | str | None) -> Iterator[Client]:
    """The client to run on: ``client`` itself, a connection to the scheduler at address
    ``client`` (closed afterwards), or :func:`default_client`."""
    if isinstance(client, str):
        with _connect(client) as connection:
            yield connection
    else:
        yield client or default_client()


def run(jobs: Sequence[Job], client: Client | str | None = None) -> list[dict[str, np.ndarray]]:
    """Evaluate every chunk of every job as a task and copy each result into preallocated
    arrays as it arrives.

    ``client`` is a ``distributed.Client``, a scheduler address (connected with
    :func:`connect_timeout`) or ``None`` (:func:`default_client`). At most a few chunks per
    worker are in flight, so the workers hold little and the client holds the outputs plus
    one chunk: memory is bounded by the outputs, not by the graph.

    Raises
    ------
    BackendError
        If the scheduler cannot be reached, or a worker or the scheduler is lost mid-run.
    """
    with _connected(client) as connection:
        try:
            return _gather(jobs, connection)
        except _lost() as exc:
            raise BackendError(f"the dask cluster failed mid-run ({_one_line(exc)}); the run was "
                               "abandoned and nothing was returned") from exc


class _Chunk(NamedTuple):
    """Draws ``start .. stop-1`` of job number ``job``."""

    job: int
    start: int
    stop: int


class _Submitter:
    """Submits chunks of ``jobs`` as tasks and tells which chunk a finished future ran.

    Each job's plan is scattered to every worker once, under a key of its own.
    """

    def __init__(self, client: Client, jobs: Sequence[Job], keys: Sequence[tuple[str, ...]]) -> None:
        self.client, self.jobs, self.keys = client, jobs, keys
        self.plans = [client.scatter(job.plan, broadcast=True, hash=False) for job in jobs]
        self._chunks: dict[object, _Chunk] = {}  # future key -> chunk

    def __call__(self, chunk: _Chunk) -> Future:
        job = self.jobs[chunk.job]
        future = self.client.submit(_evaluate, self.plans[chunk.job], chunk.start, chunk.stop,
                                    job.keep_use_cases, job.outputs, self.keys[chunk.job], pure=False)
        self._chunks[future.key] = chunk
        return future

    def chunk_of(self, future: Future) -> _Chunk:
        """The chunk ``future`` ran (forgotten once asked)."""
        return self._chunks.pop(future.key)


def _gather(jobs: Sequence[Job], client: Client) -> list[dict[str, np.ndarray]]:
    from distributed import as_completed

    outs = [{key: np.empty(shape) for key, shape in job.shapes().items()} for job in jobs]
    submit = _Submitter(client, jobs, [tuple(out) for out in outs])
    todo = (_Chunk(i, start, stop) for i, job in enumerate(jobs) for start, stop in job.chunks())
    window = 4 * max(1, len(client.scheduler_info()["workers"]))
    pending = as_completed([submit(chunk) for chunk in itertools.islice(todo, window)])
    failed: list[tuple[_Chunk, Exception]] = []
    for future in pending:
        chunk = submit.chunk_of(future)
        try:
            blocks = future.result()
        except Exception as exc:
            failed.append((chunk, exc))
            continue
        finally:
            future.release()
        if failed:  # draining the chunks in flight: no more are submitted
            continue
        for key, block in zip(outs[chunk.job], blocks, strict=True):
            outs[chunk.job][key][chunk.start:chunk.stop] = block
        following = next(todo, None)
        if following is not None:
            pending.add(submit(following))
    if failed:
        # chunks are submitted in order, so every chunk before the first failed one has run:
        # the error raised is the one the local engine raises, whatever the order of completion
        raise min(failed, key=lambda f: f[0])[1]
    return outs
