"""The command line, run as a user would: a subprocess per call."""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from conftest import EXAMPLE
from hypothesis import given
from hypothesis import strategies as st

import digimpact
import digimpact.cli
from digimpact.errors import BackendError, SimulationError, UsageError


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
    for name in ("results.nc", "summary.csv", "ranges.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file
    results = digimpact.open_results(tmp_path / "results.nc")
    assert results.dataset.attrs["draws"] == 500 and results.dataset.attrs["seed"] == 3
    lo, hi = results.interval(groups=["core"])
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


def test_calibrate_writes_a_variant_and_checks_out_of_sample_targets(tmp_path):
    variant = tmp_path / "variant.toml"
    variant.write_text(f'extends = "{EXAMPLE}"\n'
                       '[drivers.realisation]\nvalue = { dist = "lognormal", median = 1.0, sigma = 0.1 }\n'
                       '[targets.core]\nlow = 3.0\nhigh = 5.0\ntolerance = 0.2\n'
                       '[targets.all]\ngroups = ["core", "other"]\nhigh = 1000.0\ntolerance = 0.1\n')
    fitted = tmp_path / "fitted.toml"
    out = cli("calibrate", variant, "--draws", 2000, "--out", fitted)
    # the economy-wide target is out of sample: its miss is a warning, and the exit code is 0
    assert out.returncode == 0, out.stdout + out.stderr
    for line in ("Fitted targets", "Out-of-sample targets", "condition number",
                 "out-of-sample target all p95 missed", f"Wrote {fitted}"):
        assert line in out.stdout
    doc = tomllib.loads(fitted.read_text())
    assert doc["extends"] == "variant.toml"
    assert set(doc["drivers"]["realisation"]["value"]) == {"median"}  # the spread is the prior
    assert re.search(r"#   all, p95: 1000 -> [\d.]+ \(out of sample\)", fitted.read_text())
    check = cli("check", fitted, "--draws", 2000)
    assert check.returncode == 1 and "1 target bound(s) missed" in check.stderr
    exact = cli("calibrate", variant, "--draws", 2000, "--exact", "--target", "core", "--out", fitted)
    assert exact.returncode == 0, exact.stdout + exact.stderr
    assert set(tomllib.loads(fitted.read_text())["drivers"]["realisation"]["value"]) == {"median",
                                                                                         "sigma"}
    # a fitted target missed: exit 1, the variant still written
    missed = cli("calibrate", variant, "--draws", 2000, "--target", "all", "--target", "core",
                 "--out", fitted)
    assert missed.returncode == 1 and "fitted target all p95 missed" in missed.stdout


def test_calibrate_estimand_fits_that_reading_and_writes_it(tmp_path):
    # a target without its own estimand takes the scenario's, which --estimand sets
    variant = tmp_path / "variant.toml"
    variant.write_text(f'extends = "{EXAMPLE}"\n'
                       '[drivers.realisation]\nvalue = { dist = "lognormal", median = 1.0, sigma = 0.1 }\n'
                       '[targets.level]\ngroups = ["core"]\nlow = 28.0\nhigh = 50.0\n'
                       'tolerance = 3.0\n')
    level = {}
    for estimand in ("cumulative", "annual"):
        fitted = tmp_path / f"{estimand}.toml"
        out = cli("calibrate", variant, "--draws", 2000, "--target", "level", "--estimand", estimand,
                  "--out", fitted)
        assert out.returncode == 0, out.stdout + out.stderr
        doc = tomllib.loads(fitted.read_text())
        assert doc["scenario"] == {"estimand": estimand}
        assert f"estimand {estimand})" in fitted.read_text()
        level[estimand] = doc["drivers"]["realisation"]["value"]["median"]
        check = json.loads(cli("check", fitted, "--draws", 2000, "--format", "json").stdout)
        row = next(r for r in check["targets"] if r["target"] == "level" and r["bound"] == "low")
        assert row["estimand"] == estimand and row["ok"]
    assert level["cumulative"] < level["annual"] / 3  # a sum over the horizon needs a lower level


# ----------------------------------------------------------------------------- exit codes
def test_help_documents_the_exit_codes_in_plain_text():
    out = cli("--help")
    assert out.returncode == 0
    for code, meaning in [(0, "success"), (1, "target missed"), (2, "user error"),
                          (70, "bug in digimpact"), (130, "interrupted"), (143, "terminated")]:
        assert re.search(rf"^  {code} +.*{meaning}", out.stdout, re.M), (code, out.stdout)
    assert "``" not in out.stdout and ":data:" not in out.stdout and ":func:" not in out.stdout
    assert "exit codes:" in cli("run", "--help").stdout


def test_every_option_has_help():
    parser = digimpact.cli._parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == set(digimpact.cli.COMMANDS)
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)


