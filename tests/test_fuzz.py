"""Fuzzing the loader and the schema with mutated copies of every shipped scenario file.

Each case takes one ``.toml`` of ``scenarios/japan2030`` or ``scenarios/examples``, mutates it
(values, types, keys, tables, ``extends``, then its bytes), writes it over its copy in a
scenario tree copied once per module, and loads the file that reads it. The one property:

    a case ends in a clean load, after which ``Scenario.hash`` works and
    ``simulate(draws=200)`` gives finite values, or in one ``ScenarioError`` that names the
    file and either a key path or the line and column of the text.

Counts per run (derandomized: every CI run draws the same cases): 700 cases on
``examples/minimal.toml``, 300 on the Japan parts (each part read with ``base.toml``,
``sectors.toml``, ``profiles.toml`` and one file of 10 to 45 use cases), and 12 on the files
that read the whole Japan model (``exhibit5.toml``, ``uncalibrated.toml``, the variants):
1,012 cases in about 30 s. About 14% of the minimal cases and 28% of the Japan parts load
and are simulated; the rest are refused (``--hypothesis-show-statistics`` shows the split).
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import digimpact
from digimpact import ScenarioError

ROOT = Path(__file__).resolve().parents[1] / "scenarios"
MINIMAL = ["examples/minimal.toml"]
PARTS = ["japan2030/base.toml", "japan2030/sectors.toml", "japan2030/profiles.toml",
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "japan2030").glob("use_cases/*.toml"))]
WHOLE = ["japan2030/exhibit5.toml", "japan2030/uncalibrated.toml",
         "japan2030/exhibit5_cumulative.toml", "japan2030/exhibit5_full_potential.toml",
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "japan2030").glob("variants/*.toml"))]
ORIGINAL = {rel: tomllib.loads((ROOT / rel).read_text(encoding="utf-8"))
            for rel in MINIMAL + PARTS + WHOLE}
LINE_COLUMN = re.compile(r"line \d+, column \d+")
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_every_shipped_file_is_fuzzed():
    shipped = {str(p.relative_to(ROOT)) for p in ROOT.glob("**/*.toml")}
    observations = {"japan2030/observations.toml"}  # data for `digimpact update` (issue 11), not a scenario
    assert shipped - observations == set(ORIGINAL)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of scenarios/, the files that read each Japan part, and hostile extends targets."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT, root / "scenarios")
    japan = root / "scenarios" / "japan2030"
    for rel in PARTS:
        cases = rel if "use_cases" in rel else "japan2030/use_cases/other_sectors.toml"
        files = ["base.toml", "sectors.toml", "profiles.toml", cases.removeprefix("japan2030/")]
        (japan / f"read_{Path(rel).stem}.toml").write_text(f"extends = {files!r}\n".replace("'", '"'),
                                                          encoding="utf-8")
    hostile = root / "hostile"
    hostile.mkdir()
    os.mkfifo(hostile / "pipe.toml")
    (hostile / "loop_a.toml").symlink_to(hostile / "loop_b.toml")
    (hostile / "loop_b.toml").symlink_to(hostile / "loop_a.toml")
    for i in range(60):
        (hostile / f"chain{i}.toml").write_text(f'extends = "chain{i + 1}.toml"\n', encoding="utf-8")
    return root


def reader(rel: str) -> str:
    """The file to load so that ``rel`` is read."""
    return f"japan2030/read_{Path(rel).stem}.toml" if rel in PARTS else rel


# ----------------------------------------------------------------------------- mutations
ODD_VALUES = [0, -1, 1, 0.5, 2, 1e15, 1e16, 1e300, -1e300, 5e-324, math.nan, math.inf, -math.inf,
              2**63, 2**64, 10**400, -(10**40), True, False, "", "x\0y", "\u00b2", "2025", [],
              {}, [1, "a"], [2020, 2030000], {"dist": "lognormal", "median": 1, "sigma": 1000},
              {"dist": "normal", "mean": 1e15, "sd": 1e15, "low": 0, "high": 1},
              {"dist": "uniform", "low": 1e-300, "high": 1e10}, {"dist": "beta", "a": 1e15, "b": 1e-15},
              datetime.date(2021, 4, 1), datetime.datetime(2021, 4, 1, 9, 0), datetime.time(9, 0)]
FACTORS = [0.0, -1.0, 0.5, 0.9, 1.1, 2.0, 10.0, 1e3, 1e6, 1e-6, 1e300]
OFFSETS = [1, -1, 5, -5, 100, -1000, 10**6]
HOSTILE = ["/dev/zero", "/dev/null", "{hostile}/pipe.toml", "{hostile}/loop_a.toml",
           "{hostile}/chain0.toml", "{hostile}", "/", "missing.toml", "{self}", "a\0b",
           "x" * 5000, 3, [], ["{hostile}/pipe.toml"]]

values = st.one_of(st.sampled_from(ODD_VALUES), st.integers(-(10**6), 10**6),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                   st.booleans())


def nodes(doc: Any, path: tuple = ()) -> list[tuple]:
    """Key paths of every value below ``doc`` (tables, arrays and scalars)."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    out = []
    for key, value in items:
        out.append((*path, key))
        out.extend(nodes(value, (*path, key)))
    return out


