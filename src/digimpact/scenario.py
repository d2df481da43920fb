"""Scenario: one model of sectors, use cases, drivers and targets, validated and immutable.

A :class:`Scenario` is built from a document (the merged TOML tables of a scenario file and
the files it ``extends``). The document is the single source of truth: :meth:`Scenario.to_toml`
writes it back, :meth:`Scenario.with_overrides` edits it by key path and re-validates, and the
parsed objects (:class:`Sector`, :class:`UseCase`, ...) are views of it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import tomli_w

from .distributions import Distribution
from .errors import ScenarioError, did_you_mean
from .loader import Origins, merge, read_document
from .records import (
    NON_MARKET,
    Adoption,
    Correlation,
    Driver,
    Meta,
    Model,
    ReportRow,
    RunSettings,
    Sector,
    Settings,
    Target,
    UseCase,
    parameters,
)
from .schema import SECTIONS, validate

__all__ = [
    "SECTIONS",
    "Adoption",
    "Correlation",
    "Driver",
    "Meta",
    "Model",
    "ReportRow",
    "RunSettings",
    "Scenario",
    "Sector",
    "Settings",
    "Target",
    "UseCase",
    "load_scenario",
]


# --------------------------------------------------------------------------- the scenario
@dataclass(frozen=True, eq=False)
class Scenario(Model):
    """An immutable, validated scenario: the records of :class:`~digimpact.records.Model`
    (``meta``, ``settings``, ``sectors``, ``drivers``, ``use_cases``, ``targets``,
    ``correlations``), the merged ``document`` they were read from and its top ``file``.

    Build one with :func:`load_scenario` or :meth:`Scenario.from_dict`.

    Examples
    --------
    >>> import digimpact
    >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
    >>> s.meta.unit, len(s.use_cases) > 0
    ('JPY trillion', True)
    >>> later = s.with_overrides({"settings.seed": 7})
    >>> later.settings.seed, s.settings.seed != 7
    (7, True)
    """

    document: Mapping[str, Any] = field(repr=False)
    file: str | None

    # ---- construction
    @classmethod
    def from_dict(cls, document: Mapping[str, Any], file: str | Path | None = None,
                  origins: Origins | None = None) -> Scenario:
        """Validate a document (the tables of a scenario file) and build a Scenario."""
        doc = _string_keys(document)  # TOML keys are strings (e.g. table years from Python)
        origins = origins or Origins(default=str(file) if file else None)
        model = validate(doc, origins)
        return cls(**vars(model), document=MappingProxyType(doc), file=str(file) if file else None)

    # ---- derived views
    @property
    def title(self) -> str:
        """The scenario's title (``scenario.title``)."""
        return self.meta.title

    @property
    def groups(self) -> tuple[str, ...]:
        """Sector groups in order of first appearance."""
        return tuple(dict.fromkeys(s.group for s in self.sectors.values()))

    @property
    def years(self) -> range:
        """Every year of the horizon."""
        return self.meta.years

    @functools.cached_property
    def hash(self) -> str:
        """SHA-256 of the canonical document: equal for equal models, whatever the files."""
        text = json.dumps(dict(self.document), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def parameters(self) -> dict[str, Distribution]:
        """Every parameter of the enabled use cases and the drivers, by stream name.

        Names are key paths, e.g. ``use_cases.pricing.adoption.midpoint``; random streams are
        derived from them.
        """
        return parameters(self.use_cases, self.drivers)

    def sectors_in(self, groups: Sequence[str] = (), sectors: Sequence[str] = ()) -> list[str]:
        """Sector ids in any of ``groups`` or listed in ``sectors``, in scenario order."""
        return [s.id for s in self.sectors.values() if s.group in groups or s.id in sectors]

    def report_rows(self) -> list[ReportRow]:
        """The rows of a report, in display order: the sectors of each group (groups in order
        of first appearance), each group, each target, and the total.

        A target row adds up its ``groups`` and ``sectors``; no other subtotal is made up
        (targets define the published subtotals). The label of a row with non-market sectors
        (``market = false``) says that their gains are cost and time savings.

        Examples
        --------
        >>> import digimpact
        >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
        >>> [(r.level, r.id) for r in s.report_rows()][-4:]
        [('group', 'core'), ('group', 'other'), ('target', 'core'), ('total', 'total')]
        """
        rows = [ReportRow("sector", s.id, s.name, (), (s.id,), None)
                for g in self.groups for s in self.sectors.values() if s.group == g]
        rows += [ReportRow("group", g, g, (g,), (), None) for g in self.groups]
        rows += [ReportRow("target", t.id, t.name, t.groups, t.sectors, t)
                 for t in self.targets.values()]
        rows.append(ReportRow("total", "total", "All sectors", (), (), None))
        return [row._replace(label=row.label + self._gain(row)) for row in rows]

    def _gain(self, row: ReportRow) -> str:
        """Label suffix of a row adding up non-market sectors (their gains are savings)."""
        ids = self.sectors_in(row.groups, row.sectors) if row.groups or row.sectors else self.sectors
        market = [self.sectors[i].market for i in ids]
        if all(market):
            return ""
        return f" ({NON_MARKET})" if not any(market) else f" (incl. {NON_MARKET})"

    def sources(self) -> pd.DataFrame:
        """Every cited source in the document: key path and citation."""
        rows = [{"key": k, "source": v} for k, v in _walk(self.document) if k.endswith("source")]
        return pd.DataFrame(rows, columns=["key", "source"])

    def sectors_frame(self) -> pd.DataFrame:
        """Sectors as a table (one row each)."""
        rows = [{"id": s.id, "name": s.name, "group": s.group, "value_added": s.value_added,
                 "gross_output": s.gross_output, "year": s.year, "growth": s.growth,
                 "use_cases": sum(u.sector == s.id for u in self.use_cases.values()),
                 "source": s.source} for s in self.sectors.values()]
        return pd.DataFrame(rows).set_index("id")

    def use_cases_frame(self) -> pd.DataFrame:
        """Enabled use cases as a table, with the median of each value potential."""
        rows = [{"id": u.id, "name": u.name, "sector": u.sector, "technology": u.technology,
                 "stage": u.stage, "wave": u.wave, "potential_median": u.potential.median(),
                 "adoption": u.adoption.kind, "drivers": ", ".join(u.drivers),
                 "source": u.source} for u in self.use_cases.values()]
        return pd.DataFrame(rows).set_index("id")

    # ---- editing (each returns a new, validated Scenario)
    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new scenario with values set at dotted key paths.

        Examples
        --------
        >>> import digimpact
        >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
        >>> s2 = s.with_overrides({"use_cases.dynamic_pricing.adoption.midpoint": 2026})
        >>> s2.use_cases["dynamic_pricing"].adoption.params["midpoint"].value
        2026.0
        """
        doc = copy.deepcopy(dict(self.document))
        created = []  # (override, the first key it creates, that key's siblings)
        for dotted, value in overrides.items():
            keys = dotted.split(".")
            new = _new_key(doc, keys)
            if new:
                created.append((dotted, *new))
            node = doc
            for key in keys[:-1]:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise ScenarioError(f"cannot set a key inside {child!r}", dotted, self.file)
                node = child
            node[keys[-1]] = copy.deepcopy(value)
        try:
            return Scenario.from_dict(doc, self.file)
        except ScenarioError as exc:
            raise _misspelt(exc, created) from None

    def replace(self, **sections: Any) -> Scenario:
        """A new scenario with whole top-level tables merged in (``settings={"draws": 100}``).

        Keys are section names (``scenario``, ``settings``, ``sectors``, ``use_cases``, ...);
        values merge into the section by the rules of ``extends``.
        """
        for name in sections:
            if name not in SECTIONS:
                raise ScenarioError(f"unknown section {name!r}{did_you_mean(name, SECTIONS)}",
                                    name, self.file)
        return Scenario.from_dict(merge(self.document, sections), self.file)

    def diff(self, other: Scenario) -> pd.DataFrame:
        """What changed from this scenario to ``other``: one row per key path.

        Examples
        --------
        >>> import digimpact
        >>> s = digimpact.load_scenario("scenarios/examples/minimal.toml")
        >>> s.diff(s.with_overrides({"settings.seed": 1})).to_dict("records")
        [{'key': 'settings.seed', 'old': 2030, 'new': 1}]
        """
        old, new = dict(_walk(self.document)), dict(_walk(other.document))
        rows = [{"key": k, "old": old.get(k), "new": new.get(k)} for k in dict.fromkeys([*old, *new])
                if old.get(k, _MISSING) != new.get(k, _MISSING)]
        return pd.DataFrame(rows, columns=["key", "old", "new"], dtype=object)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document."""
        return copy.deepcopy(dict(self.document))

    @functools.cached_property
    def _toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def to_toml(self, path: str | Path | None = None) -> str:
        """The document as TOML text (written atomically to ``path`` if given)."""
        text = self._toml
        if path is not None:
            from .atomic import atomic_write

            atomic_write(path, text.encode())
        return text

    # ---- display
    def __repr__(self) -> str:
        return (f"<Scenario {self.title!r}: {len(self.sectors)} sectors, "
                f"{len(self.use_cases)} use cases, {len(self.drivers)} drivers, "
                f"{len(self.targets)} targets>")

    def _repr_html_(self) -> str:
        """The scenario in Jupyter: sectors as a table, use cases folded per sector (a
        ``<details>`` element each, closed), so that 165 use cases take 16 lines."""
        head = (f"<h4>{html.escape(self.title)}</h4><p>{html.escape(self.meta.description)}</p>"
                f"<p>Unit: {html.escape(self.meta.unit)}; years {self.meta.horizon[0]}-"
                f"{self.meta.horizon[1]}; target year {self.meta.target_year}; "
                f"{len(self.drivers)} drivers, {len(self.targets)} targets; hash {self.hash[:12]}</p>")
        use_cases = self.use_cases_frame()
        folded = "".join(
            f"<details><summary>{html.escape(s.name)} ({html.escape(s.id)}): "
            f"{(use_cases['sector'] == s.id).sum()} use cases</summary>"
            f"{use_cases[use_cases['sector'] == s.id].drop(columns='sector').to_html()}</details>"
            for s in self.sectors.values())
        return (head + "<h5>Sectors</h5>" + self.sectors_frame().to_html()
                + f"<h5>Use cases ({len(use_cases)}), by sector</h5>" + folded)


_MISSING = object()


def _string_keys(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _string_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_string_keys(v) for v in node]
    return node


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


def _new_key(doc: Mapping[str, Any], keys: list[str]) -> tuple[str, list[str]] | None:
    """The first of the key path ``keys`` missing from ``doc``, and the keys beside it."""
    node: Any = doc
    for depth, key in enumerate(keys):
        if not isinstance(node, Mapping):
            return None
        if key not in node:
            return ".".join(keys[:depth + 1]), list(node)
        node = node[key]
    return None


def _misspelt(exc: ScenarioError, created: list[tuple[str, str, list[str]]]) -> ScenarioError:
    """``exc``, with a did-you-mean when an override created a key close to an existing one."""
    if "did you mean" not in exc.message:
        for dotted, path, siblings in created:
            hint = did_you_mean(path.rsplit(".", 1)[-1], siblings)
            if hint and (exc.path + ".").startswith(path + "."):
                return ScenarioError(f"{exc.message}; the override {dotted!r} created a new key "
                                     f"{path!r}{hint}", exc.path, exc.file)
    return exc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (and the files it ``extends``).

    Raises
    ------
    ScenarioError
        For any mistake in the files, naming the file and key path.

    Examples
    --------
    >>> import digimpact
    >>> digimpact.load_scenario("scenarios/examples/minimal.toml").meta.horizon
    (2020, 2030)
    """
    document, origins = read_document(path)
    return Scenario.from_dict(document, Path(path), origins)


