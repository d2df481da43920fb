"""Results files read back (one clear error per broken file), years checked, runs reproduced."""

import os

import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import digimpact
from digimpact.atomic import umask
from digimpact.errors import ResultsError, UsageError
from digimpact.records import RunSettings
from digimpact.reproduce import _difference
from digimpact.results import build_dataset, quantile_label, quantiles_of, year_in_horizon
from digimpact.sensitivity import MIN_SOBOL_N, sobol_indices


@pytest.fixture(scope="module")
def stored(example, tmp_path_factory):
    """Results of the example (200 draws, seed 11) and the file they were written to."""
    results = digimpact.simulate(example, draws=200, seed=11, progress=False)
    return results, results.to_netcdf(tmp_path_factory.mktemp("stored") / "results.nc")


def copy(path, tmp_path, name="results.nc"):
    target = tmp_path / name
    target.write_bytes(path.read_bytes())
    return target


def open_error(path) -> str:
    with pytest.raises(ResultsError) as info:
        digimpact.open_results(path)
    assert info.value.file == str(path) and str(info.value).startswith(f"{path}: ")
    return info.value.message


# ----------------------------------------------------------------------------- open_results
def test_round_trip_checks_the_stored_scenario(stored):
    results, path = stored
    back = digimpact.open_results(path)
    assert back.scenario.hash == results.scenario.hash == back.dataset.attrs["scenario_hash"]
    np.testing.assert_array_equal(back.dataset["value"].values, results.dataset["value"].values)


