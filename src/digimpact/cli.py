"""Command line: ``digimpact run | validate | check | calibrate | sensitivity | compare``.

Errors print one line (``digimpact: error: ...``) and exit with status 2; ``check`` and
``calibrate`` exit with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from . import __version__
from .engine import BACKENDS, OUTPUTS
from .errors import ScenarioError
from .results import Results, atomic_write
from .scenario import SAMPLERS, Scenario, load_scenario
from .sensitivity import BY

__all__ = ["main"]


def _add_run_options(p: argparse.ArgumentParser, engine: bool = True) -> None:
    p.add_argument("file", help="scenario file (.toml)")
    p.add_argument("--draws", type=int, help="number of draws (default: the scenario's)")
    p.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    p.add_argument("--sampler", choices=SAMPLERS, help="sampler (default: the scenario's)")
    if engine:
        p.add_argument("--backend", choices=BACKENDS, default="local",
                       help="local, or dask (a LocalCluster unless --scheduler is given)")
        p.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://host:8786 "
                       "(implies --backend dask)")
        p.add_argument("--outputs", choices=OUTPUTS, default="full",
                       help="target_year: sectors in the target year, total every year")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digimpact", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"digimpact {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate and print ranges per sector and group")
    _add_run_options(run)
    run.add_argument("--out", type=Path, help="output folder (default: out/<scenario name>)")
    run.add_argument("--format", choices=("table", "json"), default="table")
    validate = sub.add_parser("validate", help="check a scenario file without running it")
    validate.add_argument("file")
    check = sub.add_parser("check", help="simulate and compare with the scenario's targets")
    _add_run_options(check)
    check.add_argument("--format", choices=("table", "json"), default="table")
    cal = sub.add_parser("calibrate", help="fit value drivers to the targets; write a variant")
    _add_run_options(cal, engine=False)
    cal.add_argument("--out", type=Path, required=True, help="variant file to write (.toml)")
    cal.add_argument("--param", action="append", help="drivers.<id>.value.median|sigma "
                     "(repeatable; default: every lognormal value driver)")
    cal.add_argument("--target", action="append", help="target id (repeatable; default: all)")
    sens = sub.add_parser("sensitivity", help="rank the inputs that drive an output's range")
    sens.add_argument("file")
    sens.add_argument("--by", choices=BY, default="sector")
    sens.add_argument("--output", default="total", help="total, a group, a sector or a target id")
    sens.add_argument("--year", type=int, help="default: the scenario's target year")
    sens.add_argument("--method", choices=("sobol", "tornado"), default="sobol")
    sens.add_argument("--draws", type=int, default=1024, help="Sobol' base sample (power of 2)")
    sens.add_argument("--seed", type=int, default=0)
    sens.add_argument("--format", choices=("table", "json"), default="table")
    cmp = sub.add_parser("compare", help="two scenarios on common random numbers")
    cmp.add_argument("a")
    cmp.add_argument("b")
    cmp.add_argument("--draws", type=int)
    cmp.add_argument("--seed", type=int)
    cmp.add_argument("--sampler", choices=SAMPLERS)
    cmp.add_argument("--year", type=int)
    cmp.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _records(table: pd.DataFrame) -> list:
    return json.loads(table.reset_index().to_json(orient="records", double_precision=15))


def _sensitivity(args: argparse.Namespace) -> int:
    from .sensitivity import sensitivity

    table = sensitivity(args.file, output=args.output, year=args.year, method=args.method,
                        by=args.by, draws=args.draws, seed=args.seed)
    if args.format == "json":
        print(json.dumps({"settings": table.attrs, "ranking": _records(table)}, indent=2))
    else:
        a = table.attrs
        print(f"{a['method']} sensitivity of {a['output']} ({a['metric']}, {a['year']}, {a['unit']}) "
              f"by {a['by']}:\n")
        print(table.to_string(float_format=lambda x: f"{x:8.3f}"))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare

    comparison = compare(args.a, args.b, draws=args.draws, seed=args.seed, sampler=args.sampler)
    table = comparison.summary(year=args.year)
    if args.format == "json":
        print(json.dumps({"a": str(args.a), "b": str(args.b),
                          "provenance": _provenance(comparison.a), "summary": _records(table)},
                         indent=2))
    else:
        print(f"a = {args.a}\nb = {args.b}\n{comparison.a.unit}; common random numbers: "
              f"{comparison.a.dataset.attrs['draws']} draws, seed {comparison.a.dataset.attrs['seed']}\n")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(float_format=lambda x: f"{x:7.2f}"))
    return 0


def _simulate(args: argparse.Namespace) -> tuple[Scenario, Results]:
    from .engine import simulate

    scenario = load_scenario(args.file)
    backend = "dask" if args.scheduler else args.backend
    results = simulate(scenario, draws=args.draws, seed=args.seed, sampler=args.sampler,
                       backend=backend, client=args.scheduler, outputs=args.outputs)
    return scenario, results


def _provenance(results: Results) -> dict[str, object]:
    keys = ("title", "scenario_hash", "seed", "sampler", "draws", "digimpact_version", "unit",
            "target_year")
    return {k: results.dataset.attrs[k] for k in keys}


def _json(results: Results) -> str:
    table = results.summary().reset_index()
    checks = results.check()
    doc = {"provenance": _provenance(results),
           "summary": json.loads(table.to_json(orient="records", double_precision=15)),
           "targets": json.loads(checks.to_json(orient="records", double_precision=15)),
           "targets_met": bool(checks["ok"].all())}
    return json.dumps(doc, indent=2)


def _table(results: Results) -> str:
    a = results.dataset.attrs
    table = results.summary().drop(columns="mean")
    lines = [f"{a['title']}",
             f"{a['unit']}, {a['metric']} value, target year {a['target_year']}; {a['draws']} "
             f"draws, seed {a['seed']}, sampler {a['sampler']}, scenario {a['scenario_hash'][:12]}",
             "", table.to_string(float_format=lambda x: f"{x:8.2f}")]
    checks = results.check()
    if len(checks):
        shown = checks[["name", "bound", "quantile", "published", "simulated", "residual",
                        "tolerance", "ok"]]
        lines += ["", "Published targets:", shown.to_string(index=False, float_format=lambda x: f"{x:.2f}")]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot

    _scenario, results = _simulate(args)
    out = args.out or Path("out") / Path(args.file).stem
    results.to_netcdf(out / "results.nc")
    atomic_write(out / "summary.csv", results.summary().to_csv().encode())
    ax = plot.exhibit5(results)
    atomic_write(out / "exhibit5.png", writer=lambda tmp: ax.figure.savefig(tmp, dpi=130, format="png"))
    plt.close(ax.figure)
    if args.format == "json":
        print(_json(results))
    else:
        print(_table(results))
        print(f"\nWrote {out / 'results.nc'}, {out / 'summary.csv'} and {out / 'exhibit5.png'}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    print(f"{args.file}: OK ({len(scenario.sectors)} sectors, {len(scenario.use_cases)} use "
          f"cases, {len(scenario.parameters())} parameters, {len(scenario.targets)} targets)")
    return 0


def _check(args: argparse.Namespace) -> int:
    _, results = _simulate(args)
    checks = results.check()
    if args.format == "json":
        print(_json(results))
    else:
        with pd.option_context("display.width", 160):
            print(checks.drop(columns="source").to_string(index=False))
    if not len(checks):
        print("no targets in this scenario", file=sys.stderr)
    missed = int((~checks["ok"]).sum())
    if missed:
        print(f"{missed} target bound(s) missed", file=sys.stderr)
    return 1 if missed else 0


def _calibrate(args: argparse.Namespace) -> int:
    import os

    import tomli_w

    from .calibrate import calibrate

    scenario = load_scenario(args.file)
    _fitted, report = calibrate(scenario, targets=args.target, params=args.param,
                               draws=args.draws, seed=args.seed, sampler=args.sampler)
    values: dict = {}
    for key, value in report.parameters["fitted"].items():
        *head, last = key.split(".")
        node = values
        for part in head:
            node = node.setdefault(part, {})
        node[last] = float(value)
    relative = os.path.relpath(Path(args.file).resolve(), args.out.resolve().parent)
    lines = [f"# Calibrated by `digimpact calibrate` (digimpact {__version__}) on "
             f"{report.draws} draws, seed {report.seed}, sampler {report.sampler}:",
             "# scipy.optimize.least_squares on (simulated - published quantile) / tolerance.",
             "# target, quantile: published -> achieved"]
    lines += [f"#   {r.target}, p{100 * r.quantile:g}: {r.published:g} -> {r.achieved:.2f}"
              for r in report.targets.itertuples()]
    text = "\n".join(lines) + "\n" + tomli_w.dumps({"extends": relative, **values})
    atomic_write(args.out, text.encode())
    print(report)
    print(f"\nWrote {args.out}")
    return 0 if report.targets["ok"].all() else 1


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run, "validate": _validate, "check": _check, "calibrate": _calibrate,
    "sensitivity": _sensitivity, "compare": _compare}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``digimpact`` command."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ScenarioError, ValueError, OSError) as exc:
        print(f"digimpact: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
