"""Command line: the ``digimpact`` command and its exit codes (see :data:`EPILOG`)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from . import __version__
from .atomic import atomic_write, check_writable, replace_folder
from .errors import BackendError, ResultsError, ScenarioError, SimulationError, UsageError
from .options import (
    BackendName,
    Estimand,
    GroupBy,
    OutputFormat,
    OutputsName,
    SamplerName,
    SensitivityMethod,
    choices,
)
from .results import Results, quantile_label, year_in_horizon
from .scenario import Scenario, load_scenario

__all__ = ["EPILOG", "EXIT_BUG", "main"]

EXIT_OK, EXIT_MISSED, EXIT_USER, EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 70, 130, 143
DESCRIPTION = ("Simulate the GDP impact of digital and AI use-case adoption, sector by sector, "
               "with Monte Carlo.")
EPILOG = f"""\
exit codes:
  {EXIT_OK:<4} success
  {EXIT_MISSED:<4} a published target missed (check, calibrate), a sector's median intensity
       over its ceiling (check), or re-run numbers that differ (reproduce)
  {EXIT_USER:<4} a user error: scenario file, option, path or results file; one line on stderr
       and, with --format json, {{"error": {{...}}}} on stdout
  {EXIT_BUG:<4} a bug in digimpact (EX_SOFTWARE): one line naming the exception; please report
       it; the traceback with --debug or DIGIMPACT_DEBUG=1
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C, SIGINT); earlier outputs are left untouched
  {EXIT_TERMINATED:<4} terminated (SIGTERM); earlier outputs are left untouched

run 'digimpact COMMAND --help' for the options of a command."""
CHART = "ranges.png"
"""The range chart (sectors, subtotals, total, published targets) that ``run`` draws."""
OUTPUT_SET = ("results.nc", "summary.csv", CHART)
"""The files ``run`` writes into its output folder, replaced together."""
USER_ERRORS = (ScenarioError, UsageError, ResultsError, SimulationError, BackendError, OSError,
               MemoryError)
"""Exceptions reported as user errors (exit 2): the input, the options or the machine."""
DEBUG_ENV = "DIGIMPACT_DEBUG"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError`, reported like any other."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``, also written as ``1e6`` or ``20_000``."""

    def parse(text: str) -> int:
        try:
            number = Decimal(text.replace("_", ""))
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number != number.to_integral_value() or number < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum} (e.g. 20000 or "
                                             f"1e6), not {text!r}")
        return int(number)

    parse.__name__ = "whole number"
    return parse


def _positive(text: str) -> float:
    """An argparse type: a positive finite number."""
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number (e.g. 0.1), not {text!r}")
    return number


_positive.__name__ = "positive number"


def _add_common(p: argparse.ArgumentParser, formats: bool = True) -> None:
    if formats:
        p.add_argument("--format", choices=choices(OutputFormat), default="table",
                       help="table (default) or json on stdout; errors too are then JSON")
    p.add_argument("--debug", action="store_true",
                   help=f"print the traceback of an internal error (or set {DEBUG_ENV}=1)")


