"""Print the numbers of docs/methodology.md §2.3 (readings side by side), §6 and §7.

From the repository root: ``.venv/bin/python docs/make_readings.py`` (about 2 minutes). For each
calibrated reading (``scenarios/japan2030/exhibit5*.toml``) it repeats the default calibration
(four free parameters, started from the stored values) for the identifiability report, runs the
stored scenario (20,000 LHS draws, seed 2021) and prints Markdown tables.
"""

from pathlib import Path

import numpy as np

import digimpact
from digimpact.calibrate import calibrate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "japan2030"
READINGS = {"annual": "exhibit5.toml", "cumulative": "exhibit5_cumulative.toml",
            "full_potential": "exhibit5_full_potential.toml"}
GROUPS = ("core", "public", "other")
DESIGN = [*(f"drivers.value_{g}.value.median" for g in GROUPS), "drivers.realisation.value.sigma"]


def row(cells) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def p95(x: np.ndarray) -> float:
    return float(np.quantile(x, 0.95))


def reading(estimand: str, file: str) -> dict[str, list[str]]:
    """The table cells of one reading, by table."""
    scenario = digimpact.load_scenario(SCENARIOS / file)
    stored = {p: scenario.drivers[p.split(".")[1]].value.spec[p.split(".")[3]] for p in DESIGN}
    _, report = calibrate(scenario, params=DESIGN, start=stored)
    results = digimpact.simulate(scenario, progress=False)

    def value(groups=(), sectors=()) -> np.ndarray:
        return results.metric(estimand, groups=groups, sectors=sectors).values

    by_sector = {s: float(np.median(value(sectors=[s]))) for s in scenario.sectors}
    top = sorted(by_sector, key=by_sector.get, reverse=True)[:3]
    intensity = results.check_intensity()
    ratio = intensity["median"] / intensity["ceiling"]
    worst = intensity.loc[ratio.idxmax()]
    fit = {(r.target, r.bound): r.achieved for r in report.targets.itertuples()}
    core_public, other = value(groups=["core", "public"]), value(groups=["other"])
    return {
        "levels": [estimand, *(f"{stored[p]:.4g}" for p in DESIGN)],
        "split": [estimand, *(f"{np.median(value(groups=[g])):.1f}" for g in GROUPS),
                  f"{np.median(value()):.1f}", ", ".join(f"{s} {by_sector[s]:.1f}" for s in top)],
        "intensity": [estimand, f"{worst['sector']} {worst['median']:.1%} (ceiling "
                      f"{worst['ceiling']:.1%})", f"{intensity['median'].median():.1%}",
                      str(int((~intensity['ok']).sum()))],
        "fit": [estimand, *(f"{fit[t, 'low']:.2f} / {fit[t, 'high']:.2f}"
                            for t in ("core", "core_public", "other")),
                f"{fit['total', 'high']:.2f}", f"{report.sum_of_squares:.1f}",
                str(int((~report.targets['ok']).sum())), f"{report.condition_number:.0f}"],
        "identifiability": [estimand, ", ".join(f"{s:.3g}" for s in report.singular_values),
                            *(f"{p.profile_low:.3g}-{p.profile_high:.3g}"
                              for p in report.parameters.itertuples())],
        "correlation": [estimand, f"{np.corrcoef(core_public, other)[0, 1]:.2f}",
                        f"{p95(core_public + other):.2f}",
                        f"{p95(core_public) + p95(other):.2f}"],
    }


HEADERS = {
    "levels": ["reading", "core level", "public level", "other level", "realisation sigma"],
    "split": ["reading", "core", "public", "other", "total", "top sectors (median ¥T)"],
    "intensity": ["reading", "highest median intensity vs its ceiling", "median sector",
                  "sectors over ceiling"],
    "fit": ["reading", "core p5 / p95 (22 / 37)", "core+public (24 / 40)", "other (25 / 39)",
            "total p95 (78, out of sample)", "sum of squares", "bounds missed",
            "condition number"],
    "identifiability": ["reading", "singular values", "core level", "public level",
                        "other level", "realisation sigma"],
    "correlation": ["reading", "corr(core+public, other)", "p95 of the total",
                    "sum of the parts' p95"],
}

if __name__ == "__main__":
    cells = {estimand: reading(estimand, file) for estimand, file in READINGS.items()}
    for table, header in HEADERS.items():
        print(f"\n{table}\n")
        print(row(header))
        print(row(["---"] * len(header)))
        for estimand in READINGS:
            print(row(cells[estimand][table]))
