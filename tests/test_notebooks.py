"""Every notebook in notebooks/ runs top to bottom without an error."""

import nbformat
import pytest
from conftest import NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, executed_notebooks):
    nb = nbformat.read(executed_notebooks / "notebooks" / path.name, as_version=4)
    errors = [f"{o['ename']}: {o['evalue']}" for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