def _add_run_options(p: argparse.ArgumentParser, engine: bool = True) -> None:
    p.add_argument("file", help="scenario file (.toml)")
    p.add_argument("--draws", type=_whole(1), help="number of draws (default: the scenario's)")
    p.add_argument("--seed", type=_whole(0), help="root seed (default: the scenario's)")
    p.add_argument("--sampler", choices=choices(SamplerName), help="sampler (default: the scenario's)")
    if engine:
        p.add_argument("--backend", choices=choices(BackendName), default="local",
                       help="local, or dask (a LocalCluster unless --scheduler is given)")
        p.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://host:8786 "
                       "(implies --backend dask)")
        p.add_argument("--outputs", choices=choices(OutputsName), default="full",
                       help="target_year: sectors in the target year, total every year")
        p.add_argument("--precision", type=_positive, help="draw in batches (of --draws, default "
                       "2000) until every target quantile's 95%% Monte Carlo interval has a "
                       "half-width below this, in the scenario's unit")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="digimpact", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"digimpact {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = functools.partial(sub.add_parser, epilog=EPILOG.rsplit("\n\n", 1)[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    run = add("run", help=f"simulate; print ranges; write results.nc, summary.csv, {CHART}")
    _add_run_options(run)
    run.add_argument("--out", type=Path, help="output folder, replaced as a whole (default: "
                     "out/<scenario name>)")
    run.add_argument("--keep-inputs", action="store_true",
                     help="keep each draw's sampled parameters in results.nc (8 bytes x draws x "
                     "uncertain parameters), for scatter plots, regressions, scenario discovery")
    run.add_argument("--excel", type=Path, metavar="PATH", help="also write an Excel workbook "
                     "(summary, targets, provenance, scenario, kept inputs); needs openpyxl")
    _add_common(run)
    validate = add("validate", help="check a scenario file without running it")
    validate.add_argument("file", help="scenario file (.toml)")
    _add_common(validate, formats=False)
    check = add("check", help="simulate and compare with the scenario's targets")
    _add_run_options(check)
    _add_common(check)
    cal = add("calibrate", help="fit value drivers to the targets; write a variant",
              description="Fit the levels of the value drivers to the targets (with --exact, "
              "their spreads too)\nand write a variant. Prints the fitted and the out-of-sample "
              "targets, each\nparameter's profile interval, the identifiability and the warnings."
              "\n\nExits 1 if a fitted target is missed. An out-of-sample miss is a warning and "
              "exits 0:\nit is the model's test, not a failed fit ('digimpact check' on the "
              "variant exits 1 on it).")
    _add_run_options(cal, engine=False)
    cal.add_argument("--out", type=Path, required=True, help="variant file to write (.toml)")
    cal.add_argument("--exact", action="store_true", help="free every median and spread and "
                     "fit every target: an exact fit that leaves nothing out of sample")
    cal.add_argument("--param", action="append", help="drivers.<id>.value.median|sigma "
                     "(repeatable; default: each group's level, with --exact also every spread)")
    cal.add_argument("--target", action="append", help="target id to fit (repeatable; the others "
                     "are checked out of sample; default: all but the economy-wide totals, with "
                     "--exact all)")
    cal.add_argument("--estimand", choices=choices(Estimand), help="set the scenario's "
                     "estimand (the reading of every target that names none) before fitting; "
                     "the variant sets it too")
    _add_common(cal, formats=False)
    sens = add("sensitivity", help="rank the inputs that drive an output's range")
    sens.add_argument("file", help="scenario file (.toml)")
    sens.add_argument("--by", choices=choices(GroupBy), default="sector", help="group the inputs by")
    sens.add_argument("--output", default="total", help="total, a group, a sector or a target id")
    sens.add_argument("--year", type=int, help="year of the output (default: the target year)")
    sens.add_argument("--method", choices=choices(SensitivityMethod), default="sobol",
                      help="sobol: variance shares; tornado: one-at-a-time swings")
    sens.add_argument("--draws", type=_whole(1), default=1024,
                      help="Sobol' base sample, a power of two >= 64 (default: 1024)")
    sens.add_argument("--seed", type=_whole(0), default=0, help="seed of the design (default: 0)")
    _add_common(sens)
    cmp = add("compare", help="two scenarios on common random numbers")
    cmp.add_argument("a", help="scenario file A (.toml)")
    cmp.add_argument("b", help="scenario file B (.toml), reported as b - a")
    cmp.add_argument("--draws", type=_whole(1), help="number of draws (default: A's)")
    cmp.add_argument("--seed", type=_whole(0), help="root seed (default: A's)")
    cmp.add_argument("--sampler", choices=choices(SamplerName), help="sampler (default: A's)")
    cmp.add_argument("--year", type=int, help="year compared (default: A's target year)")
    _add_common(cmp)
    rep = add("reproduce", help="re-run a results.nc from its record; are the numbers "
                         "identical bit for bit?")
    rep.add_argument("file", help="results file written by 'digimpact run' (results.nc)")
    _add_common(rep)
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

    a = load_scenario(args.a)
    year = year_in_horizon(a, args.year)  # before simulating
    comparison = compare(a, load_scenario(args.b), draws=args.draws, seed=args.seed,
                         sampler=args.sampler)
    table = comparison.summary(year=year)
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
    options = dict(seed=args.seed, sampler=args.sampler, backend=cast(BackendName, backend),
                   client=args.scheduler, outputs=args.outputs,
                   keep_inputs=getattr(args, "keep_inputs", False))
    if args.precision is None:
        return scenario, simulate(scenario, draws=args.draws, **options)
    from .mcerror import run_until_precision

    return scenario, run_until_precision(scenario, precision=args.precision,
                                         batch=args.draws or 2000, **options)


def _provenance(results: Results) -> dict[str, object]:
    keys = ("title", "scenario_hash", "seed", "sampler", "draws", "digimpact_version", "unit",
            "target_year")
    return {k: results.dataset.attrs[k] for k in keys}


def _json(results: Results) -> str:
    table = results.summary(intervals=True).reset_index()
    checks, intensity = results.check(), results.check_intensity()
    doc = {"provenance": _provenance(results),
           "reading": results.scenario.meta.reading(),
           "summary": json.loads(table.to_json(orient="records", double_precision=15)),
           "targets": json.loads(checks.to_json(orient="records", double_precision=15)),
           "targets_met": bool(checks["ok"].all()),
           "intensities": json.loads(intensity.to_json(orient="records", double_precision=15)),
           "intensities_within_ceiling": bool(intensity["ok"].all())}
    return json.dumps(doc, indent=2)


