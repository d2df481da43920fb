"""The repository stands alone: nothing in it reads a folder beside it, and a clone of its
committed HEAD, in a folder with nothing beside it, passes a quick subset of the suite.

The clone's own run sets ``DIGIMPACT_STANDALONE_CLONE`` so that it does not clone again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src", "tests", "scenarios", "notebooks", "scripts", "docs", ".ci")
IN_CLONE = "DIGIMPACT_STANDALONE_CLONE"

# A pointer outside the repository: "../shared", "shared/reference", or "shared" built into a path
# ("x" / "shared", "shared" / "x", Path("shared") / "x", os.path.join(..., "shared")). The word
# "shared" in prose is not one.
OUTSIDE = re.compile(rb"""\.\./shared\b|\bshared/reference\b|/\s*["']shared["']|["']shared["']\)?\s*/"""
                     rb"""|join\([^)]*["']shared["']""")


def outside_pointers(text: bytes) -> list[bytes]:
    """The pointers to a folder outside the repository in ``text``.

    >>> outside_pointers(b'CSV = ROOT.parent / "shared" / "reference" / "x.csv"')
    [b'/ "shared"']
    >>> outside_pointers(b"shared drivers correlate use cases")
    []
    """
    return [m.group(0) for m in OUTSIDE.finditer(text)]


def _scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for top in SCANNED:
        files += [p for p in (ROOT / top).rglob("*")
                  if p.is_file() and not {"__pycache__", ".ipynb_checkpoints"} & set(p.parts)]
    return [p for p in files if p != Path(__file__).resolve()]


def test_no_file_points_outside_the_repository():
    files = _scanned_files()
    assert len(files) > 50 and ROOT / "tests" / "test_japan2030.py" in files
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := outside_pointers(p.read_bytes()))}
    assert found == {}


@pytest.mark.parametrize("text", [
    b'ROOT.parent / "shared" / "reference" / "esri.csv"',
    b"open('../shared/reference/report.txt')",
    b"see shared/reference/report_japan_digital_agenda_2030.txt",
    b"os.path.join(root, 'shared', 'reference')",
    b"Path('shared') / 'x.csv'",
])
def test_pointers_outside_are_found(text):
    assert len(outside_pointers(text)) >= 1


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.;:()-\n", max_size=80))
def test_the_word_shared_in_prose_is_not_a_pointer(prose):
    assert outside_pointers(f"{prose} shared {prose} shared-memory {prose}".encode()) == []
    assert len(outside_pointers(f'{prose} ROOT / "shared" {prose}'.encode())) == 1


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of the committed HEAD in ``<tmp>/alone/digimpact``, with nothing beside it."""
    if os.environ.get(IN_CLONE):
        pytest.skip("this run is the clone's own")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        top, head = _git("rev-parse", "--show-toplevel"), _git("rev-parse", "HEAD")
    except subprocess.CalledProcessError:
        pytest.skip("the tests are not in a git checkout")
    if Path(top).resolve() != ROOT:
        pytest.skip("the tests are not at the root of their git checkout")
    target = tmp_path_factory.mktemp("alone") / "digimpact"
    _git("clone", "--quiet", "--no-checkout", str(ROOT), str(target))
    _git("fetch", "--quiet", "origin", head, cwd=target)  # HEAD may be on no branch
    _git("checkout", "--quiet", "--detach", head, cwd=target)
    assert [p.name for p in target.parent.iterdir()] == ["digimpact"]
    return target


def _python(clone: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``python *args`` in the clone, on the clone's source, with this interpreter."""
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "MPLBACKEND": "Agg", IN_CLONE: "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, *args], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=300)


def test_clone_imports_its_own_source(clone):
    done = _python(clone, "-c", "import digimpact; print(digimpact.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve().is_relative_to(clone / "src")


def test_clone_validates_the_japan_scenario(clone):
    done = _python(clone, "-m", "digimpact.cli", "validate", "scenarios/japan2030/exhibit5.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK (16 sectors, 165 use cases" in done.stdout


def test_clone_passes_the_data_and_citation_tests(clone):
    selected = " or ".join(["published_figures", "inventory", "national_accounts", "data_readme", "citation",
                            "wave1", "outside"])
    done = _python(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", selected,
                   "tests/test_japan2030.py", "tests/test_standalone.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed", summary) and int(summary.split()[0]) >= 18, summary
