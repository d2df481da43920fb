"""Scenario discovery: which inputs, in which ranges, give an output below (or above) a value?

The draws kept with ``keep_inputs=True`` are split by a classification tree
(scikit-learn's ``DecisionTreeClassifier``) into the draws of interest (say, a total below
¥50T) and the rest. Each leaf of the tree is a box, an interval of each input on its path
from the root; the boxes where the draws of interest are the majority are returned, with the
two numbers of PRIM [1]_:

- *coverage*: the share of all draws of interest that fall in the box;
- *density*: the share of the box's draws that are of interest;

and *mass*, the share of all draws in the box. A deeper tree gives denser, smaller boxes
that restrict more inputs; ``min_mass`` keeps every box to at least that share of the draws.

Needs the ``discovery`` extra: ``pip install "digimpact[discovery]"``. (EMA Workbench's
PRIM is not used: its current 3.x line needs Python 3.12, and its 2.x line brings
statsmodels, seaborn and Platypus besides scikit-learn.)

References
----------
.. [1] Bryant, B. P. and Lempert, R. J. (2010). Thinking inside the box: a participatory,
       computer-assisted approach to scenario discovery. *Technol. Forecast. Soc. Change*
       77(1), 34-49. doi:10.1016/j.techfore.2009.08.002
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._compat import optional_import
from .errors import UsageError
from .options import MetricName
from .sampled import draws_table

if TYPE_CHECKING:
    from .results import Results

__all__ = ["boxes", "discover"]



def boxes(inputs: pd.DataFrame, interest: np.ndarray, *, max_depth: int = 3,
          min_mass: float = 0.05, min_density: float = 0.5) -> pd.DataFrame:
    """Boxes of input ranges where the draws of ``interest`` concentrate.

    Parameters
    ----------
    inputs
        One row per draw, one column per input.
    interest
        One boolean per draw: is it a case of interest?
    max_depth
        Depth of the tree: each box restricts at most this many inputs (deterministically
        fitted, ``random_state=0``).
    min_mass
        Smallest share of the draws in a box.
    min_density
        Boxes whose density is below this are left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(box, input)``, one row per input a box restricts; columns ``low`` and
        ``high`` (the box is ``low < x <= high``; ``-inf`` / ``inf`` where one side is
        open), and the box's ``coverage``, ``density``, ``mass`` and ``draws``. Boxes are
        numbered from 1 by decreasing coverage.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame(rng.uniform(size=(4000, 3)), columns=["a", "b", "c"])
    >>> t = boxes(x, (x["a"] < 0.3) & (x["b"] > 0.6))
    >>> t[["low", "high"]].round(2).to_dict("index")
    {(1, 'a'): {'low': -inf, 'high': 0.3}, (1, 'b'): {'low': 0.6, 'high': inf}}
    >>> t[["coverage", "density"]].iloc[0].tolist()
    [1.0, 1.0]
    """
    x = np.asarray(inputs, dtype=float)
    y = np.asarray(interest, dtype=bool)
    if x.ndim != 2 or y.shape != (len(x),):
        raise UsageError(f"need inputs (draws, inputs) and one boolean per draw; got {x.shape} "
                         f"and {y.shape}")
    if not y.any():
        raise UsageError("no draw is of interest: nothing to discover")
    if not 0 < min_mass < 1:
        raise UsageError(f"min_mass must be in (0, 1), got {min_mass}")
    tree_module = optional_import("sklearn.tree", "discovery", "scenario discovery")
    fitted = tree_module.DecisionTreeClassifier(
        max_depth=max_depth, random_state=0, min_samples_leaf=max(1, math.ceil(min_mass * len(x)))).fit(x, y)
    tree, leaf = fitted.tree_, fitted.apply(x)
    in_leaf = np.bincount(leaf, minlength=tree.node_count)
    hits = np.bincount(leaf, weights=y, minlength=tree.node_count)
    records = []
    for node, limits in _leaves(tree):
        density = hits[node] / in_leaf[node]
        if density < min_density:
            continue
        stats = {"coverage": hits[node] / y.sum(), "density": density, "mass": in_leaf[node] / len(x),
                 "draws": int(in_leaf[node])}
        records += [{"node": node, "input": inputs.columns[f], "low": lo, "high": hi, **stats}
                    for f, (lo, hi) in sorted(limits.items())]
    columns = ["box", "input", "low", "high", "coverage", "density", "mass", "draws"]
    if not records:
        return pd.DataFrame(columns=columns).set_index(["box", "input"])
    table = pd.DataFrame(records)
    order = table.groupby("node")["coverage"].first().sort_values(ascending=False, kind="stable")
    table["box"] = table["node"].map({n: i + 1 for i, n in enumerate(order.index)})
    return table.sort_values(["box", "input"])[columns].set_index(["box", "input"])


def _leaves(tree) -> list[tuple[int, dict[int, tuple[float, float]]]]:
    """Each leaf of a fitted ``sklearn.tree`` structure with the interval of each input on
    its path (``x <= threshold`` goes left)."""
    out = []
    stack: list[tuple[int, dict[int, tuple[float, float]]]] = [(0, {})]
    while stack:
        node, limits = stack.pop()
        left, right = tree.children_left[node], tree.children_right[node]
        if left == right:  # a leaf
            out.append((node, limits))
            continue
        f, t = int(tree.feature[node]), float(tree.threshold[node])
        lo, hi = limits.get(f, (-np.inf, np.inf))
        stack.append((left, {**limits, f: (lo, min(hi, t))}))
        stack.append((right, {**limits, f: (max(lo, t), hi)}))
    return out


def discover(results: Results, *, below: float | None = None, above: float | None = None,
             output: str = "total", year: int | None = None, metric: MetricName = "annual",
             max_depth: int = 3, min_mass: float = 0.05, min_density: float = 0.5) -> pd.DataFrame:
    """Which inputs, in which ranges, give ``output`` below ``below`` (or above ``above``)?

    ``results`` must keep the draws' inputs (``simulate(..., keep_inputs=True)``);
    ``output``, ``year`` and ``metric`` are those of :func:`digimpact.sampled.draws_table`,
    the other options those of :func:`boxes`.

    Returns
    -------
    pandas.DataFrame
        The boxes (see :func:`boxes`), with the question in ``attrs``.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=2000, seed=1,
    ...                        keep_inputs=True)
    >>> low = r.interval(q=[0.2])[0]      # the lowest 20% of totals
    >>> t = digimpact.discovery.discover(r, below=low, max_depth=2)
    >>> print(t[["low", "high", "coverage", "density"]].round(2))  # doctest: +NORMALIZE_WHITESPACE
                                           low  high  coverage  density
    box input
    1   drivers.realisation.value         -inf  0.96      0.52     0.58
        use_cases.instant_loans.potential -inf  0.01      0.52     0.58
    """
    if (below is None) == (above is None):
        raise UsageError("give one threshold: below=... or above=...")
    inputs, y = draws_table(results, output, year, metric)
    interest = y < below if below is not None else y > above
    if not interest.any():
        raise UsageError(f"no draw has {output} {'below' if below is not None else 'above'} "
                         f"{below if below is not None else above:g}: it ranges from {y.min():.4g} "
                         f"to {y.max():.4g} {results.unit}")
    table = boxes(inputs, interest, max_depth=max_depth, min_mass=min_mass, min_density=min_density)
    table.attrs.update({"output": output, "below": below, "above": above,
                        "share_of_interest": float(interest.mean()), "unit": results.unit})
    return table
