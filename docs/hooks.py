"""MkDocs hooks of the digimpact site (``hooks:`` in mkdocs.yml).

- ``notebooks/*.ipynb`` and every file under ``scenarios/`` join the site at the same paths, and
  relative links are rewritten from repository paths to site paths, so a link that works on
  GitHub (``../notebooks/x.ipynb`` from ``docs/``, ``../../docs/x.md`` from ``scenarios/``) works
  on the site too. ``docs/X`` is served at ``X``.
- mkdocs-jupyter executes the notebooks, unless the environment variable
  ``DIGIMPACT_EXECUTED_NOTEBOOKS`` names a folder whose ``notebooks/`` holds executed copies:
  the test suite executes them once, for ``tests/test_notebooks.py`` and for its build of
  this site.
- On the pages of ``RUN_PAGES`` (the home page, getting started, the gallery) every ``python``
  block runs, in order, in one namespace per page, from the repository root. What a block
  prints is shown after it, and so is each figure it leaves open: the code shown is exactly the
  code that made the output. An exception fails the build.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
from contextlib import chdir, redirect_stdout
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = "DIGIMPACT_EXECUTED_NOTEBOOKS"
RUN_PAGES = ("index.md", "getting-started.md", "gallery.md")
IMAGES = "img/generated"
_BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)  # its "# " lines are no headings
_HEADING = re.compile(r"^#+ (.*)$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(<code>)(?:~(?:[\w.]+\.)?)?")  # a Sphinx role
_LINK = re.compile(r"(\]\()([^)\s#]+)")  # the target of a markdown link or image, without #anchor


class _Output(NamedTuple):
    """What one block of a page produced."""

    text: str
    images: list[str]  # site paths of the PNG files


_outputs: dict[str, list[_Output]] = {}  # page -> the output of each of its python blocks


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if os.environ.get(EXECUTED):
        jupyter = config.plugins["mkdocs-jupyter"].config
        jupyter["execute"] = jupyter["cache"] = False
    return config


@event_priority(50)  # before mkdocs-jupyter, which takes the notebooks among the files
def on_files(files: Files, config: MkDocsConfig) -> Files:
    # a plain File: mkdocs-jupyter's wrapper loses the source path of a generated one
    root = os.environ.get(EXECUTED) or str(ROOT)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{path.name}", src_dir=root, dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    for path in sorted((ROOT / "scenarios").rglob("*")):
        if path.is_file():
            files.append(File.generated(config, path.relative_to(ROOT).as_posix(),
                                        abs_src_path=str(path)))
    for page in RUN_PAGES:
        _outputs[page] = []
        markdown = (Path(config.docs_dir) / page).read_text(encoding="utf-8")
        for index, (text, pngs) in enumerate(_run(page, markdown)):
            uris = [f"{IMAGES}/{Path(page).stem}-{index + 1}-{n}.png" for n in range(1, len(pngs) + 1)]
            for uri, png in zip(uris, pngs, strict=True):
                files.append(File.generated(config, uri, content=png))
            _outputs[page].append(_Output(text, uris))
    return files


def _run(page: str, markdown: str) -> list[tuple[str, list[bytes]]]:
    """Run the ``python`` blocks of ``markdown`` in one namespace: what each block printed,
    and the PNG images of the figures it left open."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    out = []
    plt.close("all")
    # tables are printed whole, as Jupyter shows them, not cut to a terminal's width
    with chdir(ROOT), pd.option_context("display.width", 200, "display.max_columns", 30):
        for index, match in enumerate(_BLOCK.finditer(markdown)):
            printed = io.StringIO()
            with redirect_stdout(printed):
                exec(compile(match[1], f"{page}, python block {index + 1}", "exec"), namespace)
            pngs = []
            for number in plt.get_fignums():
                buffer = io.BytesIO()
                plt.figure(number).savefig(buffer, format="png", dpi=100)
                pngs.append(buffer.getvalue())
            plt.close("all")
            out.append((printed.getvalue(), pngs))
    return out


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri in _outputs:
        markdown = _with_outputs(markdown, _outputs[page.file.src_uri])
    return _LINK.sub(lambda m: m[1] + _site_link(m[2], page), markdown)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Docstrings name objects with Sphinx roles (``:class:`~digimpact.plan.Plan```), which
    mkdocstrings shows as typed: keep the name in code, without the role."""
    return _ROLE.sub(r"\1", html)


def _with_outputs(markdown: str, outputs: list[_Output]) -> str:
    """``markdown`` with each python block followed by its output; images are titled by the
    heading above the block."""
    pieces, end = [], 0
    for match, output in zip(_BLOCK.finditer(markdown), outputs, strict=True):
        headings = _HEADING.findall(_FENCED.sub("", markdown[:match.start()]))
        title = headings[-1].replace("`", "") if headings else "figure"
        pieces.append(markdown[end:match.end()])
        if output.text:
            pieces.append(f"\n```text\n{output.text.rstrip()}\n```\n")
        pieces.extend(f"\n![{title}]({uri})\n" for uri in output.images)
        end = match.end()
    return "".join(pieces) + markdown[end:]


def _site_link(target: str, page: Page) -> str:
    """A relative link written for the repository, as a link between site pages."""
    if "://" in target or target.startswith(("/", "mailto:")) or page.file.abs_src_path is None:
        return target
    source = Path(page.file.abs_src_path).resolve()
    if not source.is_relative_to(ROOT):  # an executed copy of a notebook
        return target
    repo_path = posixpath.normpath(posixpath.join(source.parent.relative_to(ROOT).as_posix(), target))
    site_path = repo_path.removeprefix("docs/")
    return posixpath.relpath(site_path, posixpath.dirname(page.file.src_uri) or ".")
