"""The arithmetic shown in docs/methodology.md runs, and prints the numbers the page states."""

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGE = (ROOT / "docs" / "methodology.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"^```python\n(.*?)^```", PAGE, re.M | re.S)


def test_the_page_shows_its_arithmetic():
    assert len(SNIPPETS) == 2  # section 7 (correlation) and section 9 (shares of GDP)


@pytest.mark.parametrize("code", SNIPPETS, ids=["rho", "shares"])
def test_snippet_prints_what_the_page_says(code, monkeypatch):
    monkeypatch.chdir(ROOT)  # the snippets read the vendored CSV from the repository root
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/methodology.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed
    for line in printed:  # every printed line is written out in the snippet, as a comment
        assert re.search(rf"^# {re.escape(line)}(\s|$)|\)\s+# {re.escape(line)}$", code, re.M), line


@pytest.mark.parametrize("figure", ["83 / 112 = 0.74", "| 0.62 to 0.87 |", "0.39 (24.5-40.5",
                                    "Y2030 = 545.07 × 1.01155^12 = 545.07 × 1.1478 = ¥625.6T",
                                    "| ¥78T | 12.5% | 1.18 pp |", "| 2.3% | 0.22 pp |"])
def test_the_page_states_the_computed_figures(figure):
    assert figure in PAGE
