"""Read scenario files: TOML via :mod:`tomllib`, ``extends`` chains, key origins.

Only what can be a scenario is read: a regular file (never a device, a FIFO or a directory) of
at most :data:`MAX_BYTES`, in UTF-8 (a byte-order mark is allowed), nested at most
:data:`MAX_NESTING` levels, through at most :data:`MAX_EXTENDS` files of ``extends``. Anything
else raises one :class:`~digimpact.errors.ScenarioError` naming the file.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ScenarioError

__all__ = ["MAX_BYTES", "MAX_EXTENDS", "MAX_NESTING", "Origins", "merge", "read_document"]

MAX_BYTES = 10 * 2**20
"""Largest scenario file read (10 MiB; the whole Japan 2030 model is about 100 KiB)."""
MAX_EXTENDS = 32
"""Longest chain of ``extends`` (a file, its parent, the parent's parent, ...)."""
MAX_NESTING = 16
"""Deepest nesting of tables and arrays in a file (a scenario needs five)."""


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
        """The file that set ``path`` or its nearest recorded parent key, else the default."""
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
        """Take the origins recorded in ``other`` (its keys win)."""
        self._files.update(other._files)

    def record(self, doc: Mapping[str, Any], file: str, prefix: str = "") -> None:
        """Record ``file`` as the origin of every key path of ``doc`` (tables and array items
        included), each prefixed by ``prefix``.

        Examples
        --------
        >>> o = Origins()
        >>> o.record({"sectors": {"a": {"growth": 0.01}}, "correlations": [{"rank": 0.3}]}, "x.toml")
        >>> o.file_of("sectors.a.growth"), o.file_of("correlations[0].rank"), o.file_of("other")
        ('x.toml', 'x.toml', None)
        """
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
    merged in order, and the file's own keys are merged last. A parent may lie outside the
    file's folder, but must be a regular file.

    Raises
    ------
    ScenarioError
        A file that is missing, not a regular file, too large, not UTF-8 or not TOML (with
        the line and column), nested too deeply; a non-string ``extends``, a cycle of
        ``extends`` or a chain longer than :data:`MAX_EXTENDS`.
    """
    parent = _stack[-1] if _stack else None
    if len(_stack) >= MAX_EXTENDS:
        raise ScenarioError(f"expected a chain of at most {MAX_EXTENDS} files of extends",
                            "extends", parent)
    path = _resolve(path, parent)
    name = str(path)
    if path in _stack:
        chain = " -> ".join(p.name for p in (*_stack[_stack.index(path):], path))
        raise ScenarioError(f"cycle in extends: {chain}", "extends", parent)
    own = _parse(_read(path, parent), name)
    parents = own.pop("extends", [])
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ScenarioError("expected a file name or a list of file names", "extends", name)
    doc: dict[str, Any] = {}
    origins = Origins(default=name)
    for parent_name in parents:
        sub, sub_origins = read_document(path.parent / parent_name, (*_stack, path))
        doc = merge(doc, sub)
        origins.update(sub_origins)
    origins.record(own, name)
    return merge(doc, own), origins


def _unreadable(message: str, path: str | Path, parent: Path | None) -> ScenarioError:
    """The error for a file that cannot be read: blamed on the ``extends`` that named it."""
    if parent is None:
        return ScenarioError(message, "", path)
    return ScenarioError(f"{message}: {path}", "extends", parent)


def _resolve(path: str | Path, parent: Path | None) -> Path:
    """The absolute path of a scenario file (symlinks resolved, a loop left to :func:`_read`)."""
    text = os.fspath(path)
    if "\0" in text:
        raise _unreadable("expected a file name without NUL characters", repr(text), parent)
    try:
        return Path(os.path.realpath(text))
    except (OSError, ValueError) as exc:
        raise _unreadable(f"cannot read the file ({exc})", repr(text), parent) from None


def _read(path: Path, parent: Path | None) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES (a FIFO or device is never opened)."""
    too_large = f"expected a file of at most {MAX_BYTES // 2**20} MiB"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
            raise _unreadable(f"expected a scenario file, got {kind}", path, parent)
        if info.st_size > MAX_BYTES:
            raise _unreadable(too_large, path, parent)
        # O_NONBLOCK: a file swapped for a FIFO after the stat still cannot block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise _unreadable("expected a scenario file", path, parent)
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _unreadable("scenario file not found", path, parent) from None
    except OSError as exc:  # a symlink loop, a name too long, no permission
        raise _unreadable(f"cannot read the file ({exc.strerror})", path, parent) from None
    if len(data) > MAX_BYTES:
        raise _unreadable(too_large, path, parent)
    return data


def _parse(data: bytes, name: str) -> dict[str, Any]:
    """TOML tables from UTF-8 bytes (with or without a byte-order mark)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ScenarioError(f"expected UTF-8 text, got byte 0x{data[exc.start]:02x} (at line "
                            f"{line}, column {column})", "", name) from None
    nested = f"expected arrays and tables nested at most {MAX_NESTING} deep"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if message.endswith("(at end of document)"):  # say where that is
            last = text.rsplit("\n", 1)[-1]
            message = message.replace("end of document", f"line {text.count(chr(10)) + 1}, "
                                      f"column {len(last) + 1}, the end of the document")
        raise ScenarioError(f"invalid TOML: {message}", "", name) from None
    except RecursionError:
        raise ScenarioError(nested, "", name) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ScenarioError(f"invalid TOML: {exc}", "", name) from None
    deep = _too_deep(doc)
    if deep is not None:
        raise ScenarioError(nested, deep, name)
    return doc


def _too_deep(doc: Mapping[str, Any]) -> str | None:
    """The key path of a table or array nested deeper than MAX_NESTING, if any (dotted keys
    nest without limit, and merging recurses)."""
    level: list[tuple[str, Any]] = [("", doc)]
    for _ in range(MAX_NESTING + 1):
        deeper: list[tuple[str, Any]] = []
        for path, node in level:
            if isinstance(node, Mapping):
                items = ((f"{path}.{k}" if path else k, v) for k, v in node.items())
            else:
                items = ((f"{path}[{i}]", v) for i, v in enumerate(node))
            deeper.extend(item for item in items if isinstance(item[1], Mapping | list))
        level = deeper
    return level[0][0] if level else None
