"""Results as tidy data and as an Excel workbook (openpyxl, the ``excel`` extra).

:func:`tidy` gives one row per draw, sector and year; :func:`to_excel` writes the summary,
the targets, the provenance and the scenario, the kept inputs if any, and optionally the
draws, in one workbook written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .atomic import atomic_write
from .errors import UsageError

if TYPE_CHECKING:
    from .results import Results

__all__ = ["EXCEL_COLUMNS", "EXCEL_ROWS", "MissingExtraError", "require_openpyxl", "tidy", "to_excel"]

EXCEL_ROWS = 1_048_576
"""Rows of an Excel worksheet, the header included."""
EXCEL_COLUMNS = 16_384
"""Columns of an Excel worksheet."""


class MissingExtraError(ImportError, UsageError):
    """An optional dependency is not installed; the message says which extra to install.

    An :class:`ImportError` for Python code, a user error (exit 2) for the command line.
    """


def require_openpyxl() -> None:
    """Import openpyxl or say how to install it."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise MissingExtraError('writing Excel workbooks needs openpyxl: pip install '
                                '"digimpact[excel]" (or pip install openpyxl)') from None


def tidy(results: Results) -> pd.DataFrame:
    """The simulated values in long form: columns ``draw``, ``sector``, ``year``, ``value``.

    One row per draw, sector and year, draws varying slowest. Results kept with
    ``outputs="target_year"`` hold sectors in the target year only, so ``year`` is that year
    in every row.

    Examples
    --------
    >>> import digimpact
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=10, seed=1)
    >>> frame = tidy(r)  # 10 draws x 3 sectors x 11 years
    >>> frame.shape, list(frame.columns)
    ((330, 4), ['draw', 'sector', 'year', 'value'])
    """
    value = results.dataset["value"].reset_coords(drop=True)
    if "year" not in value.dims:
        value = value.expand_dims(year=[int(value.attrs["year"])], axis=-1)
    frame = value.to_dataframe(name="value").reset_index()
    return frame[["draw", "sector", "year", "value"]]


def _provenance(results: Results) -> pd.DataFrame:
    attrs = {k: v for k, v in results.dataset.attrs.items() if k != "scenario_toml"}
    return pd.DataFrame({"key": list(attrs), "value": [str(v) for v in attrs.values()]})


def _fits(name: str, frame: pd.DataFrame, index: bool) -> pd.DataFrame:
    """``frame`` if it fits on a worksheet (with its header and index), else a UsageError."""
    rows, columns = len(frame) + 1, frame.shape[1] + (frame.index.nlevels if index else 0)
    if rows > EXCEL_ROWS or columns > EXCEL_COLUMNS:
        raise UsageError(f"the {name} sheet would need {rows:,} rows x {columns:,} columns, more than "
                         f"Excel's {EXCEL_ROWS:,} x {EXCEL_COLUMNS:,}: leave the draws out, or "
                         f"write Results.to_dataframe() to CSV or Parquet")
    return frame


def _sheets(results: Results, draws: bool) -> dict[str, tuple[pd.DataFrame, bool]]:
    """Sheet name -> (frame, write its index), in workbook order."""
    sheets = {
        "summary": (results.summary(intervals=True), True),
        "targets": (results.check(), False),
        "provenance": (_provenance(results), False),
        "scenario": (pd.DataFrame({"scenario_toml": results.scenario.to_toml().splitlines()}), False),
    }
    if "inputs" in results.dataset:
        inputs = results.dataset["inputs"].transpose("draw", "parameter").to_pandas()
        sheets["inputs"] = (inputs, True)
    if draws:
        sheets["draws"] = (tidy(results), False)
    return {name: (_fits(name, frame, index), index) for name, (frame, index) in sheets.items()}


def to_excel(results: Results, path: str | Path, *, draws: bool = False) -> Path:
    """Write results to an Excel workbook, atomically.

    Sheets: ``summary`` (:meth:`Results.summary <digimpact.Results.summary>` with Monte
    Carlo intervals), ``targets`` (:meth:`Results.check <digimpact.Results.check>`),
    ``provenance`` (run settings and versions), ``scenario`` (the scenario's TOML, a line per
    row), ``inputs`` when the results kept each draw's inputs (a row per draw, a column per
    parameter) and, with ``draws=True``, ``draws`` (:func:`tidy`).

    Parameters
    ----------
    results : Results
        What to write.
    path : str or pathlib.Path
        The workbook (``.xlsx``); missing folders are created.
    draws : bool, default: False
        Also write every draw's values (rows: draws x sectors x years, at most 1,048,575).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    MissingExtraError
        If openpyxl is not installed (``pip install "digimpact[excel]"``).
    UsageError
        If a sheet would exceed Excel's size limits.

    Examples
    --------
    >>> import digimpact, tempfile, os, openpyxl
    >>> r = digimpact.simulate("scenarios/examples/minimal.toml", draws=100, seed=1)
    >>> path = to_excel(r, os.path.join(tempfile.mkdtemp(), "results.xlsx"))
    >>> openpyxl.load_workbook(path).sheetnames
    ['summary', 'targets', 'provenance', 'scenario']
    """
    require_openpyxl()
    sheets = _sheets(results, draws)

    def write(tmp: str) -> None:
        # a file object: pandas would refuse the temporary file's ".tmp" extension
        with open(tmp, "wb") as fh, pd.ExcelWriter(fh, engine="openpyxl") as writer:
            for name, (frame, index) in sheets.items():
                frame.to_excel(writer, sheet_name=name, index=index)

    return atomic_write(path, writer=write)
