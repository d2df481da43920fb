"""The dask backend: bit-identical to the local engine, lazy results, batches, reduced outputs."""

import numpy as np
import pytest

import digimpact
from digimpact.engine import simulate_many


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
    assert lazy.interval(["core"]) == local.interval(["core"])


def test_simulate_many_on_one_cluster(example, dask_client):
    variants = [example, example.with_overrides({"settings.seed": 4})]
    batch = simulate_many(variants, client=dask_client, draws=300, progress=False)
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
        small.metric("cumulative", ["core"])
    nbytes = sum(v.nbytes for v in small.dataset.data_vars.values())
    assert nbytes < 400 * (3 + 11 + 1) * 8 + 1000  # draws x (sectors + years), not x use cases


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
