"""Scaling benchmark: time, throughput and peak memory against draws and use cases, local and dask.

Every measurement runs in a fresh process; a thread samples the resident memory of that process
and all its children (the dask workers) every 0.1 s, so "peak RSS" is the whole job's. Outputs are
``outputs="target_year"`` (sector values in the target year, the total for every year): memory
should grow with draws x (sectors + years) and not with use cases.

Usage::

    python benchmarks/bench_scale.py exhibit5 --draws 10000000        # the Exhibit 5 scenario
    python benchmarks/bench_scale.py scaling [--max-draws 10000000]   # tables + docs/img/scaling.png
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """Peak resident memory (MiB) of this process and its children while in the block."""

    def __enter__(self) -> PeakRSS:
        import psutil

        self.peak, self._stop = 0.0, threading.Event()
        me = psutil.Process()

        def sample() -> None:
            while not self._stop.is_set():
                try:
                    procs = [me, *me.children(recursive=True)]
                    self.peak = max(self.peak, sum(p.memory_info().rss for p in procs) / 2**20)
                except psutil.Error:
                    pass
                time.sleep(0.1)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _scenario(kind: str, use_cases: int):
    import digimpact

    if kind == "exhibit5":
        return digimpact.load_scenario(ROOT / "scenarios" / "japan2030" / "exhibit5.toml")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import scenario_document

    return digimpact.Scenario.from_dict(scenario_document(use_cases, 10))


def measure(kind: str, draws: int, use_cases: int, backend: str, sampler: str) -> dict:
    """One run in this process; returns time, throughput and peak memory."""
    import digimpact

    scenario = _scenario(kind, use_cases)
    client = None
    if backend == "dask":
        from distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None))
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        r = digimpact.simulate(scenario, draws=draws, sampler=sampler, outputs="target_year",
                               backend=backend, client=client, progress=False)
        seconds = time.perf_counter() - t0
        summary = r.summary()
    evals = draws * len(scenario.use_cases) * len(scenario.years)
    cores = 2 if backend == "dask" else 1
    return {"kind": kind, "backend": backend, "sampler": sampler, "draws": draws,
            "use_cases": len(scenario.use_cases), "seconds": seconds, "peak_rss_mib": rss.peak,
            "evals_per_s_per_core": evals / seconds / cores,
            "total_p95": float(summary.loc[("annual", "total", "total"), "p95"])}


def _subprocess(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "one", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(r: dict) -> str:
    return (f"| {r['backend']} | {r['sampler']} | {r['use_cases']} | {r['draws']:,} | "
            f"{r['seconds']:.1f} | {r['evals_per_s_per_core']:.2e} | {r['peak_rss_mib']:.0f} |")


HEADER = ("| backend | sampler | use cases | draws | time (s) | use-case-year evaluations / s / core |"
          " peak RSS (MiB) |\n|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("one")
    for p in (one,):
        p.add_argument("kind", choices=("exhibit5", "synthetic"))
        p.add_argument("draws", type=int)
        p.add_argument("use_cases", type=int)
        p.add_argument("backend", choices=("local", "dask"))
        p.add_argument("sampler")
    e5 = sub.add_parser("exhibit5")
    e5.add_argument("--draws", type=int, default=10_000_000)
    e5.add_argument("--sampler", default="random")
    e5.add_argument("--backends", default="local,dask")
    sc = sub.add_parser("scaling")
    sc.add_argument("--max-draws", type=int, default=10_000_000)
    sc.add_argument("--backends", default="local,dask")
    args = parser.parse_args()
    if args.command == "one":
        print(json.dumps(measure(args.kind, args.draws, args.use_cases, args.backend, args.sampler)))
        return
    backends = args.backends.split(",")
    if args.command == "exhibit5":
        print(HEADER)
        for b in backends:
            print(_row(_subprocess("exhibit5", str(args.draws), "0", b, args.sampler)), flush=True)
        return
    rows = []
    print(HEADER)
    draws = [d for d in (1_000, 10_000, 100_000, 1_000_000, 10_000_000) if d <= args.max_draws]
    for b in backends:
        for d in draws:
            rows.append(_subprocess("synthetic", str(d), "100", b, "random"))
            print(_row(rows[-1]), flush=True)
        for u in (10, 100, 1000):
            rows.append(_subprocess("synthetic", "100000", str(u), b, "random"))
            print(_row(rows[-1]), flush=True)
    _plot(rows, backends)


def _plot(rows: list[dict], backends: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for b in backends:
        by_draws = sorted((r for r in rows if r["backend"] == b and r["use_cases"] == 100),
                          key=lambda r: r["draws"])
        by_draws = list({r["draws"]: r for r in by_draws}.values())
        by_uc = sorted((r for r in rows if r["backend"] == b and r["draws"] == 100_000),
                       key=lambda r: r["use_cases"])
        by_uc = list({r["use_cases"]: r for r in by_uc}.values())
        for ax, series, x in ((axes[0], by_draws, "draws"), (axes[1], by_uc, "use_cases")):
            xs = [r[x] for r in series]
            ax.loglog(xs, [r["seconds"] for r in series], "o-", label=f"{b}: time (s)")
            ax.loglog(xs, [r["peak_rss_mib"] / 1024 for r in series], "s--",
                      label=f"{b}: peak RSS (GiB)")
    axes[0].set_xlabel("draws (100 use cases, 10 sectors, 11 years)")
    axes[1].set_xlabel("use cases (100,000 draws)")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    out = ROOT / "docs" / "img" / "scaling.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
