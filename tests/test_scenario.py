"""Scenario files: loading, validation errors, extends, editing, serialisation, hashing."""

from __future__ import annotations

import copy
import datetime
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from digimpact import ScenarioError, load_scenario
from digimpact.adoption import bass
from digimpact.distributions import Distribution
from digimpact.scenario import Scenario
from digimpact.schema import BASS_P, BASS_Q, MAX_HORIZON, MAX_LEVEL, YEARS

# ----------------------------------------------------------------------------- the example


def test_example_loads(example, example_path):
    s = example
    assert isinstance(s, Scenario)
    assert s.file == str(example_path)
    assert s.meta.title.startswith("Minimal example")
    assert s.meta.unit == "JPY trillion"
    assert s.meta.base_year == 2018
    assert s.meta.horizon == (2020, 2030)
    assert list(s.years) == list(range(2020, 2031))
    assert s.meta.metrics == ("annual",)
    assert s.meta.base_measure == "gross_output"
    assert (s.settings.draws, s.settings.seed, s.settings.sampler) == (20000, 2030, "lhs")
    assert list(s.sectors) == ["retail", "finance", "transport"]
    assert s.groups == ("core", "other")
    assert s.sectors_in(["core"]) == ["retail", "finance"]
    assert s.sectors_in(["other"], ["retail"]) == ["retail", "transport"]
    assert list(s.drivers) == ["talent", "realisation", "regulation"]
    assert [d.acts_on for d in s.drivers.values()] == ["speed", "value", "ceiling"]
    # the disabled use case is left out; every curve kind is used
    assert "retired_idea" not in s.use_cases
    assert len(s.use_cases) == 7
    assert {u.adoption.kind for u in s.use_cases.values()} == {
        "logistic", "bass", "gompertz", "linear", "step", "table"}


def test_example_defaults_and_profiles(example):
    retail, finance = example.sectors["retail"], example.sectors["finance"]
    assert (retail.year, retail.growth, retail.gross_output) == (2018, 0.005, 116.6583)
    assert (finance.year, finance.growth, finance.potential_scale) == (2018, 0.0, 1.0)
    # grown baseline: 116.6583 * 1.005^(2030 - 2018)
    assert retail.base("gross_output", 2030) == pytest.approx(116.6583 * 1.005**12, rel=1e-14)
    assert retail.base("value_added", 2018) == 74.7805

    dp = example.use_cases["dynamic_pricing"]
    assert dp.profile == "retail_wave1"
    assert dp.technology == "traditional_ml" and dp.wave == 1
    assert dp.drivers == ("talent", "realisation")
    assert dp.adoption.kind == "logistic"
    assert dp.adoption.params["midpoint"].support() == (2024.0, 2027.0)
    assert dp.adoption.params["steepness"].value == 0.9
    df = example.use_cases["demand_forecast"]
    # only the midpoint differs from the profile; the profile's other adoption keys stay
    assert df.adoption.params["midpoint"].value == 2025.0
    assert df.adoption.params["ceiling"].value == 0.9
    assert df.technology == "deep_learning_vision" and df.deep_dive
    # PERT potential from the profile: mean (a + 4m + b) / 6
    assert df.potential.mean() == pytest.approx((0.004 + 4 * 0.008 + 0.015) / 6, rel=1e-12)
    ec = example.use_cases["ecommerce"]
    assert ec.adoption.points == {2020: 0.09, 2025: 0.20, 2030: 0.30}
    loans = example.use_cases["instant_loans"]
    assert loans.adoption.params["q"].value == 0.38
    assert loans.adoption.params["ceiling"].value == 0.8


def test_example_targets_and_correlations(example):
    t = example.targets["core"]
    assert t.groups == ("core",) and t.year == 2030 and t.estimand == "annual"
    assert t.bounds() == [("low", 0.05, 2.0), ("high", 0.95, 3.5)]
    assert t.tolerance == 0.5
    (c,) = example.correlations
    assert c.params == ("use_cases.instant_loans.potential", "use_cases.mobile_banking.potential")
    assert c.rank == 0.6


def test_parameters_named_by_key_path(example):
    params = example.parameters()
    n_adoption = sum(len(u.adoption.params) for u in example.use_cases.values())
    assert len(params) == len(example.use_cases) + n_adoption + len(example.drivers)
    assert params["use_cases.route_optimisation.potential"].value == 0.01
    assert params["drivers.regulation.value"].support() == (0.8, 1.0)
    assert params["use_cases.ecommerce.adoption.scale"].support() == (0.8, 1.2)
    assert not any("retired_idea" in name for name in params)


def test_frames(example):
    sectors = example.sectors_frame()
    assert list(sectors.index) == ["retail", "finance", "transport"]
    assert sectors["use_cases"].tolist() == [3, 2, 2]
    ucs = example.use_cases_frame()
    assert list(ucs.index) == list(example.use_cases)
    assert ucs.loc["route_optimisation", "potential_median"] == 0.01
    # PERT(0.004, 0.008, 0.015) median = low + width * median of Beta(1 + 4*4/11, 1 + 4*7/11)
    pert_median = 0.004 + 0.011 * stats.beta(1 + 16 / 11, 1 + 28 / 11).median()
    assert ucs.loc["dynamic_pricing", "potential_median"] == pytest.approx(pert_median, rel=1e-9)
    assert ucs.loc["autonomous_trucks", "potential_median"] == pytest.approx(0.0125, rel=1e-12)
    assert ucs.loc["ecommerce", "adoption"] == "table"


