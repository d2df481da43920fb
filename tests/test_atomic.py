"""The write path: atomic files, output folders swapped whole, umask, signals not lost."""

import contextlib
import os
import signal
import weakref
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digimpact.atomic import atomic_write, check_writable, replace_folder, signals_honoured, umask

NAMES = ("results.nc", "summary.csv", "ranges.png")
# deliver_swallowed makes Python report "Exception ignored in ...": expected here
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@contextlib.contextmanager
def mask(m: int):
    """The umask set to ``m`` for the block."""
    old = os.umask(m)
    try:
        yield
    finally:
        os.umask(old)


def deliver_swallowed(sig: int) -> None:
    """Deliver ``sig`` inside a weak-reference callback, where Python swallows the exception its
    handler raises ("Exception ignored in ..."): what h5py's cleanup callbacks do to Ctrl-C."""

    class Thing:
        pass

    def callback(_ref):
        os.kill(os.getpid(), sig)
        for _ in range(10_000):  # the handler runs at the next check, inside this callback
            pass

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing
    assert ref() is None


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# ----------------------------------------------------------------------------- umask
@given(st.integers(0, 0o777))
def test_files_and_folders_follow_the_umask(tmp_path_factory, m):
    folder = tmp_path_factory.mktemp("umask")
    with mask(m):
        assert umask() == m
        path = atomic_write(folder / "a.bin", b"x")
        with replace_folder(folder / "run") as staging:
            (staging / "b.txt").write_text("y")
    assert path.stat().st_mode & 0o777 == 0o666 & ~m
    assert (folder / "run").stat().st_mode & 0o777 == 0o777 & ~m


@pytest.mark.parametrize(("m", "file_mode", "folder_mode"),
                         [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_common_umasks(tmp_path, m, file_mode, folder_mode):
    with mask(m), replace_folder(tmp_path / "out") as staging:
        atomic_write(staging / "results.nc", writer=lambda tmp: Path(tmp).write_bytes(b"nc"))
    assert (tmp_path / "out").stat().st_mode & 0o777 == folder_mode
    assert (tmp_path / "out" / "results.nc").stat().st_mode & 0o777 == file_mode


# ----------------------------------------------------------------------------- atomic_write
def test_atomic_write_bytes_and_writer(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    assert atomic_write(target, b"one") == target and target.read_bytes() == b"one"
    atomic_write(target, writer=lambda tmp: Path(tmp).write_text("two"))
    assert target.read_text() == "two" and os.listdir(target.parent) == ["a.txt"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken(tmp):
        Path(tmp).write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, writer=broken)
    assert os.listdir(tmp_path) == ["a.txt"] and target.read_text() == "old"


def test_unguarded_the_interruption_is_lost():
    calls = []

    def handler(signum, frame):
        calls.append(signum)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    try:
        deliver_swallowed(signal.SIGINT)  # nothing raised here
    finally:
        signal.signal(signal.SIGINT, old)
    assert calls == [signal.SIGINT]


def test_a_swallowed_ctrl_c_still_stops_the_write(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def writer(tmp):
        Path(tmp).write_text("new")
        deliver_swallowed(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, writer=writer)
    assert os.listdir(tmp_path) == ["a.txt"] and target.read_text() == "old"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_an_interruption_turned_into_another_error_is_reported_as_the_interruption(tmp_path):
    def writer(tmp):  # as h5py does when Ctrl-C lands in its cleanup
        deliver_swallowed(signal.SIGINT)
        raise KeyError("Unable to synchronously open object")

    with pytest.raises(KeyboardInterrupt) as info:
        atomic_write(tmp_path / "a.txt", writer=writer)
    assert isinstance(info.value.__context__, KeyError)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- signals
def test_deferred_signal_waits_for_the_end_of_the_block():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with signals_honoured(defer=True):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):
                pass
            steps.append("finished")
    assert steps == ["finished"]


def test_signal_interrupts_a_guarded_block_at_once():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with signals_honoured():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):
                pass
            steps.append("finished")
    assert steps == []


def test_default_dispositions_are_left_alone():
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    with signals_honoured():
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler


# ----------------------------------------------------------------------------- replace_folder
@given(old=st.sets(st.sampled_from(NAMES)), new=st.sets(st.sampled_from(NAMES), min_size=1),
       fail_after=st.none() | st.integers(0, 2), failure=st.sampled_from([OSError, KeyboardInterrupt]))
def test_a_folder_holds_all_old_or_all_new_files(tmp_path_factory, old, new, fail_after, failure):
    parent = tmp_path_factory.mktemp("swap")
    out = parent / "out"
    if old:
        out.mkdir()
        for name in old:
            (out / name).write_text(f"old {name}")
    before = listing(out) if old else None
    names = sorted(new)
    failed = fail_after is not None and fail_after < len(names)
    try:
        with replace_folder(out) as staging:
            for i, name in enumerate(names):
                if failed and i == fail_after:
                    raise failure("stop")
                (staging / name).write_text(f"new {name}")
    except (OSError, KeyboardInterrupt):
        assert failed
    if failed:
        assert (listing(out) if out.exists() else None) == before
    else:
        assert listing(out) == {name: f"new {name}".encode() for name in names}
    assert os.listdir(parent) == (["out"] if out.exists() else [])  # no temporary folder left


def test_swallowed_signal_in_the_block_keeps_the_old_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.nc").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with replace_folder(out) as staging:
            (staging / "results.nc").write_text("new")
            deliver_swallowed(signal.SIGINT)
    assert listing(out) == {"results.nc": b"old"} and os.listdir(tmp_path) == ["out"]


# ----------------------------------------------------------------------------- check_writable
def test_check_writable_accepts_new_and_earlier_outputs(tmp_path):
    assert check_writable(tmp_path / "a" / "b", folder_of=NAMES) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # nothing created
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.nc").write_text("old")
    check_writable(tmp_path / "out", folder_of=NAMES)
    check_writable(tmp_path / "variant.toml")
    assert sorted(os.listdir(tmp_path)) == ["out"]  # the probe folders are gone


def test_check_writable_refuses_with_the_path_named(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    cases = [(tmp_path / "file", NAMES, NotADirectoryError, "output folder is a file"),
             (tmp_path / "file" / "sub", NAMES, NotADirectoryError, f"{tmp_path / 'file'} is a file"),
             (tmp_path / "busy", NAMES, FileExistsError, r"does not write \(notes.txt\)"),
             (tmp_path / "busy", None, IsADirectoryError, "output file is a folder")]
    for path, names, error, message in cases:
        with pytest.raises(error, match=message) as info:
            check_writable(path, folder_of=names)
        assert info.value.filename == str(path)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_check_writable_refuses_a_folder_nobody_can_create():
    with pytest.raises(OSError, match="cannot be written") as info:
        check_writable(Path("/proc/digimpact-test/out"), folder_of=NAMES)
    assert info.value.filename == "/proc/digimpact-test/out"
