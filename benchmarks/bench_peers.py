"""Benchmark: digimpact.simulate against peer libraries (monaco, EMA Workbench, SALib) on one job.

The job: 60 use cases over 4 sectors, 11 years (2020-2030). Each use case has three uncertain
parameters: value potential (a share of its sector's value added, uniform), logistic adoption
midpoint (triangular) and steepness (uniform); the ceiling is fixed at 0.8. Sector baselines
grow from 2018. For draw d, use case u in sector s and year y::

    value[d, u, y] = base[s, y] * potential[d, u] * ceiling / (1 + exp(-k[d, u] (y - m[d, u])))

and a sector's value is the sum over its use cases. Every implementation draws Latin-hypercube
points and returns the full result, draws x 4 sectors x 11 years.

- ``digimpact``: ``digimpact.simulate`` on the job written as a scenario document.
- ``monaco``: an ``mc.Sim`` with 180 input variables and one output variable per sector (the
  11-year series); monaco calls preprocess / run / postprocess once per draw. Run
  single-threaded and with a multiprocessing pool of 2 workers (``monaco-mp2``).
- ``ema``: an EMA Workbench ``Model`` wrapping a function of one experiment, 180 uncertainties
  and a ``TimeSeriesOutcome`` per sector, ``perform_experiments`` with the ``SequentialEvaluator``.
- ``salib``: ``SALib.sample.latin.sample`` for all draws, then one vectorised numpy evaluation.

The per-draw model (``model``) is shared: monaco and EMA call it on one draw's 60-vectors,
SALib on the whole (draws, 60) sample. Timed: the run only, from sampling to the full result as
an array (scenario parsing, ``Sim`` / ``Model`` construction and imports are not timed). Each
implementation runs in its own process so that peak resident memory (``ru_maxrss``) is its own,
best of ``--repeat`` runs there. The processes run in ``--rounds`` interleaved rounds (every
implementation once per round), so a slow phase of a shared machine hits all of them alike; the
table gives the best time over the rounds and the ratio to digimpact within each round.

Correctness: the 5th / 50th / 95th percentiles of each sector's 2030 value and of their total
must agree with digimpact's within 4 Monte Carlo standard errors. The standard error of a
percentile at n draws is the spread of digimpact's estimate over 20 seeds at n draws (LHS, as
every implementation uses); a difference between two runs has standard error
sqrt(se(n_a)^2 + se(n_b)^2). The script exits non-zero if any implementation disagrees.

Per-draw peers can be run at fewer draws (``--peer-draws``) and extrapolated linearly to
10,000; two sizes show whether the scaling is linear.

Usage::

    python benchmarks/bench_peers.py [--draws N] [--peers monaco,ema,salib]
    python benchmarks/bench_peers.py --peer-draws 1000,2000     # monaco and EMA at 1,000 and 2,000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rounds import interleaved
from scipy import stats

YEARS = np.arange(2020, 2031, dtype=float)
BASE_YEAR = 2018
CEILING = 0.8
N_USE_CASES = 60
SECTORS = {  # id: (value added in BASE_YEAR, annual growth)
    "manufacturing": (110.0, 0.010),
    "retail": (70.0, 0.005),
    "finance": (35.0, 0.015),
    "healthcare": (40.0, 0.020),
}
PARAMS = ("potential", "midpoint", "steepness")
SEED = 2021
SE_SEEDS = 20  # digimpact runs per sample size to estimate the Monte Carlo standard error
Z_MAX = 4.0
QUANTILES = (0.05, 0.5, 0.95)


# --------------------------------------------------------------------------- the common job
@dataclass(frozen=True)
class UseCase:
    id: str
    sector: int
    potential: tuple[float, float]  # uniform low, high
    midpoint: tuple[float, float, float]  # triangular low, mode, high
    steepness: tuple[float, float]  # uniform low, high


def make_use_cases() -> list[UseCase]:
    """The 60 use cases (deterministic, no randomness)."""
    out = []
    for i in range(N_USE_CASES):
        low = 0.002 + 0.0004 * (i % 5)
        m0 = 2022.0 + i % 3
        out.append(UseCase(id=f"u{i:02d}", sector=i % len(SECTORS), potential=(low, 2.5 * low),
                           midpoint=(m0, m0 + 2.0 + 0.5 * (i % 4), m0 + 7.0),
                           steepness=(0.3 + 0.05 * (i % 3), 0.9 + 0.05 * (i % 3))))
    return out


USE_CASES = make_use_cases()
BASE = np.array([[va * (1 + g) ** (y - BASE_YEAR) for y in YEARS] for va, g in SECTORS.values()])  # (S, Y)
ONEHOT = np.eye(len(SECTORS))[[u.sector for u in USE_CASES]]  # (U, S)


def model(potential: np.ndarray, midpoint: np.ndarray, steepness: np.ndarray) -> np.ndarray:
    """Sector values, shape (..., S, Y), from parameters of shape (..., U): one draw or many."""
    adoption = CEILING / (1.0 + np.exp(-steepness[..., None] * (YEARS - midpoint[..., None])))
    use_case_value = potential[..., None] * adoption * (ONEHOT @ BASE)  # (..., U, Y)
    return np.einsum("...uy,us->...sy", use_case_value, ONEHOT)


def parameter_name(uc: UseCase, param: str) -> str:
    return f"{uc.id}_{param}"


def scipy_spec(uc: UseCase, param: str) -> tuple[stats.rv_continuous, dict[str, float]]:
    """One parameter as a scipy.stats family and its keyword arguments."""
    if param == "midpoint":
        low, mode, high = uc.midpoint
        return stats.triang, {"c": (mode - low) / (high - low), "loc": low, "scale": high - low}
    low, high = getattr(uc, param)
    return stats.uniform, {"loc": low, "scale": high - low}


def scipy_frozen(uc: UseCase, param: str):
    """One parameter as a frozen scipy.stats distribution."""
    dist, kwargs = scipy_spec(uc, param)
    return dist(**kwargs)


def scenario_document() -> dict:
    """The job as a digimpact scenario document."""
    sectors = {s: {"name": s.title(), "group": "core", "value_added": va, "growth": g}
               for s, (va, g) in SECTORS.items()}
    names = list(SECTORS)
    use_cases = {}
    for uc in USE_CASES:
        (p_lo, p_hi), (m_lo, m_mode, m_hi), (k_lo, k_hi) = uc.potential, uc.midpoint, uc.steepness
        use_cases[uc.id] = {
            "sector": names[uc.sector],
            "potential": {"dist": "uniform", "low": p_lo, "high": p_hi},
            "adoption": {"kind": "logistic",
                         "midpoint": {"dist": "triangular", "low": m_lo, "mode": m_mode, "high": m_hi},
                         "steepness": {"dist": "uniform", "low": k_lo, "high": k_hi},
                         "ceiling": CEILING},
        }
    return {"scenario": {"title": "peer benchmark", "unit": "JPY trillion", "base_year": BASE_YEAR,
                         "horizon": [int(YEARS[0]), int(YEARS[-1])]},
            "settings": {"draws": 10_000, "seed": SEED, "sampler": "lhs"},
            "sectors": sectors, "use_cases": use_cases}


# --------------------------------------------------------------------------- implementations
# Each ``prepare_*(draws, seed)`` does the untimed set-up and returns the timed run: a callable
# giving the sector values as an array of shape (draws, S, Y).
def prepare_digimpact(draws: int, seed: int) -> Callable[[], np.ndarray]:
    import digimpact

    scenario = digimpact.Scenario.from_dict(scenario_document())
    return lambda: digimpact.simulate(scenario, draws=draws, sampler="lhs", seed=seed,
                                      progress=False).dataset["value"].values


def prepare_salib(draws: int, seed: int) -> Callable[[], np.ndarray]:
    from SALib.sample import latin

    names, bounds, dists = [], [], []
    for uc in USE_CASES:
        for p in PARAMS:
            names.append(parameter_name(uc, p))
            if p == "midpoint":  # SALib's triangular: [low, high, mode as a fraction of the width]
                low, mode, high = uc.midpoint
                bounds.append([low, high, (mode - low) / (high - low)])
                dists.append("triang")
            else:
                bounds.append(list(getattr(uc, p)))
                dists.append("unif")
    problem = {"num_vars": len(names), "names": names, "bounds": bounds, "dists": dists}

    def run() -> np.ndarray:
        x = latin.sample(problem, draws, seed=seed).reshape(draws, N_USE_CASES, len(PARAMS))
        return model(x[..., 0], x[..., 1], x[..., 2])

    return run


def _monaco_preprocess(case) -> tuple[np.ndarray, ...]:
    return tuple(np.array([case.invals[parameter_name(uc, p)].val for uc in USE_CASES]) for p in PARAMS)


def _monaco_run(potential: np.ndarray, midpoint: np.ndarray, steepness: np.ndarray) -> tuple[np.ndarray]:
    return (model(potential, midpoint, steepness),)


def _monaco_postprocess(case, values: np.ndarray) -> None:
    for s, sector in enumerate(SECTORS):
        case.addOutVal(sector, values[s])  # the 11-year series


def prepare_monaco(draws: int, seed: int, workers: int | None = None) -> Callable[[], np.ndarray]:
    import monaco as mc

    fcns = {mc.SimFunctions.PREPROCESS: _monaco_preprocess, mc.SimFunctions.RUN: _monaco_run,
            mc.SimFunctions.POSTPROCESS: _monaco_postprocess}
    sim = mc.Sim(name="peer_benchmark", ndraws=draws, fcns=fcns, seed=seed,
                 samplemethod=mc.SampleMethod.LATIN_HYPERCUBE, singlethreaded=workers is None,
                 ncores=workers, verbose=False)
    for uc in USE_CASES:
        for p in PARAMS:
            dist, kwargs = scipy_spec(uc, p)
            sim.addInVar(name=parameter_name(uc, p), dist=dist, distkwargs=kwargs)

    def run() -> np.ndarray:
        sim.runSim()
        out = np.stack([np.stack(sim.outvars[s].nums) for s in SECTORS], axis=1)
        if sim.pool is not None:  # so that the workers' peak memory is counted (RUSAGE_CHILDREN)
            sim.pool.shutdown(wait=True)
            sim.pool = None
        return out

    return run


def _ema_function(**params: float) -> dict[str, np.ndarray]:
    values = model(*(np.array([params[parameter_name(uc, p)] for uc in USE_CASES]) for p in PARAMS))
    return {sector: values[s] for s, sector in enumerate(SECTORS)}


def prepare_ema(draws: int, seed: int) -> Callable[[], np.ndarray]:
    from ema_workbench import Model, RealParameter, Samplers, SequentialEvaluator, TimeSeriesOutcome

    model_ = Model("peerbenchmark", function=_ema_function)
    # uniform: RealParameter(name, low, high); triangular: RealParameter.from_dist with the frozen
    # scipy distribution, which EMA's samplers map through its ppf
    model_.uncertainties = [
        RealParameter(parameter_name(uc, p), *getattr(uc, p)) if p != "midpoint"
        else RealParameter.from_dist(parameter_name(uc, p), scipy_frozen(uc, p))
        for uc in USE_CASES for p in PARAMS]
    model_.outcomes = [TimeSeriesOutcome(s) for s in SECTORS]

    def run() -> np.ndarray:
        np.random.seed(seed)  # noqa: NPY002 - EMA's LHS sampler draws from numpy's global state
        with SequentialEvaluator(model_) as evaluator:
            _, outcomes = evaluator.perform_experiments(scenarios=draws, uncertainty_sampling=Samplers.LHS)
        return np.stack([outcomes[s] for s in SECTORS], axis=1)

    return run


IMPLEMENTATIONS: dict[str, tuple[Callable[..., Callable[[], np.ndarray]], dict, bool]] = {
    # name: (prepare, extra arguments, per-draw peer that may run at fewer draws)
    "digimpact": (prepare_digimpact, {}, False),
    "monaco": (prepare_monaco, {}, True),
    "monaco-mp2": (prepare_monaco, {"workers": 2}, True),
    "ema": (prepare_ema, {}, True),
    "salib": (prepare_salib, {}, False),
}
PEER_GROUPS = {"monaco": ("monaco", "monaco-mp2"), "ema": ("ema",), "salib": ("salib",)}


# --------------------------------------------------------------------------- measurement
def key_quantiles(values: np.ndarray) -> np.ndarray:
    """5th / 50th / 95th percentiles of each sector's 2030 value and of the total, (S + 1, 3)."""
    last = values[:, :, -1]
    return np.quantile(np.column_stack([last, last.sum(axis=1)]), QUANTILES, axis=0).T