def test_repr_and_html(example):
    assert repr(example).startswith("<Scenario 'Minimal example")
    assert "3 sectors, 7 use cases, 3 drivers, 1 targets" in repr(example)
    html = example._repr_html_()
    assert html.index("Sectors") < html.index("Use cases")
    sectors_part, uc_part = html.split("Use cases", 1)
    for s in example.sectors.values():
        assert s.id in sectors_part and s.name.replace("&", "&amp;") in sectors_part
    # use cases folded per sector: one closed <details> each, holding that sector's use cases
    folds = uc_part.split("<details>")[1:]
    assert len(folds) == len(example.sectors) and "<details open" not in html
    assert html.count("<table") == 1 + len(example.sectors)
    for s, fold in zip(example.sectors.values(), folds, strict=True):
        mine = [u.id for u in example.use_cases.values() if u.sector == s.id]
        assert f"({s.id}): {len(mine)} use cases</summary>" in fold
        assert all(u in fold for u in mine)
        assert not any(u.id in fold for u in example.use_cases.values() if u.sector != s.id)
    assert "retired_idea" not in html
    assert example.hash[:12] in html and "target year 2030" in html


def test_sources_lists_every_source_key(example, example_path):
    raw = tomllib.loads(example_path.read_text())

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, f"{prefix}.{k}" if prefix else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{prefix}[{i}]")
        elif prefix.rsplit(".", 1)[-1] == "source":
            yield prefix, node

    expected = sorted(walk(raw, ""))
    got = example.sources()
    assert list(got.columns) == ["key", "source"]
    assert sorted(zip(got["key"], got["source"], strict=True)) == expected
    assert len(expected) == 13
    assert ("drivers.talent.value.source", "illustrative") in expected
    assert ("correlations[0].source", "illustrative") in expected


# ----------------------------------------------------------------------------- errors
BASE = {
    "scenario": {"title": "T", "unit": "u", "base_year": 2020, "horizon": [2020, 2030]},
    "settings": {"draws": 100, "seed": 1, "sampler": "random"},
    "sectors": {
        "retail": {"group": "core", "value_added": 10.0, "source": "s1"},
        "finance": {"group": "other", "value_added": 5.0},
    },
    "drivers": {"talent": {"acts_on": "speed",
                           "value": {"dist": "uniform", "low": 0.8, "high": 1.2}}},
    "profiles": {"p1": {"technology": "ml",
                        "potential": {"dist": "uniform", "low": 0.01, "high": 0.02}}},
    "use_cases": {
        "pricing": {"sector": "retail", "profile": "p1", "drivers": ["talent"],
                    "adoption": {"kind": "logistic", "midpoint": 2025, "steepness": 0.8}},
        "loans": {"sector": "finance", "wave": 2,
                  "potential": {"dist": "uniform", "low": 0.01, "high": 0.03},
                  "adoption": {"kind": "bass", "p": {"dist": "uniform", "low": 0.02, "high": 0.04},
                               "q": 0.38, "start": 2020}},
    },
    "targets": {"core": {"groups": ["core"], "low": 0.1, "high": 0.5, "tolerance": 0.1}},
    "correlations": [{"params": ["use_cases.pricing.potential", "use_cases.loans.potential"],
                      "rank": 0.5}],
}

DELETE = object()


def edited(changes: dict) -> dict:
    """BASE with ``{dotted.path: value}`` set (``DELETE`` removes the key)."""
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = doc
        for k in parents:
            node = node[int(k)] if isinstance(node, list) else node[k]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def write_doc(directory: Path, doc: dict, name: str = "scenario.toml") -> Path:
    path = Path(directory) / name
    path.write_text(tomli_w.dumps(doc))
    return path


