"""The command line, run as a user would: a subprocess per call."""

import json
import subprocess
import sys
import tomllib

import pytest
from conftest import EXAMPLE

import digimpact


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "digimpact.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env={"MPLBACKEND": "Agg",
                                                                       "PATH": ""} | _env())


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k in ("HOME", "PYTHONPATH", "LANG")}


def test_version():
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"digimpact {digimpact.__version__}"


def test_run_table_writes_results_summary_and_chart(tmp_path):
    out = cli("run", EXAMPLE, "--draws", 500, "--seed", 3, "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    for name in ("results.nc", "summary.csv", "exhibit5.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file
    results = digimpact.open_results(tmp_path / "results.nc")
    assert results.dataset.attrs["draws"] == 500 and results.dataset.attrs["seed"] == 3
    lo, hi = results.interval(["core"])
    assert f"{lo:8.2f}" in out.stdout and f"{hi:8.2f}" in out.stdout
    assert "Published targets" in out.stdout


def test_run_json_is_machine_readable(tmp_path):
    out = cli("run", EXAMPLE, "--draws", 400, "--seed", 5, "--sampler", "random", "--out",
              tmp_path, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["provenance"]["sampler"] == "random" and doc["provenance"]["draws"] == 400
    expected = digimpact.simulate(EXAMPLE, draws=400, seed=5, sampler="random", progress=False)
    total = next(r for r in doc["summary"] if r["level"] == "total")
    assert total["p95"] == pytest.approx(expected.interval(q=[0.95])[0], rel=1e-12)
    assert doc["targets_met"] == bool(expected.check()["ok"].all())
    assert {t["target"] for t in doc["targets"]} == {"core"}


def test_validate_ok_and_error(tmp_path):
    ok = cli("validate", EXAMPLE)
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    text = EXAMPLE.read_text().replace("midpoint = { dist", "midpont = { dist", 1)
    bad.write_text(text)
    out = cli("validate", bad)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert str(bad) in lines[0] and "profiles.retail_wave1.adoption.midpont" in lines[0]
    assert "did you mean 'midpoint'" in lines[0]


def test_missing_file_is_one_line(tmp_path):
    out = cli("run", tmp_path / "nope.toml")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "not found" in out.stderr


def test_check_exit_codes(tmp_path):
    assert cli("check", EXAMPLE, "--draws", 500).returncode == 0
    variant = tmp_path / "strict.toml"
    variant.write_text(f'extends = "{EXAMPLE}"\n[targets.core]\nlow = 100.0\nhigh = 200.0\n')
    out = cli("check", variant, "--draws", 500)
    assert out.returncode == 1 and "missed" in out.stderr


def test_calibrate_writes_a_variant_that_hits_the_target(tmp_path):
    variant = tmp_path / "variant.toml"
    variant.write_text(f'extends = "{EXAMPLE}"\n'
                       '[drivers.realisation]\nvalue = { dist = "lognormal", median = 1.0, sigma = 0.1 }\n'
                       '[targets.core]\nlow = 3.0\nhigh = 5.0\ntolerance = 0.2\n')
    fitted = tmp_path / "fitted.toml"
    out = cli("calibrate", variant, "--draws", 2000, "--out", fitted)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = tomllib.loads(fitted.read_text())
    assert doc["extends"] == "variant.toml"
    assert set(doc["drivers"]["realisation"]["value"]) == {"median", "sigma"}
    check = cli("check", fitted, "--draws", 2000)
    assert check.returncode == 0, check.stdout
