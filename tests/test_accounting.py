"""Accounting basis, counterfactual, estimands, non-market labels and intensity ceilings.

Every expected number is computed by hand from the closed form of the scenario under test.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import digimpact
from digimpact.adoption import logistic
from digimpact.calibrate import calibrate
from digimpact.cli import main
from digimpact.errors import ScenarioError

YEARS = np.arange(2020, 2026)


def _doc(adoption: dict, potential: float = 0.05, **scenario) -> dict:
    """One sector (GO 200, VA 80, no growth), one use case, one target on the sector."""
    return {
        "scenario": {"title": "Accounting", "unit": "u", "base_year": 2020, "horizon": [2020, 2025],
                     **scenario},
        "settings": {"draws": 3, "seed": 1},
        "sectors": {"s": {"group": "g", "value_added": 80.0, "gross_output": 200.0}},
        "use_cases": {"u": {"sector": "s", "potential": potential, "adoption": adoption}},
        "targets": {"t": {"sectors": ["s"], "high": 1.0, "tolerance": 0.1}},
    }


def _run(doc: dict, **overrides) -> digimpact.Results:
    scenario = digimpact.Scenario.from_dict(doc).with_overrides(overrides)
    return digimpact.simulate(scenario, progress=False)


STEP = {"kind": "step", "year": 2020}
LINEAR = {"kind": "linear", "start": 2020, "end": 2030, "ceiling": 0.8}
LOGISTIC = {"kind": "logistic", "midpoint": 2023, "steepness": 0.7, "ceiling": 0.9}


# ----------------------------------------------------------------------------- accounting basis
@pytest.mark.parametrize(("measure", "expected"), [("value_added", 4.0), ("gross_output", 10.0)])
def test_value_added_basis_by_hand(measure, expected):
    # 5% of VA 80 = 4.0 = 5% of revenue 200 converted with VA/GO 0.4; 5% of GO books 10.0 as VA
    r = _run(_doc(STEP, base_measure=measure))
    assert np.allclose(r.dataset["value"].values, expected, rtol=1e-15)
    assert r.dataset.attrs["accounting_basis"] == measure.replace("_", " ")
    assert r.dataset.attrs["base_measure"] == measure


def test_a_revenue_share_converted_with_va_go_is_the_same_share_of_value_added():
    go = _run(_doc(STEP, base_measure="gross_output"), **{"use_cases.u.potential": 0.05 * 80 / 200})
    va = _run(_doc(STEP, base_measure="value_added"))
    assert np.allclose(go.dataset["value"], va.dataset["value"], rtol=1e-15)


# ----------------------------------------------------------------------------- counterfactual
def test_counterfactual_subtracts_the_first_years_adoption():
    r = _run(_doc(LOGISTIC, counterfactual="first_year"))
    curve = logistic(YEARS, 2023, 0.7, 0.9)
    expected = 80.0 * 0.05 * (curve - curve[0])  # base x potential x (A(y) - A(t0))
    assert np.allclose(r.dataset["value"].values, expected, rtol=1e-12, atol=1e-15)
    assert r.dataset["value"].sel(year=2020).values.tolist() == [[0.0]] * 3
    assert r.dataset.attrs["counterfactual"] == "first_year"
    # full potential: the ceiling less the first year's level
    assert np.allclose(r.dataset["full_potential"], 80.0 * 0.05 * (0.9 - curve[0]), rtol=1e-12)


def test_no_counterfactual_keeps_the_first_years_value():
    r = _run(_doc(LOGISTIC))
    assert np.allclose(r.dataset["value"].values, 80.0 * 0.05 * logistic(YEARS, 2023, 0.7, 0.9),
                       rtol=1e-12)


_KINDS = {
    "logistic": lambda draw: {"kind": "logistic", "midpoint": draw(st.floats(2015, 2035)),
                           "steepness": draw(st.floats(0.05, 3.0)),
                           "ceiling": draw(st.floats(0.0, 1.0))},
    "gompertz": lambda draw: {"kind": "gompertz", "midpoint": draw(st.floats(2015, 2035)),
                           "steepness": draw(st.floats(0.05, 3.0)),
                           "ceiling": draw(st.floats(0.0, 1.0))},
    "bass": lambda draw: {"kind": "bass", "p": draw(st.floats(0.001, 0.2)),
                       "q": draw(st.floats(0.0, 0.9)), "start": draw(st.integers(2010, 2024)),
                       "ceiling": draw(st.floats(0.0, 1.0))},
    "linear": lambda draw: {"kind": "linear", "start": 2018, "end": draw(st.integers(2019, 2040)),
                         "ceiling": draw(st.floats(0.0, 1.0))},
    "step": lambda draw: {"kind": "step", "year": draw(st.integers(2018, 2027)),
                       "ceiling": draw(st.floats(0.0, 1.0))},
    "table": lambda draw: {"kind": "table", "points": {"2019": 0.1, "2024": 0.5, "2030": 0.8},
                        "scale": draw(st.floats(0.0, 1.25))},
}


@st.composite
def _scenarios(draw) -> dict:
    """Two sectors, three uncertain use cases of random kinds, speed / ceiling / value drivers."""
    doc = _doc(STEP)
    doc["sectors"]["t"] = {"group": "h", "value_added": draw(st.floats(1.0, 500.0)),
                           "growth": draw(st.floats(-0.05, 0.1))}
    doc["drivers"] = {
        "speed": {"acts_on": "speed", "value": {"dist": "uniform", "low": 0.5, "high": 1.5}},
        "cap": {"acts_on": "ceiling", "value": {"dist": "uniform", "low": 0.5, "high": 2.0}},
        "level": {"acts_on": "value", "value": {"dist": "lognormal", "median": 1.0, "sigma": 0.3}}}
    doc["use_cases"] = {}
    for i in range(3):
        adoption = _KINDS[draw(st.sampled_from(sorted(_KINDS)))](draw)
        drivers = draw(st.lists(st.sampled_from(["speed", "cap", "level"]), unique=True))
        doc["use_cases"][f"u{i}"] = {"sector": "s" if i < 2 else "t", "adoption": adoption,
                                     "potential": {"dist": "uniform", "low": 0.0, "high": 0.1},
                                     "drivers": drivers}
    doc["settings"] = {"draws": 64, "seed": draw(st.integers(0, 2**32)), "sampler": "random"}
    return doc


@given(_scenarios())
def test_counterfactual_is_the_value_less_the_first_years_value(doc):
    without = _run(doc)
    doc = copy.deepcopy(doc)
    doc["scenario"]["counterfactual"] = "first_year"
    uplift = _run(doc)
    # the first year's adoption, valued on each year's base (it grows at the sector's rate)
    value, base = without.dataset["value"], without.dataset["baseline"]
    first = value.isel(year=0) * base / base.isel(year=0)
    assert (uplift.dataset["value"].values >= 0).all()
    assert np.allclose(uplift.dataset["value"], value - first, rtol=1e-12, atol=1e-12)
    assert (uplift.dataset["value"].isel(year=0).values == 0).all()
    # full potential: less the first year's adoption, valued in the target year
    assert (uplift.dataset["full_potential"].values >= 0).all()
    assert np.allclose(uplift.dataset["full_potential"],
                       without.dataset["full_potential"] - first.isel(year=-1, drop=True),
                       rtol=1e-12, atol=1e-12)
    # the full potential is never below any year's adoption, valued on the target year's base
    on_target_base = value * base.isel(year=-1) / base
    assert (without.dataset["full_potential"] >= on_target_base.max("year") * (1 - 1e-12)).all()


# ----------------------------------------------------------------------------- estimands
@pytest.mark.parametrize("counterfactual", ["none", "first_year"])
def test_each_estimand_on_linear_adoption(counterfactual):
    # A(y) = 0.8 (y - 2020) / 10, so A(2025) = 0.4, A(t0) = 0; VA 80 growing 10% a year from 2020
    doc = _doc(LINEAR, counterfactual=counterfactual)
    doc["sectors"]["s"]["growth"] = 0.1
    r = _run(doc)
    base = 80.0 * 1.1 ** np.arange(6)
    share = 0.05 * 0.8 * np.arange(6) / 10
    assert np.allclose(r.metric("annual"), base[5] * share[5], rtol=1e-12)
    assert np.allclose(r.metric("cumulative"), (base * share).sum(), rtol=1e-12)
    assert np.allclose(r.metric("full_potential"), base[5] * 0.05 * 0.8, rtol=1e-12)
    assert np.allclose(r.metric("full_potential", year=2022), base[2] * 0.05 * 0.8, rtol=1e-12)
    assert r.metric("full_potential").attrs["long_name"] == "value at stake (full potential, u)"


@pytest.mark.parametrize(("estimand", "expected"), [("annual", 80 * 0.05 * 0.4),
                                                    ("cumulative", 80 * 0.05 * 0.08 * 15),
                                                    ("full_potential", 80 * 0.05 * 0.8)])
def test_targets_and_summaries_read_the_scenarios_estimand(estimand, expected):
    r = _run(_doc(LINEAR, estimand=estimand))
    check = r.check()
    assert check["estimand"].tolist() == [estimand]
    assert check["simulated"].iloc[0] == pytest.approx(expected, rel=1e-12)
    summary = r.summary()
    assert summary.index.get_level_values("metric").unique().tolist() == [estimand]
    assert summary.loc[(estimand, "total", "total"), "p50"] == pytest.approx(expected, rel=1e-12)
    assert r.dataset.attrs["estimand"] == estimand


def test_a_target_may_state_its_own_estimand():
    doc = _doc(LINEAR, estimand="full_potential")
    doc["targets"]["t"]["estimand"] = "annual"
    doc["targets"]["old"] = {"sectors": ["s"], "metric": "cumulative", "high": 1.0, "tolerance": 0.1}
    r = _run(doc)
    assert r.check()["estimand"].tolist() == ["annual", "cumulative"]
    assert r.check()["simulated"].tolist() == pytest.approx([1.6, 4.8], rel=1e-12)


@pytest.mark.parametrize(("keys", "estimand", "metrics"), [
    ({}, "annual", ("annual",)),
    ({"metric": "cumulative"}, "cumulative", ("cumulative",)),
    ({"metric": "both"}, "annual", ("annual", "cumulative")),
    ({"metric": "both", "estimand": "cumulative"}, "cumulative", ("annual", "cumulative")),
    ({"metric": "annual", "estimand": "annual"}, "annual", ("annual",)),
    ({"estimand": "full_potential"}, "full_potential", ("full_potential",)),
])
def test_the_old_metric_key_maps_onto_the_estimand(keys, estimand, metrics):
    meta = digimpact.Scenario.from_dict(_doc(STEP, **keys)).meta
    assert (meta.estimand, meta.metrics) == (estimand, metrics)


def test_calibration_follows_a_full_potential_target(example):
    s = example.with_overrides({"scenario.estimand": "full_potential",
                                "targets.core.estimand": "full_potential", "targets.core.low": 2.5,
                                "targets.core.high": 5.0,
                                "drivers.realisation.value": {"dist": "lognormal", "median": 1.0,
                                                              "sigma": 0.2}})
    fitted, report = calibrate(s, params=["drivers.realisation.value.median"], draws=500)
    assert report.success and report.parameters.loc["drivers.realisation.value.median", "fitted"] > 1.1
    # the reweighted per-use-case full potentials equal a full simulation of the fitted scenario
    check = digimpact.simulate(fitted, draws=500, progress=False).check()
    assert np.allclose(check["simulated"], report.targets["achieved"], rtol=1e-9)


# ----------------------------------------------------------------------------- labels
def test_labels_name_the_estimand_and_the_non_market_gains():
    doc = _doc(STEP)
    doc["sectors"]["gov"] = {"name": "Government", "group": "g", "value_added": 20.0, "market": False}
    doc["use_cases"]["v"] = {"sector": "gov", "potential": 0.1, "adoption": STEP}
    r = _run(doc)
    ds = r.dataset
    assert ds["value"].attrs["long_name"] == "value at stake (annual, u)"
    assert ds["full_potential"].attrs["long_name"] == "value at stake (full potential, u)"
    assert ds["market"].values.tolist() == [True, False]
    labels = r.summary()["label"].droplevel("metric")
    assert labels[("sector", "gov")] == "Government (cost and time savings)"
    assert labels[("sector", "s")] == "s"
    assert labels[("total", "total")] == "All sectors (incl. cost and time savings)"
    assert r.check_intensity()["gain"].tolist() == ["value at stake", "cost and time savings"]


def test_labels_survive_a_results_file(tmp_path):
    r = _run(_doc(STEP, counterfactual="first_year"))
    back = digimpact.open_results(r.to_netcdf(tmp_path / "r.nc"))
    assert back.dataset["market"].values.tolist() == [True]
    for key in ("estimand", "accounting_basis", "counterfactual", "price_basis"):
        assert back.dataset.attrs[key] == r.dataset.attrs[key]


def test_run_table_header_states_the_reading(tmp_path, capsys):
    path = tmp_path / "a.toml"
    doc = _doc(LINEAR, estimand="cumulative", counterfactual="first_year", base_measure="value_added")
    doc["sectors"]["gov"] = {"group": "g", "value_added": 20.0, "market": False}
    digimpact.Scenario.from_dict(doc).to_toml(path)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert ("estimand: value at stake summed over 2020-2025, over the adoption of 2020; accounting "
            "basis: value added; prices: nominal; unit: u") in out
    assert "(cost and time savings)" in out and "non-market" in out


# ----------------------------------------------------------------------------- intensity
def _ceiling(value: float) -> dict:
    return {"value": value, "source": "hand"}


def test_intensity_is_value_over_value_added():
    doc = _doc(LINEAR)
    doc["sectors"]["s"]["intensity_ceiling"] = _ceiling(0.03)
    r = _run(doc)
    assert np.allclose(r.intensity(), 0.05 * 0.4, rtol=1e-12)  # 1.6 / 80
    assert np.allclose(r.intensity(estimand="full_potential"), 0.05 * 0.8, rtol=1e-12)
    assert np.allclose(r.intensity(estimand="cumulative"), 0.05 * 0.4, rtol=1e-12)  # its last year
    table = r.check_intensity()
    assert table[["sector", "median", "p95", "ceiling", "ok"]].values.tolist() == [
        ["s", pytest.approx(0.02), pytest.approx(0.02), 0.03, True]]
    over = r.check_intensity(estimand="full_potential")  # 0.04 > 0.03
    assert over["ok"].tolist() == [False] and over["source"].tolist() == ["hand"]


def test_a_sector_without_a_ceiling_is_reported_not_flagged():
    table = _run(_doc(STEP)).check_intensity()
    assert np.isnan(table["ceiling"].iloc[0]) and table["ok"].all()
    assert table["median"].iloc[0] == pytest.approx(0.05)


@pytest.mark.parametrize(("ceiling", "code"), [(0.5, 0), (0.01, 1)])
def test_check_flags_a_sector_over_its_ceiling(tmp_path, capsys, ceiling, code):
    doc = _doc(LINEAR)
    doc["sectors"]["s"]["intensity_ceiling"] = _ceiling(ceiling)
    doc["targets"]["t"]["high"] = 1.6  # met
    path = tmp_path / "a.toml"
    digimpact.Scenario.from_dict(doc).to_toml(path)
    assert main(["check", str(path), "--format", "json"]) == code
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["targets_met"] is True
    assert doc["intensities_within_ceiling"] is (code == 0)
    assert doc["intensities"][0]["median"] == pytest.approx(0.02)
    assert doc["intensities"][0]["ceiling"] == ceiling
    assert ("over their intensity ceiling" in err) is (code == 1)
    assert main(["check", str(path)]) == code
    assert "Intensity (value / value added, 2025)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- schema errors
@pytest.mark.parametrize(("path", "value", "message"), [
    ("scenario.estimand", "anual", "expected one of 'annual', 'cumulative', 'full_potential', got "
                                   "'anual' (did you mean 'annual'?)"),
    ("scenario.estimand", 3, "expected a string, got 3"),
    ("scenario.counterfactual", "first year", "did you mean 'first_year'?"),
    ("scenario.counterfactual", True, "expected a string, got True"),
    ("targets.t.estimand", "full_potental", "did you mean 'full_potential'?"),
    ("targets.t.metric", "both", "expected one of 'annual', 'cumulative', got 'both'"),
    ("sectors.s.market", "no", "expected true or false, got 'no'"),
    ("sectors.s.intensity_ceiling", 0.3, "expected a table { value = <largest value / value "
                                         "added>, source = \"...\" }, got 0.3"),
    ("sectors.s.intensity_ceiling", {"value": 0.3}, "missing required key 'source'"),
    ("sectors.s.intensity_ceiling", {"value": 0.0, "source": "x"}, "expected a number > 0, got 0"),
    ("sectors.s.intensity_ceiling", {"valu": 0.3, "source": "x"}, "did you mean 'value'?"),
])
def test_schema_errors_for_the_new_keys(path, value, message):
    with pytest.raises(ScenarioError, match="^.*" + _escape(message)) as info:
        digimpact.Scenario.from_dict(_doc(STEP)).with_overrides({path: value})
    assert info.value.path.startswith(path)


def test_contradictory_metric_and_estimand_is_one_error():
    with pytest.raises(ScenarioError) as info:
        digimpact.Scenario.from_dict(_doc(STEP, metric="cumulative", estimand="annual"), "a.toml")
    err = info.value
    assert (err.file, err.path) == ("a.toml", "scenario.metric")
    assert err.message == ("metric = 'cumulative' (the older name of estimand = 'cumulative') "
                           "contradicts estimand = 'annual'; give estimand only")


def _escape(text: str) -> str:
    import re

    return re.escape(text)