def load_error(path: Path, key_path: str, *fragments: str, file: Path | None = None
               ) -> ScenarioError:
    """Load ``path``, expect one ScenarioError naming ``file`` (default: ``path``) and
    ``key_path``."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    named = (file or path).resolve()
    assert type(err) is ScenarioError and isinstance(err, ValueError)
    assert err.__cause__ is None
    assert err.file == str(named)
    assert err.path == key_path
    assert str(err).startswith(f"{named}: {key_path}: " if key_path else f"{named}: ")
    for fragment in fragments:
        assert fragment in str(err)
    return err


def test_base_document_is_valid(tmp_path):
    s = load_scenario(write_doc(tmp_path, BASE))
    assert list(s.use_cases) == ["pricing", "loans"]
    assert s.use_cases["pricing"].potential.support() == (0.01, 0.02)


ERRORS = {
    # unknown keys, with a suggestion
    "unknown adoption key": ({"use_cases.pricing.adoption.midpont": 2025},
                             "use_cases.pricing.adoption.midpont",
                             ["unknown key 'midpont'", "did you mean 'midpoint'?"]),
    "unknown section": ({"sector": {}}, "sector", ["did you mean 'sectors'?"]),
    "unknown sector key": ({"sectors.retail.valu_added": 1.0}, "sectors.retail.valu_added",
                           ["did you mean 'value_added'?"]),
    "unknown use case key": ({"use_cases.loans.potental": 0.1}, "use_cases.loans.potental",
                             ["did you mean 'potential'?"]),
    "unknown profile key": ({"profiles.p1.technolgy": "x"}, "profiles.p1.technolgy",
                            ["did you mean 'technology'?"]),
    "unknown target key": ({"targets.core.tolerence": 1.0}, "targets.core.tolerence",
                           ["did you mean 'tolerance'?"]),
    "unknown scenario key": ({"scenario.horizn": [2020, 2030]}, "scenario.horizn",
                             ["did you mean 'horizon'?"]),
    "unknown curve kind": ({"use_cases.loans.adoption.kind": "bas"},
                           "use_cases.loans.adoption.kind", ["did you mean 'bass'?"]),
    "unknown dist": ({"use_cases.loans.potential.dist": "unifrom"},
                     "use_cases.loans.potential.dist", ["did you mean 'uniform'?"]),
    "unknown sampler": ({"settings.sampler": "lsh"}, "settings.sampler", ["did you mean 'lhs'?"]),
    # dangling references
    "dangling sector": ({"use_cases.pricing.sector": "retial"}, "use_cases.pricing.sector",
                        ["unknown sector 'retial'", "did you mean 'retail'?"]),
    "dangling driver": ({"use_cases.pricing.drivers": ["talnet"]}, "use_cases.pricing.drivers",
                        ["unknown driver 'talnet'", "did you mean 'talent'?"]),
    "dangling profile": ({"use_cases.pricing.profile": "p11"}, "use_cases.pricing.profile",
                         ["unknown profile 'p11'", "did you mean 'p1'?"]),
    # ranges and domains
    "inverted range": ({"use_cases.loans.potential.low": 0.05}, "use_cases.loans.potential.high",
                       ["expected low <= high"]),
    "share above one": ({"use_cases.loans.potential.high": 1.5}, "use_cases.loans.potential",
                        ["within [0, 1]", "1.5"]),
    "ceiling above one": ({"use_cases.pricing.adoption.ceiling": 2},
                          "use_cases.pricing.adoption.ceiling", ["within [0, 1]"]),
    "negative potential": ({"use_cases.loans.potential": -0.01}, "use_cases.loans.potential",
                           ["within [0, 1]"]),
    "zero steepness": ({"use_cases.pricing.adoption.steepness": 0.0},
                       "use_cases.pricing.adoption.steepness", ["greater than 0"]),
    "speed driver can be negative": ({"drivers.talent.value.low": -0.1}, "drivers.talent.value",
                                     ["greater than 0"]),
    "linear end before start": ({"use_cases.loans.adoption": {"kind": "linear", "start": 2025,
                                                              "end": 2022}},
                                "use_cases.loans.adoption.end", ["start"]),
    "table above one": ({"use_cases.loans.adoption": {"kind": "table", "points": {"2020": 0.5,
                                                                                   "2030": 0.8},
                                                      "scale": 1.5}},
                        "use_cases.loans.adoption.scale", ["must not exceed 1"]),
    "table decreasing": ({"use_cases.loans.adoption": {"kind": "table",
                                                       "points": {"2020": 0.5, "2030": 0.4}}},
                         "use_cases.loans.adoption.points", ["do not decrease"]),
    "table year key": ({"use_cases.loans.adoption": {"kind": "table", "points": {"y2020": 0.5}}},
                       "use_cases.loans.adoption.points.y2020", ["year"]),
    "horizon inverted": ({"scenario.horizon": [2030, 2020]}, "scenario.horizon", ["first <= last"]),
    "target year outside horizon": ({"targets.core.year": 2040}, "targets.core.year", ["horizon"]),
    "negative value added": ({"sectors.retail.value_added": -1.0}, "sectors.retail.value_added",
                             ["> 0"]),
    # non-finite numbers
    "nan value added": ({"sectors.retail.value_added": math.nan}, "sectors.retail.value_added",
                        ["finite", "nan"]),
    "inf in a dist": ({"use_cases.loans.potential.high": math.inf},
                      "use_cases.loans.potential.high", ["finite", "inf"]),
    "nan midpoint": ({"use_cases.pricing.adoption.midpoint": math.nan},
                     "use_cases.pricing.adoption.midpoint", ["finite"]),
    "-inf growth": ({"sectors.finance.growth": -math.inf}, "sectors.finance.growth", ["finite"]),
    "nan tolerance": ({"targets.core.tolerance": math.nan}, "targets.core.tolerance", ["finite"]),
    # missing required keys
    "missing value added": ({"sectors.retail.value_added": DELETE}, "sectors.retail.value_added",
                            ["missing required key 'value_added'"]),
    "missing group": ({"sectors.retail.group": DELETE}, "sectors.retail.group",
                      ["missing required key 'group'"]),
    "missing sector": ({"use_cases.loans.sector": DELETE}, "use_cases.loans.sector",
                       ["missing required key 'sector'"]),
    "missing potential": ({"use_cases.loans.potential": DELETE}, "use_cases.loans.potential",
                          ["missing required key 'potential'"]),
    "missing adoption": ({"use_cases.loans.adoption": DELETE}, "use_cases.loans.adoption",
                         ["missing required key 'adoption'"]),
    "missing curve parameter": ({"use_cases.pricing.adoption.midpoint": DELETE},
                                "use_cases.pricing.adoption.midpoint",
                                ["missing required key 'midpoint'"]),
    "missing title": ({"scenario.title": DELETE}, "scenario.title",
                      ["missing required key 'title'"]),
    "missing horizon": ({"scenario.horizon": DELETE}, "scenario.horizon", ["missing required key"]),
    "missing scenario table": ({"scenario": DELETE}, "scenario", ["[scenario]"]),
    "missing sectors": ({"sectors": DELETE}, "sectors", ["[sectors]"]),
    "missing tolerance": ({"targets.core.tolerance": DELETE}, "targets.core.tolerance",
                          ["missing required key 'tolerance'"]),
    "missing dist key": ({"use_cases.loans.potential.high": DELETE},
                         "use_cases.loans.potential.high", ["missing key 'high'"]),
    "no enabled use case": ({"use_cases.loans.enabled": False, "use_cases.pricing.enabled": False,
                             "correlations": []}, "use_cases", ["at least one enabled"]),
    # bad types
    "text number": ({"sectors.retail.value_added": "ten"}, "sectors.retail.value_added",
                    ["expected a number", "'ten'"]),
    "boolean number": ({"use_cases.loans.potential": True}, "use_cases.loans.potential",
                       ["expected a number"]),
    "number group": ({"sectors.retail.group": 3}, "sectors.retail.group", ["expected a string"]),
    "fractional wave": ({"use_cases.loans.wave": 1.5}, "use_cases.loans.wave",
                        ["expected a whole number"]),
    "zero wave": ({"use_cases.loans.wave": 0}, "use_cases.loans.wave", ["from 1 to 100"]),
    "text flag": ({"use_cases.loans.deep_dive": "yes"}, "use_cases.loans.deep_dive",
                  ["expected true or false"]),
    "drivers not a list": ({"use_cases.pricing.drivers": "talent"}, "use_cases.pricing.drivers",
                           ["expected a list of names"]),
    "draws text": ({"settings.draws": "many"}, "settings.draws", ["expected a whole number"]),
    "draws zero": ({"settings.draws": 0}, "settings.draws", ["from 1 to"]),
    "seed negative": ({"settings.seed": -1}, "settings.seed", ["from 0 to"]),
    "horizon floats": ({"scenario.horizon": [2020.0, 2030.0]}, "scenario.horizon", ["first year"]),
    "sector not a table": ({"sectors.retail": 5}, "sectors.retail", ["expected a table"]),
    "adoption not a table": ({"use_cases.loans.adoption": 0.5}, "use_cases.loans.adoption.kind",
                             ["expected kind"]),
    "distribution where a number is needed": (
        {"sectors.retail.value_added": {"dist": "uniform", "low": 1, "high": 2}},
        "sectors.retail.value_added", ["fixed number"]),
    # targets
    "target low above high": ({"targets.core.low": 0.6}, "targets.core.high",
                              ["expected low <= high"]),
    "target unknown group": ({"targets.core.groups": ["cor"]}, "targets.core.groups",
                             ["unknown group 'cor'", "did you mean 'core'?"]),
    "target unknown sector": ({"targets.core.sectors": ["retial"]}, "targets.core.sectors",
                              ["did you mean 'retail'?"]),
    "target adds nothing": ({"targets.core.groups": DELETE}, "targets.core.groups",
                            ["'groups' or 'sectors'"]),
    "target without bounds": ({"targets.core.low": DELETE, "targets.core.high": DELETE},
                              "targets.core.high", ["'low' or a 'high'"]),
    "target bad quantiles": ({"targets.core.quantiles": [0.9, 0.1]}, "targets.core.quantiles",
                             ["quantile"]),
    # issue 9: what passed validation, then broke hash, to_netcdf or simulate
    "datetime in a scenario note": ({"scenario.note": datetime.date(2021, 1, 1)}, "scenario.note",
                                    ["expected a string", "datetime.date(2021, 1, 1)"]),
    "datetime in an adoption source": ({"use_cases.loans.adoption.source": datetime.time(12, 0)},
                                       "use_cases.loans.adoption.source", ["expected a string"]),
    "datetime in a target note": ({"targets.core.note": datetime.datetime(2021, 1, 1)},
                                  "targets.core.note", ["expected a string"]),
    "datetime in a correlation source": ({"correlations": [{**BASE["correlations"][0],
                                                            "source": datetime.date(2021, 1, 1)}]},
                                         "correlations[0].source", ["expected a string"]),
    "datetime in an unused profile": ({"profiles.p2": {"potential": datetime.date(2021, 1, 1)}},
                                      "profiles.p2.potential", ["got datetime.date(2021, 1, 1)"]),
    "wrong type in an unused profile": ({"profiles.p2": {"wave": "two"}}, "profiles.p2.wave",
                                        ["expected a whole number"]),
    "NUL in the title": ({"scenario.title": "T\0"}, "scenario.title", ["without NUL"]),
    "NUL in a sector id": ({"sectors.re\0tail": {"group": "core", "value_added": 1.0}},
                           "sectors.re\\0tail", ["without NUL"]),
    "growth overflows from year 900": ({"sectors.retail.growth": 1.0, "sectors.retail.year": 900},
                                       "sectors.retail.year", ["from 1900 to 2200", "900"]),
    "growth overflows over the horizon": ({"sectors.retail.growth": 1.0,
                                           "scenario.horizon": [2020, 2200]},
                                          "sectors.retail.growth", ["below 1e+15"]),
    "shrinking growth overflows backwards": ({"sectors.retail.growth": -0.99,
                                              "sectors.retail.year": 2100},
                                             "sectors.retail.growth", ["below 1e+15"]),
    "horizon of two million years": ({"scenario.horizon": [2020, 2030000]}, "scenario.horizon",
                                     ["<= 2200", "at most 200 years"]),
    "horizon too long": ({"scenario.horizon": [1950, 2151]}, "scenario.horizon",
                         ["at most 200 years"]),
    "base year outside the range": ({"scenario.base_year": 1066}, "scenario.base_year",
                                    ["from 1900 to 2200"]),
    "huge integer": ({"sectors.retail.value_added": 10**400}, "sectors.retail.value_added",
                     ["between -1e+15 and 1e+15", "an integer of 401 digits"]),
    "huge base": ({"sectors.retail.value_added": 1e300}, "sectors.retail.value_added",
                  ["between -1e+15 and 1e+15"]),
    "huge potential scale": ({"sectors.retail.potential_scale": 1e10},
                             "sectors.retail.potential_scale", ["<= 100"]),
    "huge seed": ({"settings.seed": 2**64}, "settings.seed", ["from 0 to 9223372036854775807"]),
    "lognormal sigma 1000": ({"drivers.talent.value": {"dist": "lognormal", "median": 1,
                                                       "sigma": 1000}},
                             "drivers.talent.value.sigma", ["expected sigma <= 5"]),
    "lognormal p05 p95 too far apart": ({"drivers.talent.value": {"dist": "lognormal", "p05": 1e-9,
                                                                  "p95": 1e9}},
                                        "drivers.talent.value.p95", ["expected sigma <= 5"]),
    "bass p 1e-300": ({"use_cases.loans.adoption.p": 1e-300}, "use_cases.loans.adoption.p",
                      ["within [1e-06, 1]"]),
    "bass q 1e10": ({"use_cases.loans.adoption.q": 1e10}, "use_cases.loans.adoption.q",
                    ["within [0, 1]"]),
    "truncated normal too extreme for scipy": (
        {"use_cases.loans.potential": {"dist": "normal", "mean": 1e15, "sd": 1e15, "low": 0.0,
                                       "high": 1.0}},
        "use_cases.loans.potential", ["scipy evaluates accurately", "support [0, 1]"]),
    "year parameter out of range": ({"use_cases.pricing.adoption.midpoint": {
        "dist": "normal", "mean": 2025, "sd": 100}}, "use_cases.pricing.adoption.midpoint",
        ["within the years 1900-2200"]),
    "value drivers overflow": ({**{f"drivers.big{i}": {"value": {"dist": "lognormal", "sigma": 5,
                                                                "median": 1e15}} for i in range(4)},
                                "use_cases.loans.drivers": [f"big{i}" for i in range(4)]},
                               "use_cases.loans.drivers", ["below 1e+100", "about 1e13"]),
    "driver named twice": ({"use_cases.pricing.drivers": ["talent", "talent"]},
                           "use_cases.pricing.drivers", ["each name once", "'talent' twice"]),
    "duplicate table years": ({"use_cases.loans.adoption": {"kind": "table", "points": {
        "2025": 0.2, "02025": 0.5}}}, "use_cases.loans.adoption.points.02025",
        ["year 2025 is given twice, as '2025' and '02025'"]),
    "superscript year": ({"use_cases.loans.adoption": {"kind": "table", "points": {"\u00b2": 0.2}}},
                         "use_cases.loans.adoption.points.\u00b2", ["expected a year as key"]),
    "table year out of range": ({"use_cases.loans.adoption": {"kind": "table",
                                                              "points": {"20250": 0.2}}},
                                "use_cases.loans.adoption.points.20250", ["from 1900 to 2200"]),
    "contradictory correlations": ({"correlations": [
        {"params": ["use_cases.pricing.potential", "use_cases.loans.potential"], "rank": 0.9},
        {"params": ["use_cases.loans.potential", "use_cases.pricing.potential"], "rank": -0.9}]},
        "correlations[1].params", ["each pair once", "correlations[0]"]),
    "duplicate correlations": ({"correlations": BASE["correlations"] * 2},
                               "correlations[1].params", ["each pair once"]),
    # correlations
    "correlation unknown parameter": (
        {"correlations.0.params": ["use_cases.pricing.potential", "use_cases.loans.potentail"]},
        "correlations[0].params",
        ["unknown parameter", "did you mean 'use_cases.loans.potential'?"]),
    "correlation fixed parameter": (
        {"correlations.0.params": ["use_cases.pricing.potential", "use_cases.loans.adoption.q"]},
        "correlations[0].params", ["is fixed"]),
    "correlation same parameter twice": (
        {"correlations.0.params": ["use_cases.loans.potential", "use_cases.loans.potential"]},
        "correlations[0].params", ["each name once"]),
    "correlation rank one": ({"correlations.0.rank": 1.0}, "correlations[0].rank",
                             ["strictly between -1 and 1"]),
    "correlation rank below minus one": ({"correlations.0.rank": -1.5}, "correlations[0].rank",
                                         ["strictly between -1 and 1"]),
    "correlation missing rank": ({"correlations.0.rank": DELETE}, "correlations[0].rank",
                                 ["missing required key 'rank'"]),
    "correlation disabled use case": ({"use_cases.loans.enabled": False}, "correlations[0].params",
                                      ["unknown parameter 'use_cases.loans.potential'"]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_scenario_errors(tmp_path, case):
    changes, key_path, fragments = ERRORS[case]
    path = write_doc(tmp_path, edited(changes))
    load_error(path, key_path, *fragments)


def test_error_without_file_has_only_the_key_path():
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(edited({"sectors.retail.value_added": "ten"}))
    assert info.value.file is None
    assert str(info.value).startswith("sectors.retail.value_added: expected a number")


def test_scenario_error_pickles():
    import pickle

    err = ScenarioError("bad", "a.b", "f.toml")
    back = pickle.loads(pickle.dumps(err))
    assert (back.message, back.path, back.file, str(back)) == ("bad", "a.b", "f.toml",
                                                               "f.toml: a.b: bad")


VALUE_KINDS = ["text", True, -1, 0, 2.5, 1e300, math.nan, math.inf, "2020"]


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path


@pytest.mark.parametrize("bad", VALUE_KINDS, ids=repr)
def test_any_bad_leaf_gives_scenario_error_or_valid_scenario(bad):
    """Replace each leaf in turn: the result loads or raises ScenarioError, nothing else."""
    outcomes = set()
    for path in _leaves(BASE):
        doc = copy.deepcopy(BASE)
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = bad
        try:
            Scenario.from_dict(doc, "f.toml")
            outcomes.add("ok")
        except ScenarioError as err:
            assert err.file == "f.toml", err
            outcomes.add("error")
    assert "error" in outcomes


@pytest.mark.parametrize("key", ["use_cases.loans.potential.dist", "use_cases.loans.adoption.kind"])
@pytest.mark.parametrize("bad", [["uniform"], {"x": 1}], ids=["array", "table"])
def test_unhashable_kind_gives_scenario_error(tmp_path, key, bad):
    load_error(write_doc(tmp_path, edited({key: bad})), key)


@pytest.mark.parametrize("key", ["drivers.talent.value", "use_cases.pricing.adoption.steepness",
                                 "use_cases.loans.adoption.p"])
def test_lognormal_allowed_for_positive_parameters(tmp_path, key):
    doc = edited({key: {"dist": "lognormal", "median": 0.05, "sigma": 0.2}})
    s = load_scenario(write_doc(tmp_path, doc))
    assert s.parameters()[key].median() == pytest.approx(0.05)


def test_lognormal_allowed_for_nonnegative_parameters(tmp_path):
    doc = edited({"drivers.talent.acts_on": "value",
                  "drivers.talent.value": {"dist": "lognormal", "p05": 0.8, "p95": 1.25}})
    s = load_scenario(write_doc(tmp_path, doc))
    assert s.drivers["talent"].value.ppf(0.95) == pytest.approx(1.25)


# ----------------------------------------------------------------------------- file errors
def test_invalid_toml(write_toml):
    path = write_toml('[scenario]\ntitle = "unterminated\n')
    load_error(path, "", "invalid TOML")


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found") as info:
        load_scenario(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_extends_cycle(write_toml):
    a = write_toml('extends = "b.toml"\n', "a.toml")
    b = write_toml('extends = "a.toml"\n', "b.toml")
    # named: the file whose extends closes the cycle
    load_error(a, "extends", "cycle in extends", "a.toml -> b.toml -> a.toml", file=b)


def test_extends_self(write_toml):
    a = write_toml('extends = "a.toml"\n', "a.toml")
    load_error(a, "extends", "cycle in extends: a.toml -> a.toml")


def test_extends_missing_file(write_toml):
    path = write_toml('extends = "missing.toml"\n', "variant.toml")
    load_error(path, "extends", "scenario file not found", "missing.toml")


def test_extends_must_be_names(write_toml):
    path = write_toml("extends = 3\n", "variant.toml")
    load_error(path, "extends", "file name")


# ----------------------------------------------------------------------------- extends
def test_variant_overrides_one_value_by_key(write_toml, small_toml):
    write_toml(small_toml, "base.toml")
    variant = write_toml("""\
        # a what-if: a wider potential for u1
        extends = "base.toml"

        [use_cases.u1.potential]
        high = 0.03
        """, "variant.toml")
    base_s = load_scenario(variant.parent / "base.toml")
    var_s = load_scenario(variant)
    expected = base_s.to_dict()
    expected["use_cases"]["u1"]["potential"]["high"] = 0.03
    assert var_s.to_dict() == expected
    assert var_s.use_cases["u1"].potential.support() == (0.01, 0.03)
    assert var_s.use_cases["u1"].potential.kind == "uniform"
    assert var_s.hash != base_s.hash
    assert var_s.file == str(variant)


def test_variant_replaces_a_distribution_by_a_number(write_toml, small_toml):
    write_toml(small_toml, "base.toml")
    variant = write_toml('extends = "base.toml"\n[use_cases.u1]\npotential = 0.015\n', "v.toml")
    s = load_scenario(variant)
    assert s.use_cases["u1"].potential.is_fixed and s.use_cases["u1"].potential.value == 0.015
    assert s.document["use_cases"]["u1"]["potential"] == 0.015


def test_variant_replaces_a_distribution_by_another(write_toml, example_path):
    variant = write_toml(f"""\
        extends = "{example_path}"

        [use_cases.ecommerce]
        potential = {{ dist = "uniform", low = 0.01, high = 0.03 }}
        """, "variant.toml")
    s = load_scenario(variant)
    # a table with 'dist' replaces the base's table (no 'mode' left over from the triangular)
    assert s.document["use_cases"]["ecommerce"]["potential"] == {"dist": "uniform", "low": 0.01,
                                                                 "high": 0.03}
    assert s.use_cases["ecommerce"].potential.kind == "uniform"
    # and so does replace()
    base = load_scenario(example_path)
    r = base.replace(use_cases={"ecommerce": {"potential": {"dist": "uniform", "low": 0.01,
                                                            "high": 0.03}}})
    assert r.hash == s.hash


def test_variant_adds_and_disables_use_cases(write_toml, small_toml):
    write_toml(small_toml, "base.toml")
    variant = write_toml("""\
        extends = "base.toml"

        [use_cases.u2]
        enabled = false

        [use_cases.u3]
        sector = "b"
        potential = 0.02
        adoption = { kind = "step", year = 2023, ceiling = 0.5 }
        """, "variant.toml")
    s = load_scenario(variant)
    assert list(s.use_cases) == ["u1", "u3"]
    assert s.use_cases["u3"].adoption.params["ceiling"].value == 0.5
    assert "use_cases.u2.potential" not in s.parameters()
    # the disabled use case stays in the document
    assert s.document["use_cases"]["u2"]["enabled"] is False


def test_extends_chain_and_list(write_toml, small_toml):
    write_toml(small_toml, "base.toml")
    write_toml('extends = "base.toml"\n[settings]\nseed = 5\ndraws = 50\n', "mid.toml")
    write_toml('[settings]\nseed = 9\n', "seed9.toml")
    top = write_toml('extends = ["mid.toml", "seed9.toml"]\n[settings]\ndraws = 70\n', "top.toml")
    s = load_scenario(top)
    # later parents win over earlier ones, the file's own keys win over all
    assert (s.settings.seed, s.settings.draws, s.settings.sampler) == (9, 70, "random")


def test_extends_relative_to_the_file(tmp_path, small_toml):
    from conftest import write

    write(tmp_path / "base", small_toml, "base.toml")
    variant = write(tmp_path / "variants", 'extends = "../base/base.toml"\n', "v.toml")
    assert load_scenario(variant).hash == load_scenario(tmp_path / "base" / "base.toml").hash


def test_error_in_variant_names_the_variant(write_toml, small_toml):
    write_toml(small_toml, "base.toml")
    variant = write_toml('extends = "base.toml"\n[use_cases.u1.potential]\nhigh = 1.5\n',
                         "variant.toml")
    load_error(variant, "use_cases.u1.potential", "within [0, 1]")
    variant = write_toml('extends = "base.toml"\n[use_cases.u1]\nsector = "c"\n', "variant.toml")
    load_error(variant, "use_cases.u1.sector", "unknown sector 'c'")


def test_error_in_base_names_the_base(write_toml, small_toml):
    base = write_toml(small_toml.replace("value_added = 20.0", 'value_added = "twenty"'),
                      "base.toml")
    variant = write_toml('extends = "base.toml"\n[settings]\nseed = 3\n', "variant.toml")
    err = load_error(base, "sectors.b.value_added", "expected a number")
    with pytest.raises(ScenarioError) as info:
        load_scenario(variant)
    assert info.value.file == err.file == str(base.resolve())
    assert info.value.path == "sectors.b.value_added"


def test_error_in_base_use_case_names_the_base(write_toml, small_toml):
    base = write_toml(small_toml.replace('sector = "b"', 'sector = "c"'), "base.toml")
    variant = write_toml('extends = "base.toml"\n[use_cases.u1]\nwave = 2\n', "variant.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(variant)
    assert info.value.file == str(base.resolve())
    assert info.value.path == "use_cases.u2.sector"


def test_correlation_error_in_base_names_the_base(write_toml, small_toml):
    base = write_toml(small_toml + """
