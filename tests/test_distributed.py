"""The dask backend: bit-identical to the local engine, lazy results, batches, reduced outputs."""

import contextlib
import dataclasses
import os
import time

import numpy as np
import pytest

import digimpact
from digimpact import distributed
from digimpact.engine import simulate_many
from digimpact.errors import BackendError, UsageError
from digimpact.plan import Job, Plan


@pytest.mark.parametrize("outputs", ["full", "target_year"])
@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_dask_is_bit_identical_to_local(example, dask_client, sampler, outputs):
    kw = {"draws": 777, "seed": 9, "sampler": sampler, "outputs": outputs, "progress": False}
    local = digimpact.simulate(example, **kw, chunk_size=100)
    remote = digimpact.simulate(example, **kw, backend="dask", client=dask_client, chunk_size=61)
    for name, var in local.dataset.data_vars.items():
        assert np.array_equal(var.values, remote.dataset[name].values), name
    assert local.dataset.attrs == remote.dataset.attrs


def test_lazy_results_compute_only_what_is_asked(example, dask_client):
    lazy = digimpact.simulate(example, draws=600, backend="dask", client=dask_client, lazy=True,
                              keep_use_cases=True, progress=False)
    import dask.array as da

    assert isinstance(lazy.dataset["value"].data, da.Array)
    assert isinstance(lazy.dataset["use_case_value"].data, da.Array)
    local = digimpact.simulate(example, draws=600, keep_use_cases=True, progress=False)
    assert lazy.summary().equals(local.summary())
    assert lazy.interval(groups=["core"]) == local.interval(groups=["core"])


def test_simulate_many_on_one_cluster(example, dask_client):
    variants = [example, example.with_overrides({"settings.seed": 4})]
    batch = simulate_many(variants, backend="dask", client=dask_client, draws=300, progress=False)
    for scenario, result in zip(variants, batch, strict=True):
        alone = digimpact.simulate(scenario, draws=300, progress=False)
        assert np.array_equal(alone.dataset["value"].values, result.dataset["value"].values)


def test_scheduler_address(example, dask_client):
    r = digimpact.simulate(example, draws=100, backend="dask", client=dask_client.scheduler.address,
                           progress=False)
    assert np.array_equal(r.dataset["value"].values,
                          digimpact.simulate(example, draws=100, progress=False).dataset["value"].values)


def test_target_year_outputs(example):
    full = digimpact.simulate(example, draws=400, progress=False)
    small = digimpact.simulate(example, draws=400, outputs="target_year", progress=False)
    assert small.dataset["value"].dims == ("draw", "sector")
    assert small.dataset["total"].dims == ("draw", "year")
    assert small.summary().equals(full.summary())
    assert np.allclose(small.metric("cumulative"), full.metric("cumulative"))
    with pytest.raises(ValueError, match="target_year"):
        small.metric("cumulative", groups=["core"])
    nbytes = sum(v.nbytes for v in small.dataset.data_vars.values())
    # draws x (sectors + years + sectors of full potential), not x use cases
    assert nbytes < 400 * (3 + 11 + 3 + 1) * 8 + 1000


