"""Read scenario files: TOML via :mod:`tomllib`, ``extends`` chains, key origins."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ScenarioError

__all__ = ["Origins", "merge", "read_document"]


class Origins:
    """Which file set each key path of a merged document (for error messages).

    Examples
    --------
    >>> o = Origins({"use_cases.a": "base.toml", "use_cases.a.potential": "variant.toml"})
    >>> o.file_of("use_cases.a.potential.high"), o.file_of("use_cases.a.sector")
    ('variant.toml', 'base.toml')
    """

    def __init__(self, files: Mapping[str, str] | None = None, default: str | None = None):
        self._files = dict(files or {})
        self.default = default

    def file_of(self, path: str) -> str | None:
        parts = path.split(".")
        for n in range(len(parts), 0, -1):
            found = self._files.get(".".join(parts[:n]))
            if found is not None:
                return found
        return self.default

    def locate(self, path: str) -> tuple[str, str | None]:
        """Where a key of the merged document was written: ``(key path, file)``."""
        return path, self.file_of(path)

    def update(self, other: Origins) -> None:
        self._files.update(other._files)

    def record(self, doc: Mapping[str, Any], file: str, prefix: str = "") -> None:
        for key, value in doc.items():
            path = f"{prefix}{key}"
            self._files[path] = file
            if isinstance(value, Mapping):
                self.record(value, file, path + ".")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    self._files[f"{path}[{i}]"] = file
                    if isinstance(item, Mapping):
                        self.record(item, file, f"{path}[{i}].")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base`` (neither is modified).

    Tables merge key by key. A distribution table (one with a ``dist`` key), a number or a
    list in ``over`` replaces what ``base`` had; a table without ``dist`` edits the keys of
    a distribution it lands on, e.g. ``{ high = 0.08 }`` widens a range.

    Examples
    --------
    >>> merge({"a": {"dist": "uniform", "low": 0, "high": 1}}, {"a": {"high": 2}})
    {'a': {'dist': 'uniform', 'low': 0, 'high': 2}}
    >>> merge({"a": {"dist": "uniform", "low": 0, "high": 1}}, {"a": 0.5})
    {'a': 0.5}
    """
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping) and "dist" not in value:
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def read_document(path: str | Path, _stack: tuple[Path, ...] = ()) -> tuple[dict, Origins]:
    """Read a scenario file and everything it ``extends`` into one merged document.

    ``extends`` is a path (or list of paths) relative to the file; each is read in turn,
    merged in order, and the file's own keys are merged last.

    Raises
    ------
    ScenarioError
        Missing file, invalid TOML, a non-string ``extends``, or a cycle of ``extends``.
    """
    path = Path(path).resolve()
    name = str(path)
    if path in _stack:
        chain = " -> ".join(p.name for p in (*_stack[_stack.index(path):], path))
        raise ScenarioError(f"cycle in extends: {chain}", "extends", _stack[-1])
    try:
        with path.open("rb") as fh:
            own = tomllib.load(fh)
    except FileNotFoundError:
        where = _stack[-1] if _stack else None
        raise ScenarioError(f"scenario file not found: {path}", "extends" if _stack else "",
                            where) from None
    except IsADirectoryError:
        raise ScenarioError("expected a scenario file, got a directory", "", name) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"invalid TOML: {exc}", "", name) from None
    parents = own.pop("extends", [])
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ScenarioError("expected a file name or a list of file names", "extends", name)
    doc: dict[str, Any] = {}
    origins = Origins(default=name)
    for parent in parents:
        sub, sub_origins = read_document(path.parent / parent, (*_stack, path))
        doc = merge(doc, sub)
        origins.update(sub_origins)
    origins.record(own, name)
    return merge(doc, own), origins
