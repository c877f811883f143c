"""The one input boundary: every file the tool reads (YAML, JSON, CSV, gzipped CSV) comes in through here.

Checks, each a one-line `UserError` naming the file and the reason:
- the name: not empty, no control characters, within the operating system's limits;
- the file: exists, is a regular file, at most MAX_FILE_BYTES (also after gunzip);
- the bytes: UTF-8 text (a UTF-8 byte-order mark is allowed), with a specific message for UTF-16/UTF-32,
  Latin-1/Windows-1252 and binary content;
- the structure: JSON, or YAML through the safe loader only (libyaml's when present; no tags that build objects), nested at most
  MAX_NESTING levels, at most MAX_VALUES values, every number finite;
- the schema: pydantic, reported as the first rejected field.
"""

from __future__ import annotations

import io
import json
import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from idealrt.simulator.errors import UserError, first_validation_problem, shown
from idealrt.simulator.validation import check_path_text

if TYPE_CHECKING:
    import pandas as pd

Schema = TypeVar("Schema", bound=BaseModel)

# 26× the largest shipped table (vidur-a100-gemm, 2.5 MB uncompressed); a config.json is a few kB.
MAX_FILE_BYTES = 64 * 2**20
# Shipped files nest at most 4 levels (profiles, HF configs, provenance); recursive parsers fail near 1,000.
MAX_NESTING = 32
# Values in one JSON/YAML document (guards against YAML alias expansion, "billion laughs").
MAX_VALUES = 1_000_000

_UTF16_32_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def read_bytes(path: Path, what: str) -> bytes:
    """The file's bytes (gunzipped for `.gz`), after the name, type and size checks."""
    check_path_text(str(path), f"{what} file")
    where = shown(str(path))
    try:
        if path.is_dir():
            raise UserError(f"{what} file '{where}' is a folder, not a file")
        if not path.is_file():
            if path.exists():
                raise UserError(f"{what} file '{where}' is not a regular file")
            raise UserError(f"{what} file not found: {where}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UserError(f"{where}: {size:,} bytes is larger than the {MAX_FILE_BYTES:,} bytes a {what} may be")
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {what} file '{where}': {exc.strerror or exc}") from None
    return _gunzipped(data, path) if path.suffix == ".gz" else data


def decoded(data: bytes, path: Path) -> str:
    """UTF-8 text, or a message saying what the bytes look like instead."""
    where = shown(str(path))
    for bom, encoding in _UTF16_32_BOMS:
        if data.startswith(bom):
            raise UserError(f"{where}: the file is {encoding} text; save it as UTF-8")
    if b"\x00" in data[:4096]:
        looks_utf16 = data[1:200:2].count(0) > 0.9 * len(data[1:200:2]) or data[0:200:2].count(0) > 0.9 * len(
            data[0:200:2]
        )
        kind = "UTF-16 text without a byte-order mark" if looks_utf16 else "binary, not text"
        raise UserError(f"{where}: the file is {kind}; expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        line = data[: exc.start].count(b"\n") + 1
        hint = "Latin-1 or Windows-1252 text? save it as UTF-8" if byte >= 0x80 else "save it as UTF-8"
        raise UserError(f"{where}: not UTF-8 text (byte 0x{byte:02X} on line {line}; {hint})") from None


def read_text(path: Path, what: str) -> str:
    return decoded(read_bytes(path, what), path)


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """The file's top-level mapping; `what` names the file kind in the messages."""
    text = read_text(path, what)
    data = parse_json(path, text) if path.suffix == ".json" else parse_yaml(path, text)
    if not isinstance(data, dict):
        raise UserError(f"{shown(str(path))}: expected a mapping of fields, got {_kind(data)}")
    return data


def read_list(path: Path, what: str) -> list[Any]:
    """The file's top-level list (JSON)."""
    data = parse_json(path, read_text(path, what))
    if not isinstance(data, list):
        raise UserError(f"{shown(str(path))}: expected a list of entries, got {_kind(data)}")
    return data


def validated(schema: type[Schema], data: Any, path: Path) -> Schema:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{shown(str(path))}: {first_validation_problem(exc)}") from None


def read_csv(path: Path, what: str, **options: Any) -> pd.DataFrame:
    """A CSV file (or `.csv.gz`) as a DataFrame, with a header row and at least the header."""
    import pandas as pd

    text = read_text(path, what)
    where = shown(str(path))
    if not text.strip():
        raise UserError(f"{where}: the {what} file is empty; expected a header row of column names")
    try:
        return pd.read_csv(io.StringIO(text), **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UserError(
            f"{where}: not a readable CSV ({shown(str(exc).splitlines()[0] if str(exc) else '')})"
        ) from None


def parse_json(path: Path, text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{shown(str(path))}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise UserError(f"{shown(str(path))}: nested deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:  # e.g. an integer literal of more than 4,300 digits
        raise UserError(f"{shown(str(path))}: not valid JSON ({shown(str(exc))})") from None
    return checked_tree(data, path)


# The same safe constructor as `yaml.safe_load`, on libyaml's parser where PyYAML was built with it (10× faster:
# a predict reads a few dozen catalog files).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(path: Path, text: str) -> Any:
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise UserError(f"{shown(str(path))}: not valid YAML ({shown(str(exc).splitlines()[0])})") from None
    except RecursionError:
        raise UserError(f"{shown(str(path))}: nested deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:
        raise UserError(f"{shown(str(path))}: not valid YAML ({shown(str(exc))})") from None
    return checked_tree(data, path)


def checked_tree(data: Any, path: Path) -> Any:
    """`data`, once it is known to nest at most MAX_NESTING levels, hold at most MAX_VALUES values (aliases
    counted each time they are used) and no NaN or infinite number."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    values = 0
    while stack:
        node, depth, where = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise UserError(f"{shown(str(path))}: more than {MAX_VALUES:,} values (repeated YAML aliases?)")
        if depth > MAX_NESTING:
            raise UserError(f"{shown(str(path))}: nested deeper than {MAX_NESTING} levels")
        if isinstance(node, dict):
            stack.extend((value, depth + 1, f"{where}.{key}" if where else str(key)) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, depth + 1, f"{where}[{index}]") for index, value in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise UserError(f"{shown(str(path))}: field '{shown(where) or 'file'}': {node} is not a finite number")
    return data


def _gunzipped(data: bytes, path: Path) -> bytes:
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(data, MAX_FILE_BYTES + 1)
    except zlib.error as exc:
        raise UserError(f"{shown(str(path))}: not a gzip file ({exc})") from None
    if len(out) > MAX_FILE_BYTES or inflate.unconsumed_tail:
        raise UserError(f"{shown(str(path))}: more than {MAX_FILE_BYTES:,} bytes once decompressed")
    return out


def _kind(data: Any) -> str:
    return "nothing (empty file)" if data is None else f"a {type(data).__name__}"