def test_empty_random_and_truncated_files(stored, tmp_path):
    _, path = stored
    (tmp_path / "empty.nc").write_bytes(b"")
    assert "empty file" in open_error(tmp_path / "empty.nc")
    (tmp_path / "random.nc").write_bytes(np.random.default_rng(0).bytes(4096))
    assert "not a netCDF4 (HDF5) file" in open_error(tmp_path / "random.nc")
    data = path.read_bytes()
    for cut in (8, 1000, len(data) // 2, len(data) - 100):
        (tmp_path / "cut.nc").write_bytes(data[:cut])
        assert "truncated or damaged" in open_error(tmp_path / "cut.nc")


def test_netcdf3_and_foreign_netcdf4_files(tmp_path):
    ds = xr.Dataset({"value": (("draw",), np.arange(3.0))}, attrs={"title": "not ours"})
    ds.to_netcdf(tmp_path / "classic.nc", engine="scipy")
    assert "netCDF3" in open_error(tmp_path / "classic.nc")
    ds.to_netcdf(tmp_path / "foreign.nc", engine="h5netcdf")
    message = open_error(tmp_path / "foreign.nc")
    assert message.startswith("not written by digimpact (no attributes scenario_toml, scenario_hash")


def test_missing_value_variable(stored, tmp_path):
    path = copy(stored[1], tmp_path)
    with h5py.File(path, "r+") as f:
        del f["value"]
    assert open_error(path) == "not written by digimpact (no variable 'value')"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda toml: toml.replace("draws = 20000", "draws = 20001"), "does not match its hash"),
    (lambda toml: toml + "\n[[[", "is invalid"),
    (lambda toml: toml.replace("[sectors.", "[sektors.", 1), "is invalid"),
])
def test_tampered_scenario(stored, tmp_path, edit, expected):
    path = copy(stored[1], tmp_path)
    with h5py.File(path, "r+") as f:
        toml = f.attrs["scenario_toml"]
        toml = toml.decode() if isinstance(toml, bytes) else toml
        assert edit(toml) != toml
        f.attrs["scenario_toml"] = edit(toml)
    assert expected in open_error(path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        digimpact.open_results(tmp_path / "nope.nc")
    assert info.value.filename == str(tmp_path / "nope.nc")


# ----------------------------------------------------------------------------- years
def test_years_outside_the_horizon(example, stored):
    results, _ = stored
    assert year_in_horizon(example, None) == example.meta.target_year
    assert year_in_horizon(example, 2020) == 2020 and year_in_horizon(example, 2030) == 2030
    for year in (1900, 2019, 2031):
        with pytest.raises(UsageError, match=f"year {year} is outside the scenario's horizon 2020-2030"):
            results.summary(year=year)
    with pytest.raises(UsageError, match="start 2019 is outside"):
        results.metric("cumulative", start=2019)
    with pytest.raises(UsageError, match="year 1900 is outside"):
        digimpact.compare(results, example).summary(year=1900)
    with pytest.raises(UsageError, match="year 1900 is outside"):
        digimpact.sensitivity(example, year=1900)


def test_compare_draws(example, stored):
    with pytest.raises(UsageError, match=r"^draws must be an integer >= 1, got 0$"):  # 0 is not None
        digimpact.compare(example, example, draws=0)
    c = digimpact.compare(example, example, draws=None, seed=1)
    assert c.a.dataset.attrs["draws"] == example.settings.draws
    results, _ = stored
    with pytest.raises(UsageError, match=r"leave draws, sampler out, or pass a\.scenario"):
        digimpact.compare(results, example, draws=10, sampler="lhs")


@pytest.mark.parametrize(("n", "hint"), [(1, "use 64$"), (32, "use 64$"), (100, "use 64 or 128$"),
                                         (1000, "use 512 or 1024$"), (0, "use 64$")])
def test_sobol_needs_a_power_of_two_of_at_least_64(n, hint):
    with pytest.raises(UsageError, match=f"power of two >= 64, not {n} .*{hint}"):
        sobol_indices(lambda u: u[:, 0], ["a"], n=n)


def test_smallest_sobol_sample_is_accepted():
    table = sobol_indices(lambda u: u[:, 0], ["a", "b"], n=MIN_SOBOL_N, seed=1)
    assert table.loc["b", "S1"] == pytest.approx(0.0, abs=1e-12)  # b does not enter the output


# ----------------------------------------------------------------------------- reproduce
def test_reproduce_a_file_bit_for_bit(stored):
    rep = digimpact.reproduce(stored[1])
    assert rep.identical and rep.versions == (digimpact.__version__,) * 2
    assert rep.variables["differing"].sum() == 0 and rep.variables["max_abs"].max() == 0.0
    assert list(rep.variables.index) == ["value", "full_potential", "baseline"]
    assert rep.settings() == {"draws": 200, "seed": 11, "sampler": rep.stored.dataset.attrs["sampler"],
                              "outputs": "full", "keep_use_cases": False, "keep_inputs": False,
                              "scenario_hash": rep.stored.scenario.hash}
    assert "identical bit for bit: value, full_potential, baseline" in str(rep)


@pytest.mark.parametrize("options", [{"outputs": "target_year"}, {"keep_use_cases": True},
                                     {"keep_inputs": True}])
def test_reproduce_keeps_the_outputs_of_the_record(example, options):
    results = digimpact.simulate(example, draws=64, seed=2, sampler="random", progress=False, **options)
    rep = digimpact.reproduce(results)
    assert rep.identical and set(rep.variables.index) == set(results.dataset.data_vars)
    assert rep.settings()["outputs"] == options.get("outputs", "full")
    assert rep.settings()["keep_inputs"] == options.get("keep_inputs", False)


def test_reproduce_reports_changed_numbers_and_versions(stored, tmp_path):
    path = copy(stored[1], tmp_path)
    with h5py.File(path, "r+") as f:
        old = f["value"][5, 1, 3]
        f["value"][5, 1, 3] = np.nextafter(old, np.inf)
        f.attrs["digimpact_version"] = "0.0.1"
    rep = digimpact.reproduce(path)
    assert not rep.identical
    row = rep.variables.loc["value"]
    assert row["differing"] == 1 and row["numbers"] == 200 * 3 * 11
    assert row["max_abs"] == np.spacing(old) and row["max_rel"] == pytest.approx(np.spacing(old) / old)
    assert rep.variables.loc["baseline", "differing"] == 0
    text = str(rep)
    assert "value: 1 of 6600 numbers" in text and "stored by digimpact 0.0.1" in text


@given(st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=20), st.data())
def test_difference_counts_changed_bits(values, data):
    old = np.array(values)
    flip = data.draw(st.sets(st.integers(0, len(values) - 1)))
    new = old.copy()
    new[sorted(flip)] *= -1  # the sign bit flips, also for 0.0 -> -0.0 (equal, not identical)
    assert _difference(old, new)["differing"] == len(flip)
    assert _difference(old, old.copy()) == {"numbers": len(values), "differing": 0, "max_abs": 0.0,
                                            "max_rel": 0.0}
    assert _difference(old, None)["differing"] == len(values)


