"""Regenerate every figure in docs/img/ (used by docs/analysis.md).

From the repository root: ``.venv/bin/python docs/make_figures.py`` (about 40 s). Seeds are
fixed: the scenario's own (20,000 LHS draws, seed 2021) and seed 0 for the Sobol' design.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import digimpact
import digimpact.plot

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
SCENARIOS = ROOT / "scenarios" / "japan2030"
DPI = 110


def save(ax, name):
    IMG.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(IMG / name, dpi=DPI)
    plt.close(ax.figure)
    print("wrote", IMG / name)


base = digimpact.load_scenario(SCENARIOS / "exhibit5.toml")

# Sensitivity: Sobol' indices by sector (as `digimpact sensitivity FILE --by sector`), tornado.
save(digimpact.plot.sensitivity(digimpact.sensitivity(base, by="sector", draws=1024, seed=0),
                                top=12), "sensitivity_sector.png")
save(digimpact.plot.tornado(digimpact.sensitivity(base, by="sector", method="tornado"), top=12),
     "tornado.png")

# Comparing scenarios: retail wave 1 two years later, finance wave 1 potential high +50%.
variant = base.with_overrides({"profiles.wholesale_retail_w1.adoption.midpoint.low": 2024.86,
                               "profiles.wholesale_retail_w1.adoption.midpoint.high": 2027.86,
                               "profiles.finance_w1.potential.high": 0.00512})
comparison = digimpact.compare(base, variant)
diff = comparison.difference.sel(year=2030)
_, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
for label, sectors in [("wholesale & retail", ["wholesale_retail"]), ("finance", ["finance"]),
                       ("total", list(base.sectors))]:
    ax.hist(diff.sel(sector=sectors).sum("sector"), bins=80, histtype="step", lw=1.5, label=label)
ax.axvline(0, color="black", lw=0.8)
ax.set(xlabel="b - a in 2030 per draw, JPY trillion", ylabel="draws",
       title="Variant minus exhibit5.toml on common random numbers (20,000 draws)")
ax.title.set_fontsize(10)
ax.legend(fontsize=8)
save(ax, "compare.png")

# Time paths and value measures, from the base's draws.
results = comparison.a
save(digimpact.plot.fan(results), "fan.png")
save(digimpact.plot.distribution(results), "distribution.png")

# Talent what-ifs: median and 5-95% band of the total, base and the three variants.
_, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
runs = [("exhibit5 (base)", results)] + [
    (path.stem, digimpact.simulate(digimpact.load_scenario(path), progress=False))
    for path in sorted((SCENARIOS / "variants").glob("*.toml"))]
for label, res in runs:
    values = res.aggregate().transpose("draw", "year").values
    years = res.dataset["year"].values
    lo, med, hi = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
    line, = ax.plot(years, med, label=label, lw=2 if label.startswith("exhibit5") else 1.3)
    ax.fill_between(years, lo, hi, color=line.get_color(), alpha=0.12, lw=0)
ax.set(xlabel="year", ylabel="JPY trillion, annual value (all sectors)",
       title="Talent what-ifs: median and 5-95% band of the total")
ax.title.set_fontsize(10)
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
save(ax, "talent.png")
