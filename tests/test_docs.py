"""The documentation site: the scenario-file reference covers the schema, the tutorial and the
calibration how-to run as written, the strict MkDocs build passes and renders what it should,
and headless Chromium shows it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import EXAMPLE, ROOT, SMALL

import digimpact
import digimpact.plot
from digimpact.cli import main as cli
from digimpact.distributions import parse
from digimpact.scenario import Scenario

DOCS = ROOT / "docs"
REFERENCE = (DOCS / "scenario-format.md").read_text(encoding="utf-8")
UNKNOWN = "zz_not_a_key"


def blocks(page: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``docs/<page>``, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


# ----------------------------------------------------------------------------- the reference
def expected(error: Exception) -> list[str]:
    """The names listed after "expected" (or "expected one of") in a schema error."""
    found = re.search(r"expected (?:kind = )?(?:one of )?([\w, ]+?)(?:, got .*)?$", str(error))
    assert found, f"no list of expected names in {error}"
    return found[1].split(", ")


def keys_of(path: tuple[str | int, ...], table: dict | None = None) -> list[str]:
    """The keys the loader accepts in the table at ``path`` of a valid scenario (replaced by
    ``table`` if given), read from the error an unknown key there raises."""
    doc = tomllib.loads(SMALL)
    doc["profiles"] = {"p": {}}
    doc["correlations"] = [{"params": ["use_cases.u1.potential", "drivers.d.value"], "rank": 0.1}]
    *parents, last = path or (None,)
    node = doc
    for part in parents:
        node = node[part]
    if table is not None:
        node[last] = table
    (node[last] if path else doc)[UNKNOWN] = 1
    with pytest.raises(digimpact.ScenarioError, match=f"unknown key '{UNKNOWN}'") as info:
        Scenario.from_dict(doc)
    return expected(info.value)


def section(heading: str) -> str:
    """The text of the reference under the heading that contains ``heading``, up to the next
    heading of the same or a higher level."""
    # headings are searched with the code blocks blanked out: a "# comment" there is no heading
    prose = re.sub(r"^```.*?^```", lambda m: " " * len(m[0]), REFERENCE, flags=re.MULTILINE | re.DOTALL)
    match = re.search(rf"^(#+) .*{re.escape(heading)}.*$", prose, re.MULTILINE)
    assert match, f"docs/scenario-format.md has no heading with {heading}"
    end = re.compile(rf"^#{{1,{len(match[1])}}} ", re.MULTILINE).search(prose, match.end())
    return REFERENCE[match.end():end.start() if end else None]


def row(text: str, first: str) -> str:
    """The table row of ``text`` whose first cell is ``first`` in backticks."""
    match = re.search(rf"^\| `{re.escape(first)}` \|.*$", text, re.MULTILINE)
    assert match, f"no table row for `{first}`"
    return match[0]


def undocumented(keys: list[str], text: str, ignore: tuple[str, ...] = ()) -> list[str]:
    return [k for k in keys if k not in ignore and f"`{k}`" not in text]


def kinds() -> list[str]:
    doc = tomllib.loads(SMALL)
    doc["use_cases"]["u2"]["adoption"] = {"kind": UNKNOWN}
    with pytest.raises(digimpact.ScenarioError) as info:
        Scenario.from_dict(doc)
    return expected(info.value)


def forms() -> list[str]:
    with pytest.raises(digimpact.ScenarioError) as info:
        parse({"dist": UNKNOWN})
    return expected(info.value)


TABLES = {  # key path of a table in a valid scenario -> the heading of its section
    (): "2. Top-level tables",
    ("scenario",): "`[scenario]`",
    ("settings",): "`[settings]`",
    ("sectors", "a"): "`[sectors.<id>]`",
    ("drivers", "d"): "`[drivers.<id>]`",
    ("profiles", "p"): "`[use_cases.<id>]`",  # a profile takes the keys of a use case
    ("use_cases", "u1"): "`[use_cases.<id>]`",
    ("use_cases", "u1", "adoption"): "`[use_cases.<id>]`",  # kind, source, note
    ("targets", "t"): "`[targets.<id>]`",
    ("correlations", 0): "`[[correlations]]`",
}


@pytest.mark.parametrize("path", TABLES, ids=lambda p: ".".join(map(str, p)) or "top level")
def test_every_key_of_a_table_is_documented_in_its_section(path):
    keys = keys_of(path)
    if path == ():  # each table has a section of its own, titled `[name...]`
        headings = "\n".join(re.findall(r"^### `.*$", REFERENCE, re.MULTILINE))
        missing = [k for k in keys if f"`[{k}" not in headings and f"`[[{k}" not in headings]
    else:
        kind_params = set(keys_of(("use_cases", "u1", "adoption"))) - {"kind", "source", "note"}
        ignore = tuple(kind_params) if path[-1] == "adoption" else ()  # in section 4, below
        missing = undocumented(keys, section(TABLES[path]), ignore)
    assert not missing, (f"keys accepted in {'.'.join(map(str, path)) or 'the top level'} but "
                         f"not documented in docs/scenario-format.md under {TABLES[path]}: {missing}")


@pytest.mark.parametrize("kind", kinds())
def test_every_parameter_of_an_adoption_curve_is_documented(kind):
    keys = keys_of(("use_cases", "u1", "adoption"), {"kind": kind})
    missing = undocumented(keys, row(section("4. Adoption curves"), kind), ("kind", "source", "note"))
    assert not missing, f"parameters of kind = {kind!r} missing from its row in section 4: {missing}"


@pytest.mark.parametrize("form", forms())
def test_every_key_of_a_distribution_is_documented(form):
    with pytest.raises(digimpact.ScenarioError, match=f"unknown key '{UNKNOWN}'") as info:
        parse({"dist": form, UNKNOWN: 1})
    text = section("3. Parameter specs")
    meta = ("source", "note", "unit")  # allowed in every spec: documented once, below the table
    missing = undocumented(expected(info.value), row(text, form), meta) + undocumented(list(meta), text)
    assert not missing, f"keys of dist = {form!r} missing from section 3: {missing}"


def test_the_reference_check_catches_an_undocumented_key(monkeypatch):
    """The check fails when a key is taken out of the reference."""
    stripped = REFERENCE.replace("| `potential_scale` |", "| potential_scale |")
    monkeypatch.setattr(sys.modules[__name__], "REFERENCE", stripped)
    missing = undocumented(keys_of(("sectors", "a")), section("`[sectors.<id>]`"))
    assert missing == ["potential_scale"]


# ----------------------------------------------------------------------------- pages that run
def test_the_tutorial_scenario_loads_and_simulates(tmp_path):
    path = tmp_path / "my_scenario.toml"
    path.write_text(blocks("tutorial.md", "toml")[-1], encoding="utf-8")
    scenario = digimpact.load_scenario(path)
    assert list(scenario.sectors) == ["manufacturing", "retail", "health"]
    results = digimpact.simulate(scenario, draws=1000, progress=False)
    assert results.dataset["value"].shape == (1000, 3, 10)
    assert results.check()["ok"].all()


def test_the_tutorial_first_complete_file_validates_as_shown(tmp_path, capsys):
    """Steps 1-3 form a complete scenario, and `digimpact validate` says what the page says."""
    path = tmp_path / "my_scenario.toml"
    path.write_text("\n".join(blocks("tutorial.md", "toml")[:3]), encoding="utf-8")
    shown = re.search(r"# my_scenario.toml: (OK .*)", (DOCS / "tutorial.md").read_text())[1]
    assert cli(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: {shown}"


def test_the_calibration_howto_gives_the_values_it_shows(tmp_path):
    priors, fitted_toml = blocks("howto/calibrate.md", "toml")
    shutil.copy(EXAMPLE, tmp_path / "minimal.toml")
    (tmp_path / "priors.toml").write_text(priors, encoding="utf-8")
    _, report = digimpact.calibrate(digimpact.load_scenario(tmp_path / "priors.toml"))
    shown = tomllib.loads(fitted_toml)["drivers"]["realisation"]["value"]
    assert report.parameters["fitted"].to_dict() == {
        f"drivers.realisation.value.{k}": v for k, v in shown.items()}
    assert report.targets["ok"].all()


def test_the_gallery_shows_every_plot():
    gallery = (DOCS / "gallery.md").read_text(encoding="utf-8")
    missing = [name for name in digimpact.plot.__all__
               if not re.search(rf"^## `{name}`\n(?:(?!^#).)*digimpact\.plot\.{name}\(", gallery,
                                re.MULTILINE | re.DOTALL)]
    assert not missing, f"plots without a gallery section (## `name` and a call): {missing}"
    assert re.search(r"^## `exhibit5`\n(?:(?!^#).)*digimpact\.plot\.exhibit5\([^)]*envelope=", gallery,
                     re.MULTILINE | re.DOTALL), "the exhibit5 section shows no structural envelope"


# ----------------------------------------------------------------------------- the built site
@pytest.fixture(scope="module")
def site(executed_notebooks, tmp_path_factory) -> Path:
    """The site, built with ``mkdocs build --strict`` (any warning fails), with the notebooks
    executed once for the session."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (the docs extra)")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "DIGIMPACT_EXECUTED_NOTEBOOKS": str(executed_notebooks),
           "MPLBACKEND": "Agg", "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-5000:]}"
    return out