def run_main(capsys, *args):
    """``digimpact.cli.main`` in this process: (exit code, stdout, stderr)."""
    code = digimpact.cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_user_error_in_json(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("midpoint = { dist", "midpont = { dist", 1))
    code, out, err = run_main(capsys, "check", bad, "--format", "json")
    assert code == 2 and len(err.strip().splitlines()) == 1
    error = json.loads(out)["error"]
    assert error == {"type": "ScenarioError", "message": error["message"], "file": str(bad),
                     "path": "profiles.retail_wave1.adoption.midpont", "exit_code": 2}
    assert "did you mean 'midpoint'" in error["message"]
    assert err.startswith(f"digimpact: error: {bad}: profiles.retail_wave1.adoption.midpont: ")


def test_argument_errors_exit_2_also_in_json(capsys):
    code, out, err = run_main(capsys, "run", EXAMPLE, "--draws", "1.5", "--format=json")
    assert code == 2 and "usage: digimpact run" in err
    assert json.loads(out)["error"]["message"] == ("argument --draws: expected a whole number >= 1 "
                                                   "(e.g. 20000 or 1e6), not '1.5'")
    for bad in ("0", "-3", "abc", "inf", "nan", "1e-3", ""):
        assert run_main(capsys, "compare", EXAMPLE, EXAMPLE, "--draws", bad)[0] == 2, bad
    assert run_main(capsys, "run", EXAMPLE, "--seed", "-1")[0] == 2


@given(st.integers(1, 10**30), st.integers(0, 6))
def test_whole_numbers_parse_exactly(n, zeros):
    whole = digimpact.cli._whole(1)
    assert whole(str(n)) == n and whole(f"{n}e{zeros}") == n * 10**zeros
    assert whole(f"{n}.0") == n and whole(f"{n:_}") == n


def test_a_bug_exits_70_with_one_line(monkeypatch, capsys):
    def broken(args):
        raise TypeError("unsupported operand")

    monkeypatch.setitem(digimpact.cli.COMMANDS, "validate", broken)
    monkeypatch.delenv("DIGIMPACT_DEBUG", raising=False)
    code, out, err = run_main(capsys, "validate", EXAMPLE)
    assert code == 70 and out == "" and len(err.strip().splitlines()) == 1
    assert "a bug in digimpact" in err and "TypeError: unsupported operand" in err
    assert "report" in err and "Traceback" not in err
    code, _, err = run_main(capsys, "validate", EXAMPLE, "--debug")
    assert code == 70 and "Traceback (most recent call last)" in err and 'raise TypeError' in err
    monkeypatch.setenv("DIGIMPACT_DEBUG", "1")
    assert "Traceback" in run_main(capsys, "validate", EXAMPLE)[2]


@pytest.fixture
def simulate_calls(monkeypatch):
    """Replace the engine's simulate; every call is recorded and raises what ``raises`` holds."""
    calls, raises = [], []

    def fake(scenario, **kwargs):
        calls.append(kwargs)
        raise raises[0]

    monkeypatch.setattr(digimpact.engine, "simulate", fake)
    monkeypatch.setattr(sys.modules["digimpact.compare"], "simulate", fake)
    return calls, raises


@pytest.mark.parametrize(("error", "expected"), [
    (UsageError("seed must be < 2**63"), "digimpact: error: seed must be < 2**63"),
    (UsageError("about 240 TiB needed, 22 GiB available; use --outputs target_year or dask"),
     "240 TiB"),
    (SimulationError("value of use case 'a' is inf"), "is inf"),
    (BackendError("no dask scheduler answered"), "no dask scheduler"),
    (MemoryError("Unable to allocate 240. TiB"), "--outputs target_year or --backend dask"),
])
def test_engine_errors_are_user_errors(simulate_calls, tmp_path, capsys, error, expected):
    calls, raises = simulate_calls
    raises.append(error)
    code, out, err = run_main(capsys, "run", EXAMPLE, "--seed", 2**64, "--draws", "1e12", "--out",
                              tmp_path / "out", "--format", "json")
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert json.loads(out)["error"]["type"] == type(error).__name__
    assert calls[0]["seed"] == 2**64 and calls[0]["draws"] == 10**12  # parsed exactly
    assert not (tmp_path / "out").exists() and os.listdir(tmp_path) == []


