"""Property: every bad input — generated command lines and generated bad files of every kind the tool reads —
ends with exit code 2 and exactly one stderr line `error: …`, never a traceback; in-process and as real
processes. Example counts come from the hypothesis profile (`tests/fuzz/settings.py`; `ci` by default)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz import bad_arguments, bad_files, outcome
from fuzz.settings import examples
from hypothesis import given, settings


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="idealrt-props-") as folder:
        yield Path(folder)


@settings(max_examples=examples("bad_arguments"))
@given(bad_arguments.bad_command_lines())
def test_bad_command_line_is_one_line_error(argv: list[str]) -> None:
    result = outcome.run_in_process(argv)
    assert result.verdict == "rejected", result.describe()


@settings(max_examples=examples("bad_files"))
@given(bad_files.bad_files())
def test_bad_file_is_one_line_error(scratch: Path, kind_and_content: tuple[bad_files.FileKind, bytes]) -> None:
    kind, content = kind_and_content
    result = outcome.run_in_process(bad_files.place(kind, content, scratch))
    assert result.verdict == "rejected", f"{kind.name} {content[:200]!r}: {result.describe()}"


@settings(max_examples=examples("processes"))
@given(bad_arguments.bad_command_lines())
def test_bad_command_line_in_a_real_process(argv: list[str]) -> None:
    if any("\x00" in arg for arg in argv):  # the OS cannot pass a NUL inside an argument
        return
    result = outcome.run_process(argv)
    assert result.verdict == "rejected", result.describe()


@pytest.mark.parametrize("kind", ["config.json", "cases.csv", "provenance.json"])
def test_bad_file_in_a_real_process(scratch: Path, kind: str) -> None:
    """A file that is UTF-16 text, as a model config, a cases table and a provenance index: refused by a fresh
    interpreter too (the in-process tests cover every kind)."""
    file_kind = bad_files.KINDS[kind]
    argv = bad_files.place(file_kind, file_kind.base.encode("utf-16"), scratch)
    result = outcome.run_process(argv)
    assert result.verdict == "rejected", result.describe()
    assert "UTF-16" in result.stderr


@pytest.mark.parametrize("where", bad_arguments.UNWRITABLE)
def test_predict_out_to_an_unwritable_place(where: str) -> None:
    result = outcome.run_in_process(bad_arguments.with_option(bad_arguments.BASES["predict"], "--out", where))
    assert result.verdict == "rejected", result.describe()
