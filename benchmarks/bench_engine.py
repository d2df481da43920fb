"""Benchmark: digimpact.simulate against a hand-written vectorised numpy model, same draws.

The job: U use cases spread over S sectors, 11 years (2020-2030), three uncertain parameters
per use case (potential triangular, logistic midpoint uniform, steepness uniform), a fixed
ceiling, sector baselines with growth. Both sides start from the same uniform points (the
name-derived random streams of digimpact's ``random`` sampler) and must produce the same
per-sector, per-year values. Two hand-written baselines: ``numpy`` uses closed-form quantile
functions, one broadcast logistic and an ``einsum`` over use cases (the straightforward way);
``numpy-tuned`` evaluates one use case at a time with in-place operations, so its arrays stay in
the processor's cache (what an expert would write).

Each measurement runs in its own process so that peak resident memory (``ru_maxrss``) is that
implementation's alone; the processes run in interleaved rounds (every implementation once per
round) so that a slow phase of a shared machine affects all of them alike.

Usage::

    python benchmarks/bench_engine.py                       # 100 use cases, 10 sectors, 100,000 draws
    python benchmarks/bench_engine.py --draws 1000000 --use-cases 100
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from rounds import interleaved

YEARS = np.arange(2020, 2031, dtype=float)


def scenario_document(n_use_cases: int, n_sectors: int) -> dict:
    """The benchmark scenario as a document (deterministic, no randomness)."""
    sectors = {f"s{j}": {"name": f"Sector {j}", "group": "core" if j < n_sectors // 2 else "other",
                         "value_added": 10.0 + j, "growth": 0.01} for j in range(n_sectors)}
    use_cases = {}
    for i in range(n_use_cases):
        mode = 0.002 + 0.0001 * (i % 7)
        use_cases[f"u{i:04d}"] = {
            "sector": f"s{i % n_sectors}",
            "potential": {"dist": "triangular", "low": mode / 2, "mode": mode, "high": 2 * mode},
            "adoption": {"kind": "logistic",
                         "midpoint": {"dist": "uniform", "low": 2023.0 + i % 3, "high": 2027.0 + i % 3},
                         "steepness": {"dist": "uniform", "low": 0.3, "high": 0.9},
                         "ceiling": 0.8},
        }
    return {"scenario": {"title": "benchmark", "unit": "JPY trillion", "base_year": 2018,
                         "horizon": [2020, 2030]},
            "settings": {"draws": 1000, "seed": 1, "sampler": "random"},
            "sectors": sectors, "use_cases": use_cases}


def run_digimpact(scenario, draws: int) -> np.ndarray:
    import digimpact

    return digimpact.simulate(scenario, draws=draws, seed=1, sampler="random",
                              progress=False).dataset["value"].values


class _Model:
    """The job's arrays, read from the scenario document: what a hand-written model starts from."""

    def __init__(self, doc: dict, draws: int) -> None:
        from digimpact.sampling import make_sampler

        ucs, ids = list(doc["use_cases"].values()), list(doc["use_cases"])
        self.sectors = list(doc["sectors"])
        names = sorted([f"use_cases.{k}.{p}" for k in ids
                        for p in ("potential", "adoption.midpoint", "adoption.steepness")])
        row = {n: i for i, n in enumerate(names)}
        self.r_pot = np.array([row[f"use_cases.{k}.potential"] for k in ids])
        self.r_mid = np.array([row[f"use_cases.{k}.adoption.midpoint"] for k in ids])
        self.r_stp = np.array([row[f"use_cases.{k}.adoption.steepness"] for k in ids])

        def column(*keys: str) -> np.ndarray:
            values = []
            for u in ucs:
                for key in keys:
                    u = u[key]
                values.append(u)
            return np.array(values, dtype=float)[:, None]

        self.lo, self.md, self.hi = (column("potential", k) for k in ("low", "mode", "high"))
        self.m_lo, self.m_hi = (column("adoption", "midpoint", k) for k in ("low", "high"))
        self.k_lo, self.k_hi = (column("adoption", "steepness", k) for k in ("low", "high"))
        self.ceiling = column("adoption", "ceiling")
        self.sector_of = np.array([self.sectors.index(u["sector"]) for u in ucs])
        self.onehot = np.zeros((len(ucs), len(self.sectors)))
        self.onehot[np.arange(len(ucs)), self.sector_of] = 1.0
        self.base = np.array([[s["value_added"] * (1 + s["growth"]) ** (y - 2018) for y in YEARS]
                              for s in doc["sectors"].values()])  # (S, Y)
        self.sampler = make_sampler("random", names, 1, draws)

    def parameters(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Potential, midpoint and steepness of draws start..stop-1, each (U, n)."""
        u = self.sampler.uniforms(start, stop)
        up, lo, md, hi = u[self.r_pot], self.lo, self.md, self.hi
        pot = np.where(up < (md - lo) / (hi - lo), lo + np.sqrt(up * (hi - lo) * (md - lo)),
                       hi - np.sqrt((1 - up) * (hi - lo) * (hi - md)))
        return (pot, self.m_lo + u[self.r_mid] * (self.m_hi - self.m_lo),
                self.k_lo + u[self.r_stp] * (self.k_hi - self.k_lo))


def run_numpy(doc: dict, draws: int, chunk: int = 4096) -> np.ndarray:
    """Hand-written model: same uniforms, closed-form ppfs, broadcast logistic, einsum."""
    m = _Model(doc, draws)
    out = np.empty((draws, len(m.sectors), len(YEARS)))
    for start in range(0, draws, chunk):
        stop = min(start + chunk, draws)
        pot, mid, stp = m.parameters(start, stop)
        adoption = m.ceiling[..., None] / (1.0 + np.exp(-stp[..., None] * (YEARS - mid[..., None])))
        out[start:stop] = np.einsum("unY,un,us->nsY", adoption, pot, m.onehot) * m.base[None]
    return out


def run_numpy_tuned(doc: dict, draws: int, chunk: int = 4096) -> np.ndarray:
    """Hand-tuned model: as ``run_numpy``, but one use case at a time with in-place operations
    (arrays that stay in cache), ceiling x potential folded into the logistic's numerator and
    sector sums by addition, times the baseline once per sector."""
    m = _Model(doc, draws)
    out = np.empty((draws, len(m.sectors), len(YEARS)))
    for start in range(0, draws, chunk):
        stop = min(start + chunk, draws)
        pot, mid, stp = m.parameters(start, stop)
        weight = (m.ceiling * pot)[..., None]
        acc = np.zeros((len(m.sectors), stop - start, len(YEARS)))
        z = np.empty((stop - start, len(YEARS)))
        for u, s in enumerate(m.sector_of):
            np.subtract(mid[u, :, None], YEARS, out=z)
            z *= stp[u, :, None]
            np.exp(z, out=z)
            z += 1.0
            np.divide(weight[u], z, out=z)
            acc[s] += z
        acc *= m.base[:, None, :]
        out[start:stop] = acc.transpose(1, 0, 2)
    return out


IMPLEMENTATIONS = {"numpy": run_numpy, "numpy-tuned": run_numpy_tuned}


def _measure(impl: str, draws: int, n_use_cases: int, n_sectors: int, repeat: int) -> dict:
    doc = scenario_document(n_use_cases, n_sectors)
    if impl == "digimpact":  # parsing and validating the scenario is not timed
        import digimpact

        fn, model = run_digimpact, digimpact.Scenario.from_dict(doc)
    else:
        fn, model = IMPLEMENTATIONS[impl], doc
    fn(model, min(draws, 2000))  # warm-up: imports, caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(model, draws)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"impl": impl, "seconds": min(times), "peak_rss_mib": peak,
            "checksum": float(result.sum()), "q95_total": float(np.quantile(result[:, :, -1].sum(1), 0.95))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--use-cases", type=int, default=100)
    parser.add_argument("--sectors", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs in each process")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds over the implementations, each in a fresh process")
    parser.add_argument("--one", choices=("digimpact", *IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(args.one, args.draws, args.use_cases, args.sectors, args.repeat)))
        return
    def measure(impl: str) -> dict:
        cmd = [sys.executable, __file__, "--one", impl, "--draws", str(args.draws), "--use-cases",
               str(args.use_cases), "--sectors", str(args.sectors), "--repeat", str(args.repeat)]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    rows = interleaved(("digimpact", *IMPLEMENTATIONS), args.rounds, measure)
    d = rows["digimpact"]
    same = {k: abs(d["checksum"] - r["checksum"]) <= 1e-9 * abs(r["checksum"]) for k, r in rows.items()}
    evals = args.draws * args.use_cases * len(YEARS)
    print(f"job: {args.use_cases} use cases x {args.sectors} sectors x {len(YEARS)} years, "
          f"{args.draws:,} draws ({evals:.2e} use-case-year evaluations); same results: {all(same.values())}")
    print(f"| implementation | time (s, best of {args.repeat} x {args.rounds} rounds) | peak RSS (MiB) "
          "| evaluations / s | digimpact's time / this | in each round |")
    print("|---|---|---|---|---|---|")
    for r in rows.values():
        each = " / ".join(f"{a / b:.2f}" for a, b in zip(d["round_seconds"], r["round_seconds"],
                                                         strict=True))
        print(f"| {r['impl']} | {r['seconds']:.2f} | {r['peak_rss_mib']:.0f} | {evals / r['seconds']:.2e} "
              f"| {d['seconds'] / r['seconds']:.2f} | {each} |")
    if not all(same.values()):
        sys.exit("results differ: " + ", ".join(k for k, v in same.items() if not v))


if __name__ == "__main__":
    main()