def test_year_and_draws_are_checked_before_simulating(simulate_calls, capsys):
    calls, raises = simulate_calls
    raises.append(AssertionError("simulate must not be called"))
    for args in (("compare", EXAMPLE, EXAMPLE, "--year", 1900),
                 ("sensitivity", EXAMPLE, "--year", 1900)):
        code, _, err = run_main(capsys, *args)
        assert code == 2 and "year 1900 is outside the scenario's horizon 2020-2030" in err
    code, _, err = run_main(capsys, "sensitivity", EXAMPLE, "--draws", 1)
    assert code == 2 and "power of two >= 64, not 1" in err
    code, _, err = run_main(capsys, "sensitivity", EXAMPLE, "--output", "nope")
    assert code == 2 and "unknown output 'nope'" in err
    assert calls == []


def test_unusable_out_is_reported_before_simulating(simulate_calls, tmp_path, capsys):
    calls, raises = simulate_calls
    raises.append(AssertionError("simulate must not be called"))
    (tmp_path / "file").write_text("x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    cases = [(tmp_path / "file", "output folder is a file"),
             (tmp_path / "file" / "out", "cannot be created"),
             (tmp_path / "busy", "holds files digimpact does not write (notes.txt)")]
    if os.path.isdir("/proc/self"):
        cases.append((Path("/proc/digimpact/out"), "cannot be written"))
    for out, message in cases:
        code, stdout, err = run_main(capsys, "run", EXAMPLE, "--out", out, "--format", "json")
        assert code == 2 and err.startswith(f"digimpact: error: {out}: ") and message in err
        assert ".tmp" not in err and json.loads(stdout)["error"]["file"] == str(out)
    code, _, err = run_main(capsys, "calibrate", EXAMPLE, "--out", tmp_path / "busy")
    assert code == 2 and f"{tmp_path / 'busy'}: output file is a folder" in err
    assert calls == []
    assert sorted(os.listdir(tmp_path)) == ["busy", "file"]