def _measure(impl: str, draws: int, repeat: int) -> dict:
    prepare, extra, _ = IMPLEMENTATIONS[impl]
    prepare(min(draws, 50), SEED + 1, **extra)()  # warm-up: imports, caches
    times = []
    for _ in range(repeat):
        run = prepare(draws, SEED, **extra)  # a fresh set-up each time (a monaco Sim runs once)
        t0 = time.perf_counter()
        values = run()
        times.append(time.perf_counter() - t0)
    assert values.shape == (draws, len(SECTORS), len(YEARS)), values.shape
    kib = 1024  # ru_maxrss is in KiB on Linux
    return {"impl": impl, "draws": draws, "seconds": min(times), "repeat": repeat,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib,
            "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib,
            "quantiles": key_quantiles(values).tolist()}


def measure(impl: str, draws: int, repeat: int) -> dict:
    """Measure one implementation in a fresh process."""
    cmd = [sys.executable, __file__, "--one", impl, "--draws", str(draws), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        return {"impl": impl, "draws": draws, "error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def standard_errors(sizes: set[int]) -> dict[int, np.ndarray]:
    """Monte Carlo standard error of ``key_quantiles`` at each sample size: the spread of
    digimpact's estimate over SE_SEEDS seeds (LHS)."""
    run = {n: [key_quantiles(prepare_digimpact(n, 1000 + i)()) for i in range(SE_SEEDS)] for n in sizes}
    return {n: np.std(est, axis=0, ddof=1) for n, est in run.items()}


def compare(rows: list[dict], reference: dict, se: dict[int, np.ndarray]) -> dict[str, float]:
    """Print every percentile with its z-score against digimpact; return max |z| per run."""
    ref = np.array(reference["quantiles"])
    z = {}  # run label -> (S + 1, 3) z-scores
    for r in rows:
        label = f"{r['impl']}@{r['draws']}"
        z[label] = (np.array(r["quantiles"]) - ref) / np.hypot(se[reference["draws"]], se[r["draws"]])
    print(f"\n2030 percentiles against digimpact at {reference['draws']:,} draws; (z) = difference / "
          f"Monte Carlo standard error of the difference")
    print(f"{'quantity':<18}{'digimpact':>10}" + "".join(f"{label:>26}" for label in z))
    for i, name in enumerate([*SECTORS, "total"]):
        for j, q in enumerate(QUANTILES):
            cells = "".join(f"{r['quantiles'][i][j]:>18.4f} ({z[label][i, j]:+5.1f})"
                            for r, label in zip(rows, z, strict=True))
            print(f"{f'{name} p{round(100 * q):02d}':<18}{ref[i, j]:>10.4f}{cells}")
    for n in sorted(se):
        print(f"standard error at {n:,} draws (from {SE_SEEDS} digimpact seeds), total p05 / p50 / p95: "
              + " / ".join(f"{x:.4f}" for x in se[n][-1]))
    return {label: float(np.abs(v).max()) for label, v in z.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10_000, help="draws of the job (default 10,000)")
    parser.add_argument("--peers", default="monaco,ema,salib", help="comma-separated: monaco,ema,salib")
    parser.add_argument("--peer-draws", default=None,
                        help="draws for the per-draw peers (monaco, EMA), comma-separated sizes; "
                             "default: --draws")
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of N runs in each implementation's process (default 3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all implementations, each in a fresh process (default 3)")
    parser.add_argument("--one", choices=tuple(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(args.one, args.draws, args.repeat)))
        return
    impls = ["digimpact", *(i for p in args.peers.split(",") for i in PEER_GROUPS[p.strip()])]
    peer_sizes = [int(n) for n in args.peer_draws.split(",")] if args.peer_draws else [args.draws]
    jobs = [(impl, n) for impl in impls
            for n in (peer_sizes if IMPLEMENTATIONS[impl][2] else [args.draws])]
    rows = list(interleaved(jobs, args.rounds, lambda job: measure(*job, args.repeat),
                            lambda job: f"{job[0]} at {job[1]:,} draws").values())
    failed = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    if not rows or rows[0]["impl"] != "digimpact":
        sys.exit("digimpact failed: " + "; ".join(r["error"] for r in failed))
    reference = rows[0]
    se = standard_errors({r["draws"] for r in rows})
    zmax = compare(rows[1:], reference, se)

    per_10k = 10_000 / reference["draws"]
    base = reference["seconds"] * per_10k

    print(f"\njob: {N_USE_CASES} use cases x {len(SECTORS)} sectors x {len(YEARS)} years, "
          f"{3 * N_USE_CASES} uncertain parameters, LHS; reference {reference['draws']:,} draws\n")
    print("| implementation | draws run | time (s) | time per 10,000 draws (s) | ratio to digimpact "
          "| ratio in each round | peak RSS (MiB) | agreement |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        t10k = r["seconds"] * 10_000 / r["draws"]
        note = " (extrapolated)" if r["draws"] < 10_000 else ""
        rounds = " / ".join(f"{t * 10_000 / r['draws'] / (d * per_10k):.1f}"
                            for t, d in zip(r["round_seconds"], reference["round_seconds"], strict=True))
        rss = f"{r['peak_rss_mib']:.0f}"
        if r["worker_peak_rss_mib"] > 0:
            rss += f" (+ {r['worker_peak_rss_mib']:.0f} per worker)"
        z = zmax.get(f"{r['impl']}@{r['draws']}")
        agree = "reference" if r is reference else (
            f"{'yes' if z <= Z_MAX else 'NO'} (max abs z {z:.1f})")
        print(f"| {r['impl']} | {r['draws']:,} | {r['seconds']:.2f} | {t10k:.2f}{note} | "
              f"{t10k / base:.1f} | {rounds} | {rss} | {agree} |")
    print(f"\ntime: best over {len(reference['round_seconds'])} rounds of the best of {reference['repeat']} "
          "runs in a fresh process; ratio in each round: the two implementations' times in that round")
    for r in failed:
        print(f"| {r['impl']} | {r['draws']:,} | failed: {r['error']} | | | | |")
    bad = [k for k, z in zmax.items() if z > Z_MAX]
    if bad or failed:
        sys.exit(f"disagreement beyond {Z_MAX:g} standard errors: {', '.join(bad)}" if bad
                 else f"failed: {', '.join(r['impl'] for r in failed)}")


if __name__ == "__main__":
    main()