def images(site: Path, page: str) -> list[Path]:
    """The files of the ``<img>`` tags of a built page (``page/index.html``)."""
    html = site / page / "index.html"
    return [(html.parent / src).resolve() for src in re.findall(r'<img[^>]*src="([^"]+)"', html.read_text())]


def test_the_site_has_every_page_of_the_nav(site):
    nav = re.findall(r":\s+([\w/.-]+\.(?:md|ipynb))$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    assert len(nav) >= 20
    for page in nav:  # a/b.md is served at a/b/index.html; a/index.md and a/README.md at a/
        folder = re.sub(r"(^|/)(index|README)\.md$|\.(md|ipynb)$", r"\1", page)
        assert (site / folder / "index.html").is_file(), page


def test_the_home_page_and_the_gallery_show_their_figures(site):
    home = images(site, "")
    assert len(home) == 1 and home[0].is_file()
    gallery = images(site, "gallery")
    assert len(gallery) == len(digimpact.plot.__all__) + 1  # exhibit5 twice: plain and with envelope=
    assert all(path.is_file() and path.read_bytes()[:4] == b"\x89PNG" for path in gallery)
    html = (site / "gallery" / "index.html").read_text()
    assert all(f"digimpact.plot.{name}" in re.sub(r"<[^>]+>", "", html) for name in digimpact.plot.__all__)


def test_the_api_reference_documents_simulate(site):
    html = (site / "api" / "index.html").read_text()
    assert 'id="digimpact.engine.simulate"' in html
    assert "Run the Monte Carlo simulation of a scenario" in html
    assert ":class:" not in html  # Sphinx roles are shown as plain code


def test_the_notebooks_are_rendered_with_their_outputs(site):
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = (site / "notebooks" / path.stem / "index.html").read_text()
        assert html.count("data:image/png;base64") >= 1, path.name
        assert "Traceback" not in html, path.name


def test_the_getting_started_tour_shows_its_outputs(site):
    html = (site / "getting-started" / "index.html").read_text()
    assert "All sectors" in html  # the printed summary
    assert len(images(site, "getting-started")) == 3


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium is not installed (Debian: apt-get install chromium)")
def test_chromium_renders_the_home_page_and_the_api_reference(site, tmp_path):
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check_site.sh"), str(site), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "home.png shows" in done.stdout
