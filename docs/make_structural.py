"""Structural uncertainty in the sector split (docs/analysis.md, "Structural uncertainty").

Runs scenarios/japan2030/exhibit5.toml under 12 structural alternatives: base measure (value
added, or gross output booked as value added) x prior shares (McKinsey 2023 generative-AI
shares, or flat within each group) x reading (annual 2030, cumulative 2020-2030, full
potential). Each is re-calibrated (group levels, ``calibrate(mode="levels")``) so the group
totals stay anchored to Exhibit 5, then simulated; 5000 LHS draws, seed 2021 throughout.

From the repository root: ``.venv/bin/python docs/make_structural.py`` (about 45 s). Writes
docs/img/structural.png and docs/img/structural.csv, and prints the markdown tables of the
analysis guide.
"""

from itertools import product
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import digimpact
import digimpact.plot
from digimpact.atomic import atomic_write
from digimpact.structural import alternatives, envelope, flat_prior

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
DRAWS, SEED = 5000, 2021
BASES = {"VA": "value_added", "GO": "gross_output"}
READINGS = {"annual": "annual", "cumul.": "cumulative", "full": "full_potential"}


def variants(base: digimpact.Scenario) -> dict[str, dict]:
    """The 12 alternatives, named ``basis / prior / reading``."""
    out = {}
    for (b, measure), prior, (r, estimand) in product(BASES.items(), ("gen-AI", "flat"),
                                                       READINGS.items()):
        accounting = {"scenario.base_measure": measure}
        shares = flat_prior(base.with_overrides(accounting)) if prior == "flat" else {}
        out[f"{b} / {prior} / {r}"] = {**accounting, **shares, "scenario.estimand": estimand}
    return out


def markdown(table, box, prior_rows) -> str:
    """The sector table (median range across alternatives) and the prior sensitivity table."""
    sectors = table.xs("VA / gen-AI / annual").xs("sector")
    lines = ["| sector | median, default | median range across the 12 | max / min | "
             "median, flat prior (VA, annual) | flat / gen-AI |", "|---|---:|---:|---:|---:|---:|"]
    for sid, row in sectors.iterrows():
        lo, hi = box.loc[("sector", sid), ["p50_min", "p50_max"]]
        flat = prior_rows.loc[("sector", sid), "p50"]
        lines.append(f"| {row['label']} | {row['p50']:.2f} | {lo:.2f}-{hi:.2f} | {hi / lo:.1f} | "
                     f"{flat:.2f} | {flat / row['p50']:.2f} |")
    lines += ["", "| group | p5 range across the 12 | p50 range | p95 range |", "|---|---:|---:|---:|"]
    for gid in ("core", "public", "other", "total"):
        level = "total" if gid == "total" else "group"
        rows = table.xs((level, gid), level=["level", "id"])
        lines.append(f"| {gid} | " + " | ".join(f"{rows[q].min():.1f}-{rows[q].max():.1f}"
                                                 for q in ("p5", "p50", "p95")) + " |")
    return "\n".join(lines)


def main() -> None:
    base = digimpact.load_scenario(ROOT / "scenarios" / "japan2030" / "exhibit5.toml")
    table = alternatives(base, variants(base), draws=DRAWS, seed=SEED)
    atomic_write(IMG / "structural.csv", table.round(4).to_csv().encode())
    box = envelope(table)
    results = digimpact.simulate(base, draws=DRAWS, seed=SEED)
    ax = digimpact.plot.exhibit5(results, envelope=table)
    ax.set_title("Exhibit 5 as calibrated (value added, gen-AI shares, annual reading);\ndashed: "
                 "p5-p95 envelope of 12 structural alternatives, each re-calibrated", fontsize=9)
    atomic_write(IMG / "structural.png", writer=lambda path: ax.figure.savefig(path, dpi=110,
                                                                              format="png"))
    plt.close(ax.figure)
    print(markdown(table, box, table.xs("VA / flat / annual")))


if __name__ == "__main__":
    main()