[[correlations]]
params = ["use_cases.u1.potential", "drivers.d.value"]
rank = 1.5
""", "base.toml")
    variant = write_toml('extends = "base.toml"\n[settings]\nseed = 3\n', "variant.toml")
    load_error(base, "correlations[0].rank")
    with pytest.raises(ScenarioError) as info:
        load_scenario(variant)
    assert info.value.path == "correlations[0].rank"
    assert info.value.file == str(base.resolve())


# ----------------------------------------------------------------------------- editing
def test_with_overrides(example):
    s2 = example.with_overrides({"use_cases.dynamic_pricing.adoption.midpoint": 2026,
                                 "settings.seed": 7, "sectors.retail.growth": 0.01})
    assert s2.use_cases["dynamic_pricing"].adoption.params["midpoint"].value == 2026.0
    assert s2.settings.seed == 7
    assert s2.sectors["retail"].growth == 0.01
    # the original is unchanged, and other values are kept
    midpoint = example.use_cases["dynamic_pricing"].adoption.params["midpoint"]
    assert midpoint.support() == (2024, 2027)
    assert example.settings.seed == 2030
    assert s2.use_cases["dynamic_pricing"].adoption.params["steepness"].value == 0.9
    assert s2.file == example.file
    # setting a dist table replaces the old one
    s3 = example.with_overrides({"use_cases.ecommerce.potential": {"dist": "uniform", "low": 0.0,
                                                                   "high": 0.01}})
    assert s3.use_cases["ecommerce"].potential.kind == "uniform"
    assert s3.document["use_cases"]["ecommerce"]["potential"] == {"dist": "uniform", "low": 0.0,
                                                                  "high": 0.01}


def test_with_overrides_validates(example):
    with pytest.raises(ScenarioError) as info:
        example.with_overrides({"use_cases.ecommerce.potential.high": 1.5})
    assert info.value.path == "use_cases.ecommerce.potential"
    with pytest.raises(ScenarioError, match="cannot set a key inside"):
        example.with_overrides({"use_cases.ecommerce.sector.x": 1})
    with pytest.raises(ScenarioError, match="did you mean 'midpoint'"):
        example.with_overrides({"use_cases.mobile_banking.adoption.midpont": 2026})


def test_replace_merges_sections(example):
    s = example.replace(settings={"draws": 100})
    assert (s.settings.draws, s.settings.seed, s.settings.sampler) == (100, 2030, "lhs")
    s = example.replace(use_cases={"ecommerce": {"potential": {"high": 0.03}}})
    assert s.use_cases["ecommerce"].potential.support() == (0.005, 0.03)
    assert s.use_cases["ecommerce"].potential.kind == "triangular"
    with pytest.raises(ScenarioError, match="did you mean 'settings'") as info:
        example.replace(setings={"draws": 1})
    assert info.value.path == "setings"


def test_to_dict_is_a_copy(example):
    d = example.to_dict()
    d["settings"]["seed"] = 1
    assert example.settings.seed == 2030
    assert example.document["settings"]["seed"] == 2030


# ----------------------------------------------------------------------------- to_toml, hash
def test_to_toml_round_trip(example, tmp_path):
    text = example.to_toml()
    back = Scenario.from_dict(tomllib.loads(text))
    assert back.hash == example.hash
    assert back.to_dict() == example.to_dict()
    path = tmp_path / "out" / "round.toml"
    assert example.to_toml(path) == text
    assert path.read_text() == text
    loaded = load_scenario(path)
    assert loaded.hash == example.hash
    assert loaded.to_dict() == example.to_dict()
    # the parsed model is the same too
    assert (loaded.use_cases["ecommerce"].adoption.points
            == example.use_cases["ecommerce"].adoption.points)
    np.testing.assert_array_equal(
        loaded.use_cases["instant_loans"].potential.ppf([0.1, 0.5, 0.9]),
        example.use_cases["instant_loans"].potential.ppf([0.1, 0.5, 0.9]))
    # no temporary files left beside the output
    assert [p.name for p in path.parent.iterdir()] == ["round.toml"]


def test_to_toml_of_a_variant_is_self_contained(write_toml, small_toml):
    write_toml(small_toml, "base.toml")
    variant = write_toml('extends = "base.toml"\n[settings]\nseed = 3\n', "variant.toml")
    s = load_scenario(variant)
    text = s.to_toml()
    assert "extends" not in text
    assert Scenario.from_dict(tomllib.loads(text)).hash == s.hash


def test_hash_depends_on_content_only(write_toml, small_toml, example):
    a = load_scenario(write_toml(small_toml, "a.toml"))
    # same tables in another order, another file name, comments: same hash
    blocks = small_toml.split("\n[")
    reordered = "\n[".join([blocks[0], *reversed(blocks[1:])])
    b = load_scenario(write_toml("# comment\n" + reordered, "b.toml"))
    assert b.to_dict() == a.to_dict()
    assert a.hash == b.hash
    assert len(a.hash) == 64 and int(a.hash, 16) >= 0
    # a variant that changes nothing has the base's hash
    assert load_scenario(write_toml('extends = "a.toml"\n', "same.toml")).hash == a.hash
    # any value change, even metadata, changes it; changing it back restores it
    changed = a.with_overrides({"use_cases.u1.potential.high": 0.021})
    assert changed.hash != a.hash
    assert changed.with_overrides({"use_cases.u1.potential.high": 0.02}).hash == a.hash
    assert a.with_overrides({"sectors.a.source": "other"}).hash != a.hash
    assert a.with_overrides({"settings.seed": 2}).hash != a.hash
    assert example.hash != a.hash


def test_int_year_keys_from_python_serialise(example):
    s = example.with_overrides({"use_cases.ecommerce.adoption.points": {2020: 0.1, 2030: 0.3}})
    assert s.use_cases["ecommerce"].adoption.points == {2020: 0.1, 2030: 0.3}
    back = Scenario.from_dict(tomllib.loads(s.to_toml()))
    assert back.use_cases["ecommerce"].adoption.points == {2020: 0.1, 2030: 0.3}


def test_error_in_a_profile_names_the_profile_key(write_toml):
    """A use case's bad value taken from its profile is reported where it is written."""
    from conftest import EXAMPLE

    variant = write_toml(f'extends = "{EXAMPLE}"\n'
                         "[profiles.retail_wave1.adoption]\nsteepness = -1.0\n", "variant.toml")
    from digimpact import load_scenario

    with pytest.raises(ScenarioError) as info:
        load_scenario(variant)
    assert info.value.path == "profiles.retail_wave1.adoption.steepness"
    assert info.value.file == str(variant)