def test_cli_runs_on_a_scheduler(example_path, dask_client, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "digimpact.cli", "run", str(example_path), "--draws",
                          "300", "--scheduler", dask_client.scheduler.address, "--out", str(tmp_path),
                          "--format", "json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    remote = digimpact.open_results(tmp_path / "results.nc")
    local = digimpact.simulate(example_path, draws=300, progress=False)
    assert np.array_equal(remote.dataset["value"].values, local.dataset["value"].values)


# ----------------------------------------------------------------------------- failures
@pytest.fixture
def timeout_2s(monkeypatch):
    monkeypatch.setenv("DIGIMPACT_DASK_TIMEOUT", "2")


class _Server:
    """A loopback TCP server in a thread: each connection is held open without a word
    (``reply=None``) or answered with ``reply`` and closed. It stops by itself after
    ``lifetime`` seconds or ``accepts`` connections."""

    def __init__(self, reply: bytes | None, lifetime: float = 20.0, accepts: int = 5) -> None:
        import socket
        import threading

        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(lifetime)
        self.address = f"tcp://127.0.0.1:{self.socket.getsockname()[1]}"
        self.reply, self.accepts, self.held = reply, accepts, []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            for _ in range(self.accepts):
                conn, _ = self.socket.accept()
                self.held.append(conn)
                if self.reply is not None:
                    conn.settimeout(1.0)
                    with contextlib.suppress(OSError):
                        conn.recv(65536)
                    conn.sendall(self.reply)
                    conn.close()
        except OSError:  # the lifetime is over
            pass
        finally:
            self.close()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.socket.close()


HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("reply", [None, HTTP_400], ids=["silent", "http"])
def test_a_scheduler_that_does_not_answer_is_a_clear_error(example, timeout_2s, reply):
    server = _Server(reply)
    try:
        with pytest.raises(BackendError) as err:
            digimpact.simulate(example, draws=10, backend="dask", client=server.address)
    finally:
        server.close()
    assert str(err.value).startswith(f"could not connect to dask scheduler at {server.address} "
                                     "within 2 s (")
    assert "DIGIMPACT_DASK_TIMEOUT" in str(err.value) and "\n" not in str(err.value)
    if reply is None:
        assert "(no answer)" in str(err.value)
    else:  # distributed read "HTTP/1.1" as a frame length: an allocation of exabytes
        assert "EiB" in str(err.value) or "not as a dask scheduler" in str(err.value)


def test_nothing_listening_is_a_clear_error(example, timeout_2s):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(BackendError, match=f"^could not connect to dask scheduler at tcp://127.0.0.1:{port} "
                                           r"within 2 s \(.*\); is the scheduler running there\?"):
        digimpact.simulate(example, draws=10, backend="dask", client=f"tcp://127.0.0.1:{port}")


@pytest.mark.parametrize(("text", "seconds"), [("", 10.0), ("2.5", 2.5), ("abc", None), ("0", None),
                                               ("-1", None), ("nan", None)])
def test_connect_timeout_from_the_environment(monkeypatch, text, seconds):
    monkeypatch.setenv("DIGIMPACT_DASK_TIMEOUT", text)
    if seconds is None:
        with pytest.raises(UsageError, match=f"^DIGIMPACT_DASK_TIMEOUT must be a number of seconds > 0, "
                                             f"got '{text}'$"):
            distributed.connect_timeout()
    else:
        assert distributed.connect_timeout() == seconds


class _Fatal:
    """A sampler stand-in: the worker that first uses it ends its own process (``"worker"``)
    or shuts the scheduler down (``"scheduler"``)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def uniforms(self, start: int, stop: int):
        if self.what == "worker":
            os._exit(1)
        from distributed import get_client

        get_client().shutdown()
        time.sleep(10)  # the worker goes down with the scheduler
        raise AssertionError("the scheduler outlived its shutdown")


@pytest.fixture
def own_cluster():
    """A one-worker cluster of its own, which gives up on a task at the first worker death."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    yield client
    with contextlib.suppress(TimeoutError):  # a scheduler shut down does not answer
        client.close(timeout=2)
        cluster.close(timeout=2)


@pytest.mark.parametrize("what", ["worker", "scheduler"])
def test_a_cluster_lost_mid_run_is_one_clear_error(example, own_cluster, what):
    plan = dataclasses.replace(Plan.build(example, 40, 1, "random"), sampler=_Fatal(what))
    with pytest.raises(BackendError) as err:
        distributed.run([Job(plan, 40, 10, False, "full")], own_cluster)
    message = str(err.value)
    assert message.startswith("the dask cluster failed mid-run (") and "\n" not in message
    assert message.endswith("); the run was abandoned and nothing was returned")
    assert ("KilledWorker: " if what == "worker" else "scheduler-connection-lost") in message
