"""Re-run stored results from their record and check that the numbers match bit for bit.

A results file keeps everything a run depends on: the scenario as TOML (checked against its
hash), the root seed, the number of draws and the sampler. Which outputs were kept
(``outputs="full"`` or ``"target_year"``, with or without use-case detail) shows in the
variables stored. The chunk size and the backend are not recorded because the numbers do not
depend on them (see :mod:`digimpact.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .options import OutputsName
from .results import Results, open_results

__all__ = ["Reproduction", "reproduce"]


@dataclass(frozen=True)
class Reproduction:
    """Stored results, their re-run, and how the two differ variable by variable.

    ``variables`` is indexed by variable name with columns ``numbers`` (how many),
    ``differing`` (how many differ in at least one bit), ``max_abs`` and ``max_rel`` (largest
    absolute and relative difference; 0 when identical).
    """

    stored: Results
    rerun: Results
    variables: pd.DataFrame

    @property
    def identical(self) -> bool:
        """True if every stored number is reproduced bit for bit."""
        return not self.variables["differing"].any()

    @property
    def versions(self) -> tuple[str, str]:
        """The digimpact versions that wrote the stored results and that re-ran them."""
        return (str(self.stored.dataset.attrs["digimpact_version"]),
                str(self.rerun.dataset.attrs["digimpact_version"]))

    def settings(self) -> dict[str, object]:
        """The run's settings, as read from the record."""
        a, ds = self.stored.dataset.attrs, self.stored.dataset
        return {"draws": a["draws"], "seed": a["seed"], "sampler": a["sampler"],
                "outputs": _outputs(self.stored), "keep_use_cases": "use_case_value" in ds,
                "keep_inputs": "inputs" in ds, "scenario_hash": a["scenario_hash"]}

    def __str__(self) -> str:
        s = self.settings()
        stored, current = self.versions
        lines = [f"re-ran {s['draws']} draws, seed {s['seed']}, sampler {s['sampler']}, outputs "
                 f"{s['outputs']}, scenario {str(s['scenario_hash'])[:12]}"]
        if self.identical:
            lines.append(f"identical bit for bit: {', '.join(self.variables.index)}")
        else:
            lines.append("the numbers differ:")
            lines += [f"  {r.Index}: {r.differing} of {r.numbers} numbers, largest difference "
                      f"{r.max_abs:.3g} (relative {r.max_rel:.3g})"
                      for r in self.variables.itertuples() if r.differing]
        if stored != current:
            lines.append(f"stored by digimpact {stored}, re-run by digimpact {current}")
        else:
            lines.append(f"same digimpact version ({current})")
        return "\n".join(lines)


def _outputs(results: Results) -> OutputsName:
    return "target_year" if "total" in results.dataset else "full"


def _difference(old: np.ndarray, new: np.ndarray | None) -> dict[str, float]:
    """Counts and sizes of the differences between two numeric arrays, bit for bit."""
    if new is None or old.shape != new.shape or old.dtype != new.dtype:
        return {"numbers": old.size, "differing": old.size, "max_abs": np.nan, "max_rel": np.nan}
    bits = f"u{old.dtype.itemsize}"  # the same bits read as unsigned integers: -0.0 != 0.0
    differing = np.ascontiguousarray(old).view(bits) != np.ascontiguousarray(new).view(bits)
    with np.errstate(divide="ignore", invalid="ignore"):  # inf - inf, x / 0
        gap = np.abs(new.astype(float) - old.astype(float))
        rel = np.where(gap == 0, 0.0, gap / np.abs(old.astype(float)))
    return {"numbers": old.size, "differing": int(differing.sum()),
            "max_abs": float(np.nanmax(gap, initial=0.0)),
            "max_rel": float(np.nanmax(rel, initial=0.0))}


def reproduce(results: Results | str | Path) -> Reproduction:
    """Re-run results (or a results file) from their record and compare the numbers bit for bit.

    Parameters
    ----------
    results
        :class:`Results`, or the path of a file written by :meth:`Results.to_netcdf` (read with
        :func:`digimpact.open_results`, which checks the stored scenario against its hash).

    Returns
    -------
    Reproduction
        With ``identical``, the differences per variable and the versions involved.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=200, seed=7)
    >>> digimpact.reproduce(r).identical
    True
    """
    from .engine import simulate

    stored = results if isinstance(results, Results) else open_results(results)
    a = stored.dataset.attrs
    rerun = simulate(stored.scenario, draws=a["draws"], seed=a["seed"], sampler=a["sampler"],
                     outputs=_outputs(stored), keep_use_cases="use_case_value" in stored.dataset,
                     keep_inputs="inputs" in stored.dataset, progress=False)
    rows = {name: _difference(np.asarray(var.values), np.asarray(rerun.dataset[name].values)
                              if name in rerun.dataset else None)
            for name, var in stored.dataset.data_vars.items()}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("variable")
    return Reproduction(stored, rerun, table)