def parent_of(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def edit(draw, doc: dict) -> None:
    """One mutation of ``doc`` in place."""
    paths = nodes(doc)
    how = draw(st.sampled_from(["number"] * 6 + ["value"] * 2 + [
        "delete", "rename", "insert", "point", "correlation", "extends"]))
    if how == "extends":
        doc["extends"] = draw(st.sampled_from(HOSTILE))
        return
    pairs = doc.get("correlations")
    if how == "correlation" and isinstance(pairs, list) and pairs and isinstance(pairs[0], dict):
        pairs.append({**pairs[0], "params": pairs[0].get("params", [])[::-1], "rank": -0.9})
        return
    points = [p for p in paths if p[-1] == "points" and isinstance(parent_of(doc, p)[p[-1]], dict)]
    if how == "point" and points:
        table = parent_of(doc, p := draw(st.sampled_from(points)))[p[-1]]
        year = draw(st.sampled_from(sorted(table)))
        table[draw(st.sampled_from(["0" + year, "\u00b2", "1066", year + "0"]))] = table[year]
        return
    numbers = [p for p in paths if isinstance(v := parent_of(doc, p)[p[-1]], int | float)
               and not isinstance(v, bool) and abs(v) < 1e300]  # a 400-digit int has no float
    if how == "number" and numbers:
        path = draw(st.sampled_from(numbers))
        parent, key = parent_of(doc, path), path[-1]
        parent[key] = (parent[key] * draw(st.sampled_from(FACTORS)) if draw(st.booleans())
                       else parent[key] + draw(st.sampled_from(OFFSETS)))
        return
    if not paths:  # an earlier mutation emptied the document
        return
    path = draw(st.sampled_from(paths))
    parent, key = parent_of(doc, path), path[-1]
    if how == "delete":
        del parent[key]
    elif how == "rename" and isinstance(parent, dict):
        new = draw(st.sampled_from([key[:-1], key + "s", key.upper(), key[1:] + key[0], "\0"]))
        parent[new or "_"] = parent.pop(key)
    elif how == "insert":
        target = parent[key] if isinstance(parent[key], dict) else parent
        if isinstance(target, dict):
            target[draw(st.sampled_from(["note", "source", "unknown", "sigma", "low"]))] = \
                draw(values)
    else:
        parent[key] = draw(values)


def encode(doc: dict, rel: str, tree: Path) -> bytes:
    """TOML text of ``doc``, with the placeholders of hostile paths filled in."""
    if "extends" in doc:
        fill = {"hostile": str(tree / "hostile"), "self": Path(rel).name}

        def expand(v: Any) -> Any:
            return [expand(x) for x in v] if isinstance(v, list) else \
                v.format(**fill) if isinstance(v, str) and "{" in v else v

        doc["extends"] = expand(doc["extends"])
    return tomli_w.dumps(doc).encode()


@st.composite
def mangle(draw, data: bytes) -> bytes:
    """Sometimes, a mutation of the bytes: a BOM, invalid UTF-8, a NUL, a truncation."""
    how = draw(st.sampled_from(["none"] * 12 + ["bom", "utf8", "nul", "truncate"]))
    at = draw(st.integers(0, len(data)))
    return {"none": data, "bom": b"\xef\xbb\xbf" + data, "truncate": data[:at],
            "utf8": data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe9", b"\xed\xa0\x80"]))
            + data[at:], "nul": data[:at] + b"\x00" + data[at:]}[how]


# ----------------------------------------------------------------------------- the property
def check(tree: Path, rel: str, data: bytes) -> str:
    """Write ``data`` as ``rel`` in the copied tree, load its reader, and check the outcome."""
    path = tree / "scenarios" / rel
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        scenario = digimpact.load_scenario(tree / "scenarios" / reader(rel))
    except ScenarioError as err:
        assert err.file, err
        assert err.path or LINE_COLUMN.search(err.message), err
        return "refused"
    finally:
        path.write_bytes(original)
    assert len(scenario.hash) == 64
    results = digimpact.simulate(scenario, draws=200, seed=0, progress=False)
    for name, array in results.dataset.data_vars.items():
        assert np.isfinite(array.values).all(), (name, rel)
    return "loaded"


def fuzz(tree: Path, files: list[str], data) -> None:
    rel = data.draw(st.sampled_from(files), label="file")
    doc = copy.deepcopy(ORIGINAL[rel])
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        data.draw(edit(doc))
    raw = data.draw(mangle(encode(doc, rel, tree)), label="bytes")
    event(check(tree, rel, raw))


@settings(FUZZ, max_examples=700)
@given(data=st.data())
def test_fuzz_minimal(tree, data):
    fuzz(tree, MINIMAL, data)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_fuzz_japan_parts(tree, data):
    fuzz(tree, PARTS, data)


@settings(FUZZ, max_examples=12)
@given(data=st.data())
def test_fuzz_japan_whole(tree, data):
    fuzz(tree, WHOLE, data)


@pytest.mark.parametrize("rel", MINIMAL + PARTS + WHOLE[:1])  # exhibit5 reads the whole model
def test_unmutated_files_load_cleanly(tree, rel):
    """The fuzzer's starting points are valid: without a mutation, every case loads."""
    assert check(tree, rel, tomli_w.dumps(ORIGINAL[rel]).encode()) == "loaded"
