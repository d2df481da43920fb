"""The loader: only regular UTF-8 TOML files are read, and every refusal is one ScenarioError.

Each test here is a defect found by fuzzing (issue 9, part 2), kept as a regression test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digimpact import ScenarioError, load_scenario
from digimpact.loader import MAX_BYTES, MAX_EXTENDS, MAX_NESTING, Origins, merge, read_document

ROOT = Path(__file__).resolve().parents[1]
JAPAN = ROOT / "scenarios" / "japan2030"


def refused(path: Path, key_path: str, *fragments: str, file: Path | None = None) -> ScenarioError:
    """Load ``path`` and expect one ScenarioError naming ``file`` (default ``path``) and
    ``key_path``, with no chained traceback."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert type(err) is ScenarioError and err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None  # no chained traceback
    assert err.file == str((file or path).resolve())
    assert err.path == key_path
    for fragment in fragments:
        assert fragment in str(err)
    return err


def variant(tmp_path: Path, extends: str) -> Path:
    path = tmp_path / "variant.toml"
    path.write_text(f"extends = {extends!r}\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- what is read
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_extends_a_device_is_refused_without_reading_it(tmp_path, device):
    refused(variant(tmp_path, device), "extends", "expected a scenario file", device)


def test_extends_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")  # opening it for reading would block until a writer comes
    refused(variant(tmp_path, "pipe"), "extends", "device, FIFO or socket", "pipe")


def test_top_file_that_is_a_fifo_is_named(tmp_path):
    os.mkfifo(tmp_path / "pipe.toml")
    refused(tmp_path / "pipe.toml", "", "expected a scenario file")


def test_extends_a_directory(tmp_path):
    refused(variant(tmp_path, "."), "extends", "got a directory")


def test_symlink_loop(tmp_path):
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    refused(variant(tmp_path, "a.toml"), "extends", "cannot read", "symbolic links")


def test_nul_in_an_extends_path(tmp_path):
    path = tmp_path / "variant.toml"
    path.write_text('extends = "base\\u0000.toml"\n', encoding="utf-8")
    refused(path, "extends", "without NUL characters")


def test_name_too_long(tmp_path):
    err = refused(variant(tmp_path, "x" * 5000 + ".toml"), "extends", "File name too long")
    assert len(str(err)) < 6000


def test_file_larger_than_the_limit(tmp_path):
    big = tmp_path / "big.toml"
    with big.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    refused(big, "", "expected a file of at most 10 MiB")
    refused(variant(tmp_path, "big.toml"), "extends", "at most 10 MiB")


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "padded.toml"
    text = (JAPAN / "base.toml").read_text(encoding="utf-8")
    path.write_bytes(text.encode() + b"#" * (MAX_BYTES - len(text.encode())))
    document, _ = read_document(path)
    assert document["scenario"]["base_year"] == 2018


def test_extends_may_leave_the_folder(tmp_path):
    """Policy: a variant anywhere may extend a shipped scenario (documented)."""
    path = tmp_path / "mine.toml"
    path.write_text(f'extends = "{JAPAN / "exhibit5.toml"}"\n[settings]\nseed = 5\n',
                    encoding="utf-8")
    s = load_scenario(path)
    assert s.settings.seed == 5 and len(s.use_cases) > 100


def test_extends_chain_longer_than_the_limit(tmp_path):
    for i in range(1200):
        (tmp_path / f"c{i}.toml").write_text(f'extends = "c{i + 1}.toml"\n', encoding="utf-8")
    err = refused(tmp_path / "c0.toml", "extends", f"at most {MAX_EXTENDS} files",
                  file=tmp_path / f"c{MAX_EXTENDS - 1}.toml")
    assert "RecursionError" not in repr(err)


def test_extends_chain_at_the_limit_is_read(tmp_path, small_toml):
    (tmp_path / f"c{MAX_EXTENDS - 1}.toml").write_text(small_toml, encoding="utf-8")
    for i in range(MAX_EXTENDS - 1):
        (tmp_path / f"c{i}.toml").write_text(f'extends = "c{i + 1}.toml"\n', encoding="utf-8")
    assert load_scenario(tmp_path / "c0.toml").title == "Small"


# ----------------------------------------------------------------------------- what it holds
def test_invalid_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[scenario]\ntitle = "Caf\xe9"\n')
    refused(path, "", "expected UTF-8 text, got byte 0xe9", "line 2, column 13")


def test_byte_order_mark_is_accepted(tmp_path, small_toml):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + small_toml.encode())
    assert load_scenario(path).title == "Small"