# ----------------------------------------------------------------------------- bounds (issue 9)
class _NaNQuantiles:
    """A frozen distribution whose quantile function gives NaN (as scipy's can)."""

    def ppf(self, q):
        return np.full(np.shape(q), np.nan)


def test_check_domain_refuses_nan_reach():
    from digimpact.schema import _check_domain

    dist = Distribution("normal", {"mean": 0.5, "sd": 1.0}, _NaNQuantiles())
    for domain in ("share", "positive", "nonnegative", "year"):
        with pytest.raises(ScenarioError, match=r"expected finite values.*nan") as info:
            _check_domain(dist, domain, "use_cases.u.potential", "f.toml")
        assert (info.value.path, info.value.file) == ("use_cases.u.potential", "f.toml")


@given(level=st.floats(1e-3, 1e15), growth=st.floats(-0.999, 2.0),
       year=st.integers(*YEARS), first=st.integers(*YEARS), span=st.integers(0, MAX_HORIZON))
def test_accepted_sectors_stay_below_the_level_bound(level, growth, year, first, span):
    """A sector is accepted exactly when its grown base stays below MAX_LEVEL at both ends of
    the horizon (the base is monotone in the year), so simulate never overflows there."""
    last = min(first + span, YEARS[1])
    doc = edited({"scenario.horizon": [first, last], "scenario.base_year": first,
                  "sectors.retail.value_added": level, "sectors.retail.growth": growth,
                  "sectors.retail.year": year, "targets": {}})
    exact = [math.log(level) + (y - year) * math.log1p(growth) for y in (first, last)]
    try:
        s = Scenario.from_dict(doc)
    except ScenarioError as exc:
        assert exc.path == "sectors.retail.growth" and "below 1e+15" in exc.message
        assert max(exact) > math.log(MAX_LEVEL)
        return
    assert max(exact) <= math.log(MAX_LEVEL)
    bases = [s.sectors["retail"].base("value_added", y) for y in s.years]
    assert all(math.isfinite(b) and b <= MAX_LEVEL * (1 + 1e-9) for b in bases)