def _header(results: Results) -> list[str]:
    """Title, what the figures are (estimand, basis, prices) and the run's provenance."""
    a = results.dataset.attrs
    lines = [f"{a['title']}", results.scenario.meta.reading(),
             f"{a['draws']} draws, seed {a['seed']}, sampler {a['sampler']}, scenario "
             f"{a['scenario_hash'][:12]}"]
    if not all(s.market for s in results.scenario.sectors.values()):
        lines.append("Sectors marked (cost and time savings) are non-market: the national accounts "
                     "value their output at cost, so their gains are savings, not value added.")
    return lines


def _intensity_table(results: Results) -> str:
    shown = results.check_intensity()[["sector", "median", "p95", "ceiling", "ok"]]
    return shown.to_string(index=False, float_format=lambda x: f"{x:.3f}")


def _table(results: Results) -> str:
    table = _plus_minus(results.summary(intervals=True).drop(columns="mean"))
    lines = [*_header(results), "", table.to_string(float_format=lambda x: f"{x:8.2f}"),
             "(±: half-width of the 95% Monte Carlo interval of the quantile before it)"]
    checks = results.check()
    if len(checks):
        shown = checks[["name", "bound", "quantile", "published", "simulated", "residual",
                        "tolerance", "ok", "mc_low", "mc_high", "within_mc_error", "draws_needed"]]
        lines += ["", "Published targets:", shown.to_string(index=False, float_format=lambda x: f"{x:.2f}")]
    return "\n".join(lines)


def _plus_minus(table: pd.DataFrame) -> pd.DataFrame:
    """Each quantile column followed by "±", the half-width of its Monte Carlo interval."""
    shown = table.loc[:, [c for c in table.columns if not c.endswith(("_low", "_high"))]].copy()
    for column in [c for c in shown.columns if f"{c}_low" in table.columns][::-1]:
        half = (table[f"{column}_high"] - table[f"{column}_low"]) / 2
        shown.insert(shown.columns.get_loc(column) + 1, f"{column} ±", half)
    return shown


def _write_outputs(results: Results, folder: Path) -> None:
    """Write :data:`OUTPUT_SET` into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot

    results.to_netcdf(folder / "results.nc")
    results.summary().to_csv(folder / "summary.csv")
    figure = cast("Figure", plot.exhibit5(results).figure)
    try:
        figure.savefig(folder / CHART, dpi=130, format="png")
    finally:
        plt.close(figure)


def _run(args: argparse.Namespace) -> int:
    out = args.out or Path("out") / Path(args.file).stem
    check_writable(out, folder_of=OUTPUT_SET)  # before simulating
    if args.excel:
        from .export import require_openpyxl

        require_openpyxl()
        check_writable(args.excel)
    _scenario, results = _simulate(args)
    with replace_folder(out) as staging:  # all old files or all new ones
        _write_outputs(results, staging)
    if args.excel:
        results.to_excel(args.excel)
    if args.format == "json":
        print(_json(results))
    else:
        print(_table(results))
        print(f"\nWrote {out / 'results.nc'}, {out / 'summary.csv'} and {out / CHART}"
              + (f", and {args.excel}" if args.excel else ""))
    return 0


def _validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    print(f"{args.file}: OK ({len(scenario.sectors)} sectors, {len(scenario.use_cases)} use "
          f"cases, {len(scenario.parameters())} parameters, {len(scenario.targets)} targets)")
    return 0


def _check(args: argparse.Namespace) -> int:
    _, results = _simulate(args)
    checks, intensity = results.check(), results.check_intensity()
    if args.format == "json":
        print(_json(results))
    else:
        with pd.option_context("display.width", 160):
            print(checks.drop(columns="source").to_string(index=False))
            print(f"\nIntensity (value / value added, {results.scenario.meta.target_year}) "
                  f"against each sector's ceiling:\n{_intensity_table(results)}")
    if not len(checks):
        print("no targets in this scenario", file=sys.stderr)
    missed, over = int((~checks["ok"]).sum()), int((~intensity["ok"]).sum())
    if missed:
        noise = checks[~checks["ok"] & checks["within_mc_error"]]
        detail = (f" ({len(noise)} within Monte Carlo error: more draws would settle "
                  f"{'it' if len(noise) == 1 else 'them'}, about --draws {noise['draws_needed'].max()})"
                  if len(noise) else " (beyond Monte Carlo error)")
        print(f"{missed} target bound(s) missed{detail}", file=sys.stderr)
    if over:
        print(f"{over} sector(s) over their intensity ceiling", file=sys.stderr)
    return 1 if missed or over else 0


def _calibrate(args: argparse.Namespace) -> int:
    import tomli_w

    from .calibrate import calibrate

    scenario = load_scenario(args.file)
    if args.estimand:
        scenario = scenario.with_overrides({"scenario.estimand": args.estimand})
    check_writable(args.out)
    _fitted, report = calibrate(scenario, targets=args.target, params=args.param,
                                mode="exact" if args.exact else "levels", draws=args.draws,
                                seed=args.seed, sampler=args.sampler)
    values: dict = {"scenario": {"estimand": args.estimand}} if args.estimand else {}
    for key, value in report.parameters["fitted"].items():
        *head, last = key.split(".")
        node = values
        for part in head:
            node = node.setdefault(part, {})
        node[last] = float(value)
    relative = os.path.relpath(Path(args.file).resolve(), args.out.resolve().parent)
    lines = [f"# Calibrated by `digimpact calibrate{' --exact' if args.exact else ''}` (digimpact "
             f"{__version__}, estimand {scenario.meta.estimand}) on {report.draws} draws, seed "
             f"{report.seed}, sampler {report.sampler}:",
             "# scipy.optimize.least_squares on (simulated - published quantile) / tolerance.",
             "# target, quantile: published -> achieved"]
    lines += [f"#   {r.target}, {quantile_label(r.quantile)}: {r.published:g} -> {r.achieved:.2f}"
              + (" (out of sample)" if r.role == "out_of_sample" else "")
              for r in report.targets.itertuples()]
    text = "\n".join(lines) + "\n" + tomli_w.dumps({"extends": relative, **values})
    atomic_write(args.out, text.encode())
    print(report.to_text())
    print(f"\nWrote {args.out}")
    return EXIT_OK if report.fitted["ok"].all() else EXIT_MISSED


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    result = reproduce(args.file)
    if args.format == "json":
        stored, current = result.versions
        print(json.dumps({"file": str(args.file), "identical": result.identical,
                          "stored_version": stored, "current_version": current,
                          "settings": result.settings(), "variables": _records(result.variables)},
                         indent=2))
    else:
        print(f"{args.file}: {result}")
    return EXIT_OK if result.identical else EXIT_MISSED


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run, "validate": _validate, "check": _check, "calibrate": _calibrate,
    "sensitivity": _sensitivity, "compare": _compare, "reproduce": _reproduce}


class _Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that cleanup code runs."""