def test_results_files_are_not_left_half_written(stored, tmp_path):
    results, _ = stored
    path = results.to_netcdf(tmp_path / "r.nc")
    assert os.listdir(tmp_path) == ["r.nc"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask()


def test_html_repr_shows_provenance_summary_and_targets(example):
    r = digimpact.simulate(example, draws=300, seed=4, progress=False)
    html = r._repr_html_()
    for text in ("JPY trillion", "target year 2030", "300 draws", "seed 4", "sampler lhs",
                 "<h5>Summary</h5>", "All sectors", example.hash[:12]):
        assert text in html
    checks = r.check()
    missed = int((~checks["ok"]).sum())
    verdict = (f"all {len(checks)} published bounds met" if not missed
               else f"{missed} of {len(checks)} published bounds missed")
    assert f"<h5>Targets: {verdict}</h5>" in html
    assert f"{checks['simulated'].iloc[0]:.2f}" in html
    assert html.count("<table") == 2


def test_html_repr_of_a_scenario_without_targets(example):
    bare = example.with_overrides({"targets": {}})
    html = digimpact.simulate(bare, draws=50, seed=1, progress=False)._repr_html_()
    assert "No published targets" in html and html.count("<table") == 1
# ----------------------------------------------------------------------------- labels and rows
@given(q=st.floats(0.0, 1.0))
def test_quantile_labels_read_back_as_the_quantile(q):
    label = quantile_label(q)
    assert label.startswith("p") and float(label[1:]) == pytest.approx(100 * q, rel=1e-5, abs=1e-9)


def test_quantiles_of_by_hand():
    assert quantile_label(0.05) == "p5" and quantile_label(0.975) == "p97.5"
    assert quantiles_of(np.array([4.0, 0.0, 2.0]), [0.0, 0.25, 0.5, 1.0], "a ") == {
        "a p0": 0.0, "a p25": 1.0, "a p50": 2.0, "a p100": 4.0}


def test_build_dataset_records_the_run_settings(example):
    arrays = {"value": np.ones((4, len(example.sectors), len(example.years))),
              "full_potential": np.ones((4, len(example.sectors)))}
    ds = build_dataset(example, arrays, RunSettings(draws=4, seed=9, sampler="sobol"))
    assert (ds.attrs["draws"], ds.attrs["seed"], ds.attrs["sampler"]) == (4, 9, "sobol")
    assert ds.attrs["scenario_hash"] == example.hash
    assert ds["value"].dims == ("draw", "sector", "year") and float(ds["value"].sum()) == 4 * 3 * 11


def test_summary_and_comparison_share_the_report_rows(example, stored):
    results, _ = stored
    rows = [(r.level, r.id) for r in example.report_rows()]
    assert [key[1:] for key in results.summary().index] == rows
    comparison = digimpact.compare(results, example)
    table = comparison.summary(quantiles=(0.5,))
    assert list(table.index) == rows
    assert list(table.columns) == ["a p50", "b p50", "b-a p50", "mean b-a", "P(b>a)"]
    core = results.metric(groups=["core"]).values
    assert table.loc[("target", "core"), "a p50"] == float(np.median(core))
    assert (table["b-a p50"] == 0).all() and (table["P(b>a)"] == 0).all()


def test_npv_by_hand(example, stored):
    results, _ = stored
    value = results.aggregate(["core"]).sel(year=[2021, 2022]).values  # (draws, 2)
    npv = results.metric("npv", groups=["core"], start=2021, year=2022, rate=0.25)
    np.testing.assert_allclose(npv.values, value[:, 0] + value[:, 1] / 1.25, rtol=1e-14)
    assert results.interval(metric="npv", groups=["core"], start=2021, year=2022, rate=0.25,
                            q=[0.5]) == (float(np.median(npv.values)),)
