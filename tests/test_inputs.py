"""Each draw's inputs kept with the results: the sampled values, bit for bit, and their uses."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import digimpact
import digimpact.plot
from digimpact import engine
from digimpact.errors import UsageError
from digimpact.plan import Plan
from digimpact.sampled import input_sensitivity, regression_indices

DRAWS = 400


@pytest.fixture(scope="module")
def kept(example):
    return digimpact.simulate(example, draws=DRAWS, seed=9, keep_inputs=True, progress=False)


@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_kept_inputs_are_the_plans_sampled_values(example, sampler):
    r = digimpact.simulate(example, draws=256, seed=3, sampler=sampler, keep_inputs=True,
                           chunk_size=100, progress=False)
    plan = Plan.build(example, 256, 3, sampler)
    inputs = r.dataset["inputs"]
    assert inputs.dims == ("draw", "parameter")
    assert list(inputs["parameter"].values) == plan.uncertain
    expected = plan.values(0, 256)[plan.uncertain_rows].T
    assert np.array_equal(inputs.values, expected)
    params = example.parameters()
    assert all(not params[n].is_fixed for n in plan.uncertain)
    assert len(plan.uncertain) == sum(not d.is_fixed for d in params.values())


def test_values_are_bit_identical_with_and_without_inputs(example, kept):
    plain = digimpact.simulate(example, draws=DRAWS, seed=9, progress=False)
    assert "inputs" not in plain.dataset
    assert np.array_equal(plain.dataset["value"].values, kept.dataset["value"].values)


@given(chunk=st.integers(1, DRAWS))
def test_kept_inputs_do_not_depend_on_the_chunk_size(example, kept, chunk):
    r = digimpact.simulate(example, draws=DRAWS, seed=9, keep_inputs=True, chunk_size=chunk,
                           progress=False)
    assert np.array_equal(r.dataset["inputs"].values, kept.dataset["inputs"].values)


def test_dask_keeps_the_same_inputs(example, kept, dask_client):
    remote = digimpact.simulate(example, draws=DRAWS, seed=9, keep_inputs=True, chunk_size=61,
                                backend="dask", client=dask_client)
    assert np.array_equal(remote.dataset["inputs"].values, kept.dataset["inputs"].values)
    lazy = digimpact.simulate(example, draws=DRAWS, seed=9, keep_inputs=True, chunk_size=61,
                              backend="dask", client=dask_client, lazy=True)
    assert np.array_equal(lazy.dataset["inputs"].values, kept.dataset["inputs"].values)


def test_inputs_with_reduced_outputs_and_use_cases(example, kept):
    r = digimpact.simulate(example, draws=DRAWS, seed=9, keep_inputs=True, keep_use_cases=True,
                           outputs="target_year", progress=False)
    assert np.array_equal(r.dataset["inputs"].values, kept.dataset["inputs"].values)


def test_memory_cost_is_draws_times_parameters_times_eight(example):
    p = len(Plan.build(example, 1, 0, "random").uncertain_rows)
    with_inputs = engine.memory_estimate(example, 10_000, keep_inputs=True, chunk_size=500)
    without = engine.memory_estimate(example, 10_000, chunk_size=500)
    assert with_inputs - without == 8 * p * (10_000 + 500)  # the outputs, and one chunk's copy


def test_keeping_more_than_the_limit_is_refused_before_any_work(example, monkeypatch):
    p = len(Plan.build(example, 1, 0, "random").uncertain_rows)
    monkeypatch.setattr(engine, "KEEP_INPUTS_LIMIT", 8 * p * 1000)
    digimpact.simulate(example, draws=1000, keep_inputs=True, progress=False)  # at the limit
    with pytest.raises(UsageError) as info:
        digimpact.simulate(example, draws=1001, keep_inputs=True, progress=False)
    message = str(info.value)
    assert f"1,001 draws x {p} uncertain parameters" in message
    assert "at most 1,000 draws" in message and "KEEP_INPUTS_LIMIT" in message
    digimpact.simulate(example, draws=1001, progress=False)  # without inputs: no limit


def test_inputs_survive_a_netcdf_round_trip(kept, tmp_path):
    back = digimpact.open_results(kept.to_netcdf(tmp_path / "r.nc"))
    assert np.array_equal(back.dataset["inputs"].values, kept.dataset["inputs"].values)
    assert list(back.dataset["parameter"].values) == list(kept.dataset["parameter"].values)


def test_input_sensitivity_is_the_regression_of_the_output_on_the_kept_inputs(kept):
    table = input_sensitivity(kept, "core")
    core = kept.metric(groups=["core"]).values
    direct = regression_indices(kept.dataset["inputs"].to_pandas(), core)
    assert table["src"].to_dict() == pytest.approx(direct["src"].to_dict(), nan_ok=True)
    assert table.attrs["output"] == "core" and table.attrs["draws"] == DRAWS
    # transport's use case does not enter the core sectors' value
    assert abs(table.loc["use_cases.autonomous_trucks.potential", "src"]) < 0.1


def test_results_without_inputs_say_how_to_keep_them(example):
    plain = digimpact.simulate(example, draws=50, progress=False)
    with pytest.raises(UsageError, match="keep_inputs=True"):
        input_sensitivity(plain)


def test_scatter_draws_each_kept_draw(kept):
    ax = digimpact.plot.scatter(kept, "drivers.realisation.value", "core")
    points = ax.collections[0].get_offsets()
    assert np.array_equal(points[:, 0], kept.dataset["inputs"].sel(parameter="drivers.realisation.value"))
    assert np.array_equal(points[:, 1], kept.metric(groups=["core"]).values)
    assert "Spearman" in ax.get_title()


def test_scatter_suggests_a_kept_input(kept):
    with pytest.raises(UsageError, match=r"did you mean 'drivers\.realisation\.value'"):
        digimpact.plot.scatter(kept, "drivers.realisaton.value")


def test_discovery_on_kept_draws(kept):
    pytest.importorskip("sklearn", reason="the discovery extra (scikit-learn) is not installed")
    low = kept.interval(q=[0.25])[0]
    boxes = digimpact.discovery.discover(kept, below=low, max_depth=2)
    assert boxes.attrs["share_of_interest"] == pytest.approx(0.25, abs=0.01)
    total = kept.metric().values
    inputs = kept.dataset["inputs"].to_pandas()
    for _, rows in boxes.groupby(level="box"):
        inside = np.ones(DRAWS, bool)
        for (_, name), row in rows.iterrows():
            inside &= (inputs[name] > row["low"]).to_numpy() & (inputs[name] <= row["high"]).to_numpy()
        assert rows["draws"].iloc[0] == inside.sum()
        assert rows["density"].iloc[0] == pytest.approx((total[inside] < low).mean())
        assert rows["coverage"].iloc[0] == pytest.approx((total[inside] < low).sum() / (total < low).sum())
    with pytest.raises(UsageError, match="one threshold"):
        digimpact.discovery.discover(kept)
    lowest = kept.metric(groups=["core"]).values.min()
    with pytest.raises(UsageError, match=rf"no draw has core below 0: it ranges from {lowest:.4g}"):
        digimpact.discovery.discover(kept, below=0, output="core")
