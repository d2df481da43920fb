"""Tidy frames and Excel workbooks: shapes, values, sheets read back by openpyxl, the missing extra."""

from __future__ import annotations

import builtins
import json

import numpy as np
import openpyxl
import pytest
import xarray as xr
from conftest import EXAMPLE

import digimpact
from digimpact import export
from digimpact.cli import main as cli
from digimpact.errors import UsageError


@pytest.fixture(scope="module")
def results():
    return digimpact.simulate(EXAMPLE, draws=200, seed=3, sampler="random", progress=False)


def test_tidy_frame_shape_and_values(results):
    frame = results.to_dataframe()
    value = results.dataset["value"]
    assert list(frame.columns) == ["draw", "sector", "year", "value"]
    assert frame.shape == (200 * value.sizes["sector"] * value.sizes["year"], 4)
    row = frame[(frame.draw == 7) & (frame.sector == "finance") & (frame.year == 2027)]
    assert row["value"].item() == value.sel(draw=7, sector="finance", year=2027).item()
    assert frame["value"].sum() == pytest.approx(float(value.sum()), rel=1e-12)


def test_tidy_frame_of_target_year_outputs():
    r = digimpact.simulate(EXAMPLE, draws=20, seed=3, outputs="target_year", progress=False)
    frame = r.to_dataframe()
    assert frame.shape == (20 * 3, 4) and set(frame["year"]) == {r.scenario.meta.target_year}


def sheet(book, name):
    rows = list(book[name].iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_excel_round_trip(results, tmp_path):
    path = results.to_excel(tmp_path / "r.xlsx", draws=True)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["summary", "targets", "provenance", "scenario", "draws"]
    header, rows = sheet(book, "summary")
    table = results.summary(intervals=True).reset_index()
    assert list(header) == list(table.columns)
    # openpyxl writes 17 significant digits, within an ulp of the double
    np.testing.assert_allclose([r[header.index("p95_high")] for r in rows], table["p95_high"], rtol=1e-15)
    header, rows = sheet(book, "targets")
    checks = results.check()
    np.testing.assert_allclose([r[header.index("simulated")] for r in rows], checks["simulated"],
                               rtol=1e-15)
    provenance = dict(sheet(book, "provenance")[1])
    assert provenance["seed"] == "3" and provenance["scenario_hash"] == results.scenario.hash
    toml = "\n".join(r[0] or "" for r in sheet(book, "scenario")[1])
    assert toml == results.scenario.to_toml().rstrip("\n")
    header, rows = sheet(book, "draws")
    frame = results.to_dataframe()
    assert len(rows) == len(frame) and [r[:3] for r in rows[:2]] == [(0, "retail", 2020), (0, "retail", 2021)]
    np.testing.assert_allclose([r[3] for r in rows], frame["value"], rtol=1e-15)


def test_excel_inputs_sheet(results, tmp_path):
    names = ["drivers.a", "drivers.b"]
    kept = digimpact.Results(results.dataset.assign(inputs=xr.DataArray(
        np.arange(400.0).reshape(200, 2), dims=("draw", "parameter"), coords={"parameter": names})),
        results.scenario)
    book = openpyxl.load_workbook(kept.to_excel(tmp_path / "k.xlsx"))
    assert "inputs" in book.sheetnames and "draws" not in book.sheetnames
    header, rows = sheet(book, "inputs")
    assert list(header) == ["draw", *names] and len(rows) == 200 and rows[3] == (3, 6.0, 7.0)


def test_missing_openpyxl_says_which_extra(results, tmp_path, monkeypatch):
    real = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl" or name.startswith("openpyxl."):
            raise ImportError("No module named 'openpyxl'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    with pytest.raises(ImportError, match=r'pip install "digimpact\[excel\]"'):
        results.to_excel(tmp_path / "r.xlsx")
    assert not (tmp_path / "r.xlsx").exists()
    code = cli(["run", str(EXAMPLE), "--draws", "20", "--out", str(tmp_path / "o"), "--excel",
                str(tmp_path / "r.xlsx")])
    assert code == 2 and not (tmp_path / "o").exists()  # refused before simulating


def test_too_many_rows_for_a_sheet(results, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "EXCEL_ROWS", 1000)
    with pytest.raises(UsageError, match="draws sheet would need 6,601 rows"):
        results.to_excel(tmp_path / "r.xlsx", draws=True)
    results.to_excel(tmp_path / "r.xlsx")  # without the draws it fits


def test_cli_run_excel_and_json_intervals(tmp_path, capsys):
    book = tmp_path / "out.xlsx"
    assert cli(["run", str(EXAMPLE), "--draws", "300", "--seed", "1", "--out", str(tmp_path / "o"),
                "--excel", str(book), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for t in doc["targets"]:
        assert t["mc_low"] <= t["simulated"] <= t["mc_high"]
    total = doc["summary"][-1]
    assert total["p5_low"] <= total["p5"] <= total["p5_high"]
    assert openpyxl.load_workbook(book).sheetnames[:3] == ["summary", "targets", "provenance"]