def _raise_terminated(signum: int, frame) -> None:
    raise _Terminated


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`_Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fields(exc: BaseException) -> dict[str, object]:
    """``message``, ``file`` and key ``path`` of an error, for one line and the JSON object."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return {"message": exc.strerror or str(exc), "file": str(exc.filename), "path": None}
    if isinstance(exc, MemoryError):
        return {"message": f"out of memory ({exc}); use fewer --draws, --outputs target_year or "
                f"--backend dask", "file": None, "path": None}
    return {"message": getattr(exc, "message", None) or str(exc) or type(exc).__name__,
            "file": getattr(exc, "file", None), "path": getattr(exc, "path", None) or None}


def _fail(exc: BaseException, code: int, as_json: bool) -> int:
    """Report ``exc`` in one line on stderr (and as JSON on stdout) and return ``code``."""
    fields = _fields(exc)
    if as_json:
        print(json.dumps({"error": {"type": type(exc).__name__, **fields, "exit_code": code}},
                         indent=2))
    if code == EXIT_INTERRUPTED:
        line = "interrupted; earlier outputs are untouched"
    elif code == EXIT_TERMINATED:
        line = "terminated; earlier outputs are untouched"
    elif code == EXIT_BUG:
        line = (f"internal error, a bug in digimpact {__version__}: {type(exc).__name__}: {exc}. "
                f"Please report it to the digimpact issue tracker with the command line "
                f"(traceback: --debug or {DEBUG_ENV}=1)")
    else:
        line = ": ".join(str(f) for f in (fields["file"], fields["path"], fields["message"]) if f)
    line = " ".join(line.split())  # one line, whatever the message
    print(f"digimpact: {'error: ' if code == EXIT_USER else ''}{line}", file=sys.stderr)
    return code


def _asks_json(argv: Sequence[str]) -> bool:
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--format=json" in argv or any(a == "--format" and b == "json" for a, b in pairs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``digimpact`` command; returns the exit code (see :data:`EPILOG`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _asks_json(argv)
    args = None
    with _sigterm_raises():
        try:
            args = _parser().parse_args(argv)
            return COMMANDS[args.command](args)
        except KeyboardInterrupt as exc:
            return _fail(exc, EXIT_INTERRUPTED, as_json)
        except _Terminated as exc:
            return _fail(exc, EXIT_TERMINATED, as_json)
        except USER_ERRORS as exc:
            return _fail(exc, EXIT_USER, as_json)
        except Exception as exc:
            if getattr(args, "debug", False) or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                traceback.print_exc()
            return _fail(exc, EXIT_BUG, as_json)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