# ----------------------------------------------------------------------------- outputs
OUTPUT_SET = ["ranges.png", "results.nc", "summary.csv"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """The output folder of an earlier run (seed 1) and its files' bytes."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    assert cli("run", EXAMPLE, "--draws", 200, "--seed", 1, "--out", out).returncode == 0
    return out, {p.name: p.read_bytes() for p in out.iterdir()}


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def previous_run(earlier, tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    for name, data in earlier[1].items():
        (out / name).write_bytes(data)
    return out


@pytest.mark.parametrize(("mask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755),
                                                                (0o077, 0o600, 0o700)])
def test_run_replaces_the_output_set_per_the_umask(earlier, tmp_path, mask, file_mode, folder_mode):
    out = previous_run(earlier, tmp_path)
    done = subprocess.run([sys.executable, "-m", "digimpact.cli", "run", str(EXAMPLE), "--draws", "200",
                           "--seed", "2", "--out", str(out)], capture_output=True, text=True,
                          env={"MPLBACKEND": "Agg", "PATH": ""} | _env(), umask=mask)
    assert done.returncode == 0, done.stderr
    new = outputs(out)
    assert sorted(new) == OUTPUT_SET and all(new[n] != earlier[1][n] for n in OUTPUT_SET)
    assert os.listdir(tmp_path) == ["out"]  # no temporary folder left
    assert out.stat().st_mode & 0o777 == folder_mode
    assert {(out / n).stat().st_mode & 0o777 for n in OUTPUT_SET} == {file_mode}


# A run whose steps are patched to receive a signal at a chosen point (deterministic timing).
INTERRUPTED_RUN = '''
import os, signal, sys, time, weakref
from pathlib import Path

import matplotlib.figure, xarray
import digimpact.atomic, digimpact.cli, digimpact.engine

point, SIG = sys.argv[1], getattr(signal, sys.argv[2])


def now():
    os.kill(os.getpid(), SIG)
    for _ in range(10_000):  # the handler runs at the next check
        pass


def swallowed():  # the signal lands in a weak-reference callback, as in h5py's cleanup
    class Thing:
        pass

    def callback(_ref):
        now()

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing


def wait():  # for the test to send the signal
    Path(os.environ["READY"]).touch()
    for _ in range(600):
        time.sleep(0.05)


def patch(owner, name, before=None, after=None):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        before and before()
        out = original(*args, **kwargs)
        after and after()
        return out

    setattr(owner, name, wrapper)


{"simulate": lambda: patch(digimpact.engine, "simulate", after=now),
 "netcdf": lambda: patch(xarray.Dataset, "to_netcdf", after=now),
 "netcdf-swallowed": lambda: patch(xarray.Dataset, "to_netcdf", after=swallowed),
 "chart": lambda: patch(matplotlib.figure.Figure, "savefig", before=now),
 "swap": lambda: patch(digimpact.atomic, "_swap", before=now),
 "external": lambda: patch(matplotlib.figure.Figure, "savefig", before=wait)}[point]()
sys.exit(digimpact.cli.main(sys.argv[3:]))
'''
CODES = {"SIGINT": 130, "SIGTERM": 143}


def interrupted_run(tmp_path, out, point, sig, *extra):
    script = tmp_path.parent / f"{tmp_path.name}-interrupted.py"
    script.write_text(INTERRUPTED_RUN)
    args = [sys.executable, str(script), point, sig, "run", str(EXAMPLE), "--draws", "200", "--seed",
            "2", "--out", str(out), *extra]
    env = {"MPLBACKEND": "Agg", "PATH": "", "READY": str(script.with_suffix(".ready"))} | _env()
    return args, env


@pytest.mark.parametrize(("point", "sig"), [
    ("simulate", "SIGINT"), ("netcdf", "SIGTERM"), ("netcdf-swallowed", "SIGINT"),
    ("netcdf-swallowed", "SIGTERM"), ("chart", "SIGINT")])
def test_an_interrupted_run_leaves_the_earlier_outputs_untouched(earlier, tmp_path, point, sig):
    out = previous_run(earlier, tmp_path)
    args, env = interrupted_run(tmp_path, out, point, sig, "--format", "json")
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == CODES[sig], done.stderr
    assert json.loads(done.stdout)["error"]["exit_code"] == CODES[sig]
    assert ("interrupted" if sig == "SIGINT" else "terminated") in done.stderr
    assert outputs(out) == earlier[1]  # byte for byte
    assert os.listdir(tmp_path) == ["out"]  # no temporary file or folder


def test_a_signal_during_the_swap_lets_it_finish(earlier, tmp_path):
    out = previous_run(earlier, tmp_path)
    args, env = interrupted_run(tmp_path, out, "swap", "SIGTERM")
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 143
    new = outputs(out)
    assert sorted(new) == OUTPUT_SET and all(new[n] != earlier[1][n] for n in OUTPUT_SET)
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_from_outside_stops_the_run(earlier, tmp_path, sig):
    out = previous_run(earlier, tmp_path)
    args, env = interrupted_run(tmp_path, out, "external", sig)
    ready = Path(env["READY"])
    with subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        for _ in range(1200):  # up to a minute for the run to reach the chart
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), proc.stderr.read()
        proc.send_signal(getattr(signal, sig))
        assert proc.wait(timeout=60) == CODES[sig]
    assert outputs(out) == earlier[1] and os.listdir(tmp_path) == ["out"]


# ----------------------------------------------------------------------------- reproduce
def test_reproduce_exit_codes(earlier, tmp_path, capsys):
    import h5py

    path = previous_run(earlier, tmp_path) / "results.nc"
    code, out, _ = run_main(capsys, "reproduce", path)
    assert code == 0 and out.startswith(f"{path}: re-ran 200 draws, seed 1")
    assert "identical bit for bit: value, full_potential, baseline" in out
    with h5py.File(path, "r+") as f:
        f["value"][0, 0, -1] *= 2.0
    code, out, _ = run_main(capsys, "reproduce", path, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["identical"] is False and doc["current_version"] == digimpact.__version__
    value = next(v for v in doc["variables"] if v["variable"] == "value")
    assert value["differing"] == 1 and value["numbers"] == 200 * 3 * 11
    assert doc["settings"]["seed"] == 1 and doc["settings"]["outputs"] == "full"
    (tmp_path / "empty.nc").write_bytes(b"")
    code, out, err = run_main(capsys, "reproduce", tmp_path / "empty.nc", "--format", "json")
    assert err == f"digimpact: error: {tmp_path / 'empty.nc'}: empty file, not digimpact results\n"
    assert code == 2
    assert json.loads(out)["error"]["type"] == "ResultsError"


def test_run_keep_inputs_stores_each_draws_parameters(tmp_path, capsys):
    code, out, _ = run_main(capsys, "run", EXAMPLE, "--draws", 120, "--keep-inputs", "--out", tmp_path)
    assert code == 0 and "ranges.png" in out
    stored = digimpact.open_results(tmp_path / "results.nc").dataset
    assert stored["inputs"].shape == (120, stored.sizes["parameter"])
    again = digimpact.simulate(EXAMPLE, draws=120, keep_inputs=True, progress=False).dataset
    assert (stored["inputs"].values == again["inputs"].values).all()
