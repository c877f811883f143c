"""The input boundary (`simulator/files.py`, `simulator/validation.py`): each check on its own, with the message
a person gets. The generated inputs of `tests/test_properties_bad_inputs.py` cover the combinations."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from idealrt.simulator import files
from idealrt.simulator.errors import UserError
from idealrt.simulator.files import read_csv, read_mapping
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.planner.distributions import parse_distribution
from idealrt.simulator.profile import load_profile
from idealrt.simulator.validation import InvalidNumber, real_number, whole_number, writable_path


def _message(call: Callable[..., object], *args: object) -> str:
    with pytest.raises(UserError) as caught:
        call(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_utf16_latin1_and_binary_files_say_what_they_are(tmp_path: Path) -> None:
    text = json.dumps({"name": "café"}, ensure_ascii=False)
    cases = {
        "utf16.json": (text.encode("utf-16"), "UTF-16 text; save it as UTF-8"),
        "utf16le.json": (text.encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        "latin1.json": (text.encode("latin-1"), "not UTF-8 text (byte 0xE9 on line 1; Latin-1"),
        "binary.json": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary, not text"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert expected in _message(read_mapping, path, "profile"), name


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_mapping(path, "spec") == {"a": 1}


def test_size_limit_also_after_gunzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2000 + "\n")
    assert "larger than the 1,000 bytes" in _message(read_mapping, big, "spec")
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1000))  # 4 kB inflated from a few dozen bytes
    assert "more than 1,000 bytes once decompressed" in _message(read_csv, bomb, "measurement table")


def test_nesting_aliases_and_non_finite_numbers(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    assert "nested deeper than 32 levels" in _message(read_mapping, deep, "profile")
    shallow_but_deep = tmp_path / "deep2.json"
    shallow_but_deep.write_text('{"a":' * 40 + "1" + "}" * 40)
    assert "nested deeper than 32 levels" in _message(read_mapping, shallow_but_deep, "profile")
    laughs = tmp_path / "laughs.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    laughs.write_text("\n".join(lines) + "\n")
    assert "more than 1,000,000 values" in _message(read_mapping, laughs, "spec")
    nan = tmp_path / "nan.json"
    nan.write_text('{"gemm": {"peak_fraction": NaN}}')
    assert "field 'gemm.peak_fraction': nan is not a finite number" in _message(read_mapping, nan, "profile")
    inf = tmp_path / "inf.yaml"
    inf.write_text("memory_gb: .inf\n")
    assert "field 'memory_gb': inf is not a finite number" in _message(read_mapping, inf, "hardware spec")


def test_yaml_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text("a: !!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in _message(read_mapping, path, "spec")


def test_empty_and_header_only_csv(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n\n")
    assert "is empty; expected a header row" in _message(read_csv, empty, "cases")


@pytest.mark.parametrize("loader", [load_model, load_hardware, load_profile])
@pytest.mark.parametrize(
    "name, expected",
    [
        ("", "empty name"),
        ("llama\n2", "contains control characters"),
        ("x" * 300, "too long for a file name"),
        ("/" + "a/" * 3000, "too long for a file name"),
        ("/tmp", "is a folder"),
        ("zz-no-such-thing", "unknown"),
    ],
)
def test_odd_names_are_one_line_errors(loader: Callable[[str], object], name: str, expected: str) -> None:
    if name == "/tmp" and loader is load_model:
        expected = "not found: /tmp/config.json"  # a model folder is looked into for its config.json
    assert expected in _message(loader, name)


def test_whole_and_real_numbers_name_their_range() -> None:
    assert whole_number(" 42 ", 1, 100) == 42
    for text, expected in (
        ("0", "must be ≥ 1 (got 0; valid: 1 to 100)"),
        ("101", "must be ≤ 100"),
        ("1e3", "whole number"),
        ("1.0", "whole number"),
        ("٣", "whole number"),
    ):
        with pytest.raises(InvalidNumber, match=expected.replace("(", r"\(").replace(")", r"\)")):
            whole_number(text, 1, 100)
    assert real_number("0.5", 0, 1, low_open=True) == 0.5
    for text, expected in (("nan", "finite"), ("inf", "finite"), ("0", "must be > 0"), ("2", "must be ≤ 1")):
        with pytest.raises(InvalidNumber, match=expected):
            real_number(text, 0, 1, low_open=True)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("lognormal:100:40", "SIGMA in [0, 8]"),
        ("lognormal:1e7:8", "longest grid length"),
        ("const:1e30", "≤ 16,777,216"),
        ("uniform:1:nan", "finite"),
        ("const:abc", "not a number"),
    ],
)
def test_distributions_with_huge_or_odd_parameters(spec: str, expected: str) -> None:
    assert expected in _message(parse_distribution, spec, "--prompt-dist")


def test_unwritable_outputs(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "cannot create its folder" in _message(writable_path, str(a_file / "out.png"))
    assert "is a folder" in _message(writable_path, str(tmp_path))
    assert "cannot write" in _message(writable_path, "/proc/idealrt-test.png")
    made = writable_path(tmp_path / "new" / "plot.png")
    assert made.parent.is_dir() and not made.exists()  # the folder is made, the probe file removed