def test_invalid_toml_keeps_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\ntitle = "T"\nunit = \n', encoding="utf-8")
    refused(path, "", "invalid TOML", "line 3, column 8")


def test_arrays_nested_1000_deep(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    refused(path, "", f"nested at most {MAX_NESTING} deep")


def test_dotted_keys_nested_deeper_than_the_limit(tmp_path):
    path = tmp_path / "dotted.toml"
    path.write_text("a" + ".a" * 2000 + " = 1\n", encoding="utf-8")
    refused(path, "a" + ".a" * MAX_NESTING, f"nested at most {MAX_NESTING} deep")


def test_integer_of_400_digits(tmp_path, small_toml):
    path = tmp_path / "huge.toml"
    path.write_text(small_toml.replace("value_added = 10.0", "value_added = " + "9" * 400),
                    encoding="utf-8")
    refused(path, "sectors.a.value_added", "an integer of 400 digits")


# ----------------------------------------------------------------------------- blame
def test_error_in_a_parent_names_the_parent(tmp_path):
    """A misspelt key of a distribution in base.toml, read through exhibit5.toml (which edits
    other keys of the same distribution), is blamed on base.toml."""
    copy = tmp_path / "japan2030"
    shutil.copytree(JAPAN, copy)
    base = copy / "base.toml"
    text = base.read_text(encoding="utf-8")
    base.write_text(text.replace("median = 1.0, sigma = 0.1", "median = 1.0, sigmas = 0.1", 1),
                    encoding="utf-8")
    refused(copy / "exhibit5.toml", "drivers.realisation.value.sigmas", "unknown key 'sigmas'",
            "did you mean 'sigma'?", file=base)


def test_origins_name_the_last_file_that_set_a_key():
    origins = Origins(default="top.toml")
    origins.record({"a": {"b": 1, "c": [{"d": 2}]}}, "base.toml")
    origins.record({"a": {"b": 3}}, "variant.toml")
    assert origins.file_of("a.b") == "variant.toml"
    assert origins.file_of("a.c[0].d") == "base.toml"
    assert origins.file_of("elsewhere") == "top.toml"


def test_merge_replaces_distributions_and_edits_partial_tables():
    base = {"x": {"dist": "uniform", "low": 0, "high": 1}, "y": [1, 2]}
    assert merge(base, {"x": {"high": 2}}) == {"x": {"dist": "uniform", "low": 0, "high": 2},
                                               "y": [1, 2]}
    assert merge(base, {"x": {"dist": "fixed", "value": 3}, "y": [3]}) == {
        "x": {"dist": "fixed", "value": 3}, "y": [3]}
    assert base["x"]["high"] == 1


_KEYS = st.sampled_from(["a", "b", "c", "dist", "high"])
_DOCS = st.recursive(st.integers(0, 3), lambda inner: st.dictionaries(_KEYS, inner, max_size=3),
                     max_leaves=8).filter(lambda d: isinstance(d, dict))


@given(base=_DOCS, over=_DOCS)
def test_merge_laws(base, over):
    merged = merge(base, over)
    assert merge(merged, over) == merged  # merging the same edits twice changes nothing
    assert merge(base, {}) == base and merge({}, over) == over
    assert set(merged) == set(base) | set(over)
    for key, value in over.items():  # what over says wins, unless it edits a table
        if not (isinstance(value, dict) and isinstance(base.get(key), dict) and "dist" not in value):
            assert merged[key] == value


def test_origins_update_and_locate():
    origins = Origins({"a": "one.toml"}, default="top.toml")
    other = Origins({"a.b": "two.toml"})
    origins.update(other)
    assert origins.locate("a.b.c") == ("a.b.c", "two.toml")
    assert origins.locate("a.x") == ("a.x", "one.toml")
    assert other.file_of("a.x") is None  # update copies; it does not share