@given(p=st.floats(*BASS_P), q=st.floats(*BASS_Q), start=st.integers(*YEARS),
       speed=st.floats(1e-3, 1e3))
def test_accepted_bass_parameters_give_finite_curves(p, q, start, speed):
    """Within the bounds q/p <= 1e6, so the curve never meets inf x 0; the speed driver
    stretches time without limit."""
    years = 2020 + speed * (np.arange(YEARS[0], YEARS[1] + 1) - 2020)
    curve = bass(years, p, q, start)
    assert np.isfinite(curve).all() and (curve >= 0).all() and (curve <= 1).all()


def test_with_overrides_suggests_a_misspelt_id(example):
    """Issue 12: a misspelt id creates a new, incomplete entry; the error says which."""
    with pytest.raises(ScenarioError) as info:
        example.with_overrides({"drivers.talnt.value.mode": 0.9})
    err = info.value
    assert err.path == "drivers.talnt.value"
    assert "the override 'drivers.talnt.value.mode' created a new key 'drivers.talnt' " \
           "(did you mean 'talent'?)" in err.message
    with pytest.raises(ScenarioError, match="did you mean 'dynamic_pricing'"):
        example.with_overrides({"use_cases.dynamic_pricng.enabled": True})
    # no hint when the new key is not close to any, or the message already has one
    with pytest.raises(ScenarioError) as info:
        example.with_overrides({"drivers.zzz.value.mode": 0.9})
    assert "did you mean" not in info.value.message
    with pytest.raises(ScenarioError) as info:
        example.with_overrides({"settings.sed": 1})
    assert info.value.message.count("did you mean") == 1


def test_a_scenario_with_free_text_everywhere_hashes_and_round_trips(example):
    """Every free-text key the schema allows is a string, so the hash never meets a date."""
    s = example.with_overrides({"scenario.source": "s", "scenario.note": "n",
                                "targets.core.note": "n", "correlations": [
                                    {**example.document["correlations"][0], "note": "n"}]})
    assert len(s.hash) == 64
    assert Scenario.from_dict(tomllib.loads(s.to_toml())).hash == s.hash
