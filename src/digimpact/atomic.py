"""The write path: files and sets of files replaced whole, interrupted cleanly, per the umask.

A leaf module (it imports nothing from the package) used by :mod:`digimpact.scenario`,
:mod:`digimpact.results` and the command line.

Guarantees
----------
- :func:`atomic_write`: readers see the old file or the complete new one, never a mix. The
  temporary file sits beside the target and is removed on any exception, Ctrl-C or
  ``SIGTERM`` (when ``SIGTERM`` raises, as the ``digimpact`` command arranges).
- :func:`replace_folder`: the files of one run are written into a temporary folder beside the
  target folder, which then takes its place: after an interrupted run the folder holds either
  every old file or every new one.
- New files and folders get the permissions the user's umask allows (``0o666 & ~umask`` for
  files, ``0o777 & ~umask`` for folders), not the ``0o600`` of :func:`tempfile.mkstemp`.
- Python-level signal handlers (Ctrl-C) are honoured even when the exception they raise is
  swallowed by a library's cleanup callback (h5py's weak-reference callbacks print
  "Exception ignored" and carry on): see :func:`signals_honoured`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["atomic_write", "check_writable", "replace_folder", "signals_honoured", "umask"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals whose Python handlers :func:`signals_honoured` guards."""

_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and restoring it
    under a lock (another thread creating a file in between would still see the set value).

    Examples
    --------
    >>> 0 <= umask() <= 0o777
    True
    """
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def signals_honoured(defer: bool = False) -> Iterator[None]:
    """Run a block so that Ctrl-C and ``SIGTERM`` cannot be lost, or are held until its end.

    Only signals with a Python handler (such as Ctrl-C's ``KeyboardInterrupt``) are guarded;
    default and ignored dispositions are left alone. Each guarded signal is recorded and passed
    on to its handler at once, so the exception it raises interrupts the block as usual. If
    that exception is swallowed on the way (a library's cleanup callback catches it), the
    handler runs again when the block ends, so the interruption is not lost; if it surfaces as
    another exception, the handler's exception is raised instead. With ``defer``,
    handlers run only when the block ends: for short steps that must not be cut in two, such
    as the renames of :func:`replace_folder`. Outside the main thread the block runs unguarded
    (Python delivers signals to the main thread only).

    Examples
    --------
    >>> with signals_honoured():
    ...     pass
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    raised: list[BaseException] = []
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    guarded: dict[int, Callable[..., Any]] = {sig: handler for sig, handler in previous.items()
                                              if callable(handler)}

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if not defer:
            try:
                guarded[signum](signum, frame)
            except BaseException as exc:
                raised.append(exc)
                raise

    for sig in guarded:
        signal.signal(sig, record)
    try:
        yield
    except BaseException as exc:
        if received and not any(exc is r for r in raised):
            # the interruption surfaced as another error (h5py turns it into a KeyError when
            # it lands in its cleanup): report the interruption
            guarded[received[0]](received[0], None)
        raise
    finally:
        for sig, handler in guarded.items():
            signal.signal(sig, handler)
    if received:  # the block ended normally: its interruption was held or swallowed
        guarded[received[0]](received[0], None)


def _follow_umask(path: str | Path, mode: int) -> None:
    os.chmod(path, mode & ~umask())


def atomic_write(path: str | Path, data: bytes | None = None,
                 writer: Callable[[str], object] | None = None) -> Path:
    """Write a file so that readers see either the old or the complete new content.

    Parameters
    ----------
    path
        The file to write; missing parent folders are created.
    data
        Bytes to write, or
    writer
        a function that writes to the temporary path it is called with (e.g. a library's
        ``save``); it runs under :func:`signals_honoured`.

    Returns
    -------
    pathlib.Path
        ``path``, with permissions ``0o666 & ~umask``.

    Examples
    --------
    >>> import tempfile, os
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(target, b"hello").read_bytes()
    b'hello'
    >>> oct(target.stat().st_mode & 0o777) == oct(0o666 & ~umask())
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if data is not None:
                fh.write(data)
        if writer is not None:
            with signals_honoured():
                writer(tmp)
        _follow_umask(tmp, 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")  # pragma: no cover - a relative path's parents end at "."


def check_writable(path: str | Path, folder_of: Collection[str] | None = None) -> Path:
    """Check, before any work, that the file ``path`` (or, with ``folder_of``, the folder) can be written.

    A missing ``path`` is created later with its parents. A file must not be a folder. A
    folder may hold only files named in ``folder_of``: the outputs of an earlier run, which
    :func:`replace_folder` replaces. The nearest existing ancestor must be a folder in which a
    temporary folder can be created (tried, then removed).

    Raises
    ------
    OSError
        Naming ``path`` as its ``filename``: it is a folder (a file was asked for) or a file (a
        folder was asked for), an ancestor is a file, the folder holds other files, or nothing
        can be created there.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "new" / "run"
    >>> check_writable(folder, folder_of={"results.nc"}) == folder
    True
    >>> folder.exists()
    False
    """
    path = Path(path)
    kind = "file" if folder_of is None else "folder"
    existing = _nearest_existing(path)
    if existing == path and folder_of is None and path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "output file is a folder", str(path))
    if existing == path and folder_of is not None:
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "output folder is a file", str(path))
        others = sorted(p.name for p in path.iterdir() if p.name not in folder_of)
        if others:
            raise FileExistsError(errno.EEXIST, f"output folder holds files digimpact does not "
                                  f"write ({', '.join(others[:5])}); give a new or empty folder",
                                  str(path))
    if existing == path:
        existing = path.parent
    elif not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"output {kind} cannot be created: {existing} is "
                                 f"a file", str(path))
    try:
        Path(tempfile.mkdtemp(dir=existing, prefix=".digimpact-probe.")).rmdir()
    except OSError as exc:
        raise type(exc)(exc.errno, f"output {kind} cannot be written ({exc.strerror})",
                        str(path)) from None
    return path


@contextlib.contextmanager
def replace_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``, which becomes ``path`` if the block succeeds.

    The block runs under :func:`signals_honoured`. The old folder, if any, is renamed aside,
    the new one renamed into place and the old one removed, with Ctrl-C and ``SIGTERM`` held
    until the renames are done. On any exception, Ctrl-C or ``SIGTERM`` in the block the
    temporary folder is removed and ``path`` is untouched. A hard kill (``SIGKILL``, power
    loss) during the renames leaves the old files in a hidden ``.<name>.*.old`` folder beside
    ``path``.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with replace_folder(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("new")
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        _follow_umask(staging, 0o777)
        with signals_honoured():
            yield staging
        with signals_honoured(defer=True):
            _swap(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(new: Path, path: Path) -> None:
    if not path.exists():
        os.rename(new, path)
        return
    aside = new.with_suffix(".old")
    os.rename(path, aside)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)
