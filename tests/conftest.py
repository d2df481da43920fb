"""Shared fixtures: the example scenario, small scenarios written to tmp_path, backends."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, settings

import digimpact

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "scenarios" / "examples" / "minimal.toml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# A fast, reproducible hypothesis profile for the whole suite.
settings.register_profile("digimpact", max_examples=25, deadline=None, derandomize=True,
                          database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("digimpact")


# A small valid scenario: two sectors in two groups, two use cases, one driver, one target.
SMALL = """
[scenario]
title = "Small"
unit = "JPY trillion"
base_year = 2020
horizon = [2020, 2025]

[settings]
draws = 200
seed = 1
sampler = "random"

[sectors.a]
group = "g1"
value_added = 10.0
source = "src-a"

[sectors.b]
group = "g2"
value_added = 20.0

[drivers.d]
acts_on = "value"
value = { dist = "uniform", low = 0.9, high = 1.1 }

[use_cases.u1]
sector = "a"
potential = { dist = "uniform", low = 0.01, high = 0.02 }
adoption = { kind = "logistic", midpoint = 2023, steepness = 1.0, ceiling = 0.8 }
drivers = ["d"]

[use_cases.u2]
sector = "b"
potential = 0.05
adoption = { kind = "linear", start = 2020, end = 2025 }

[targets.t]
groups = ["g1"]
year = 2025
low = 0.0
high = 1.0
tolerance = 0.5
"""


@pytest.fixture(scope="session")
def example_path() -> Path:
    """Path of ``scenarios/examples/minimal.toml``."""
    return EXAMPLE


@pytest.fixture(scope="session")
def example(example_path) -> digimpact.Scenario:
    """The example scenario, loaded once."""
    return digimpact.load_scenario(example_path)


@pytest.fixture(scope="session")
def small_toml() -> str:
    return SMALL


def write(directory: Path, text: str, name: str = "scenario.toml") -> Path:
    """Write dedented TOML ``text`` to ``directory / name`` and return the path."""
    path = Path(directory) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def write_toml(tmp_path):
    """``write_toml(text, name="scenario.toml")`` -> path of the written file."""
    return lambda text, name="scenario.toml": write(tmp_path, text, name)


@pytest.fixture
def load_toml(tmp_path):
    """``load_toml(text, name="scenario.toml")`` -> the loaded :class:`Scenario`."""
    return lambda text, name="scenario.toml": digimpact.load_scenario(write(tmp_path, text, name))


# ----------------------------------------------------------------------------- backends
BACKENDS = ["local", "dask"]


@pytest.fixture(scope="session")
def dask_client():
    """A 2-worker dask.distributed LocalCluster for the whole session."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The execution backend an engine test runs on."""
    return request.param


@pytest.fixture(scope="session")
def run(backend, request):
    """``run(scenario, **kwargs)``: :func:`digimpact.simulate` on the current backend."""
    extra = {} if backend == "local" else {"backend": "dask",
                                           "client": request.getfixturevalue("dask_client")}
    return lambda scenario, **kwargs: digimpact.simulate(scenario, progress=False,
                                                         **kwargs, **extra)


# ----------------------------------------------------------------------------- Japan 2030
BEFORE_ISSUE_10 = {"scenario.base_measure": "gross_output", "scenario.counterfactual": "none",
                   "drivers.realisation.value.sigma": 0.04392,
                   "drivers.value_core.value.median": 5.29, "drivers.value_core.value.sigma": 0.08366,
                   "drivers.value_public.value.median": 4.124,
                   "drivers.value_public.value.sigma": 1.271e-06,
                   "drivers.value_other.value.median": 9.271,
                   "drivers.value_other.value.sigma": 0.03252}
"""Overrides of scenarios/japan2030/exhibit5.toml that give the scenario as it was before
issue 10 (gross-output basis, no counterfactual, the calibration of that basis), with
:func:`before_issue_10` for the old growth."""


def before_issue_10(exhibit5: digimpact.Scenario) -> digimpact.Scenario:
    """Japan 2030 as it was before issue 10: :data:`BEFORE_ISSUE_10` and 1.155% growth."""
    growth = {f"sectors.{s}.growth": 0.01155 for s in exhibit5.sectors}
    return exhibit5.with_overrides({**BEFORE_ISSUE_10, **growth})


# ----------------------------------------------------------------------------- notebooks
@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory) -> Path:
    """A folder whose ``notebooks/`` holds an executed copy of each notebook, errors kept as
    outputs. Run once per session: tests/test_notebooks.py checks them, and tests/test_docs.py
    renders them in the site (``DIGIMPACT_EXECUTED_NOTEBOOKS``)."""
    from nbclient import NotebookClient

    root = tmp_path_factory.mktemp("executed")
    (root / "notebooks").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        for path in NOTEBOOKS:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            nbformat.write(nb, root / "notebooks" / path.name)
    return root
