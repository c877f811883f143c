"""Bad files of every kind the tool reads, and the command line that makes it read each one.

A bad file is a valid shipped file corrupted one way: bytes that are not UTF-8 text (binary, Latin-1, UTF-16,
garbage after a valid prefix), nesting deep enough to exhaust a recursive parser, empty or blank content, the
wrong top-level shape, or one field set to a value outside its domain (wrong type, NaN, infinite, negative,
zero where a size must be positive, removed). Every one must be refused.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
_serial = itertools.count()


@dataclass(frozen=True)
class FileKind:
    name: str
    suffix: str
    base: str  # valid content
    fields: tuple[tuple[str, ...], ...]  # paths of fields a structured mutation may break
    argv: Callable[[Path, Path], list[str]]  # (file, scratch dir) → command line reading it


def _text(relative: str) -> str:
    return (REPO / relative).read_text()


def _numeric_paths(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in _numeric_paths(value, (*prefix, str(key)))]
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [prefix]
    return []


_PROFILE = _text("calibration/profiles/h100-sxm-kernels.json")
_PROFILE_FIELDS = tuple(
    p
    for p in _numeric_paths(json.loads(_PROFILE))
    if p[0] in ("gemm", "attention", "elementwise", "collective", "host")
) + (("memory_utilization",),)
_HARDWARE = _text("hardware_specs/data/h100-sxm.yaml")
_HARDWARE_FIELDS = tuple(
    p
    for p in _numeric_paths(yaml.safe_load(_HARDWARE))
    if p[0] in ("memory_gb", "hbm_bandwidth_gb_s", "peak_tflops", "devices_per_node", "intra_node_bandwidth_gb_s")
)
_SPEC = _text("simulator/examples/closed_model_gpt4_rumoured.yaml")
_CONFIG = _text("tests/data/hf_configs/llama.json")
_CASES = "model,hardware,tp,pp,batch,prompt_tokens,output_tokens\ngpt3-125m,a100-sxm-80gb,1,1,2,16,4\n" * 1
_RECORDS = (
    "dataset,op,dtype,m,n,k,time_s\nfuzz-gemm,gemm,bf16,16,1024,1024,2.0e-5\nfuzz-gemm,gemm,bf16,64,1024,1024,3.0e-5\n"
)
_PROVENANCE = json.dumps(
    [{"dataset": "fuzz-gemm", "citation": "generated", "device": "test", "hardware": "h100-sxm"}], indent=2
)


def _estimate(option: str) -> Callable[[Path, Path], list[str]]:
    values = {"--model": "gpt3-125m", "--hardware": "a100-sxm-80gb", "--profile": "ideal"}

    def argv(path: Path, scratch: Path) -> list[str]:
        chosen = values | {option: str(path)}
        return [
            "estimate",
            *(x for item in chosen.items() for x in item),
            "--prompt",
            "16",
            "--output",
            "4",
            "--no-memory-check",
        ]

    return argv


KINDS: dict[str, FileKind] = {
    "config.json": FileKind(
        "config.json",
        ".json",
        _CONFIG,
        (
            ("hidden_size",),
            ("num_attention_heads",),
            ("num_hidden_layers",),
            ("intermediate_size",),
            ("vocab_size",),
            ("num_key_value_heads",),
            ("max_position_embeddings",),
        ),
        _estimate("--model"),
    ),
    "hardware.yaml": FileKind("hardware.yaml", ".yaml", _HARDWARE, _HARDWARE_FIELDS, _estimate("--hardware")),
    "profile.json": FileKind("profile.json", ".json", _PROFILE, _PROFILE_FIELDS, _estimate("--profile")),
    "spec.yaml": FileKind(
        "spec.yaml",
        ".yaml",
        _SPEC,
        (
            ("total_params",),
            ("active_params",),
            ("num_layers",),
            ("head_dim",),
            ("vocab_size",),
            ("max_context",),
            ("tolerance",),
        ),
        lambda path, scratch: [
            "closed",
            "--spec",
            str(path),
            "--hardware",
            "h100-sxm",
            "--prompt",
            "16",
            "--output",
            "4",
            "--samples",
            "2",
        ],
    ),
    "cases.csv": FileKind(
        "cases.csv",
        ".csv",
        _CASES,
        (("tp",), ("pp",), ("batch",), ("prompt_tokens",), ("output_tokens",)),
        lambda path, scratch: ["predict", "--cases", str(path), "--out", str(scratch / "out.csv")],
    ),
    "records.csv": FileKind(
        "records.csv",
        ".csv",
        _RECORDS,
        (("m",), ("n",), ("k",), ("time_s",)),
        lambda path, scratch: [
            "calibrate",
            "fit",
            "--data",
            str(path.parent.parent),
            "--out",
            str(scratch / "profile.json"),
        ],
    ),
    "provenance.json": FileKind(
        "provenance.json",
        ".json",
        _PROVENANCE,
        (),
        lambda path, scratch: ["calibrate", "fit", "--data", str(path.parent), "--out", str(scratch / "p.json")],
    ),
}

# Values outside every numeric field's domain (sizes, counts, fractions, seconds: all finite, ≥ 0, and
# sizes/counts > 0); JSON gets NaN/Infinity literals, YAML .nan/.inf, CSV the cell text.
BAD_NUMBERS: tuple[Any, ...] = ("abc", float("nan"), float("inf"), float("-inf"), -1, -1e-3, [], {}, "1e400")
BAD_CELLS = ("abc", "nan", "inf", "-inf", "-1", "0", "1.5", "1e400", " ", "NA", "null", "1e3", "0x10")


def _set(data: Any, path: tuple[str, ...], value: Any) -> Any:
    data = json.loads(json.dumps(data))
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _REMOVE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return data


_REMOVE = object()


def _dump(kind: FileKind, data: Any) -> str:
    if kind.suffix == ".json":
        return json.dumps(data, indent=1)  # NaN / Infinity literals, as Python writes them
    return yaml.safe_dump(data, allow_unicode=True)


def _csv_with_cell(kind: FileKind, column: str, cell: str) -> str:
    header, *rows = kind.base.splitlines()
    names = header.split(",")
    index = names.index(column)
    out = [header]
    for row in rows:
        cells = row.split(",")
        cells[index] = cell
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


@st.composite
def _structured(draw: st.DrawFn, kind: FileKind) -> bytes:
    path = draw(st.sampled_from(kind.fields))
    if kind.suffix == ".csv":
        cells = BAD_CELLS
        if kind.name == "records.csv":  # measurement tables are typed by pandas: '1e3' is 1000, a valid size
            cells = tuple(c for c in cells if c != "1e3" and not (path[-1] == "time_s" and c == "1.5"))
        return _csv_with_cell(kind, path[-1], draw(st.sampled_from(cells))).encode()
    data = json.loads(kind.base) if kind.suffix == ".json" else yaml.safe_load(kind.base)
    value = draw(
        st.sampled_from(BAD_NUMBERS + (0,) * (path[-1] not in _ZERO_ALLOWED) + (_REMOVE,) * _required(kind, path))
    )
    return _dump(kind, _set(data, path, value)).encode()


_ZERO_ALLOWED = {
    "m_half",
    "n_half",
    "k_half",
    "prefill_seq_half",
    "decode_context_half",
    "kernel_latency_s",
    "latency_s",
    "latency_per_peer_s",
    "point_to_point_latency_s",
    "inter_node_latency_s",
    "launch_s",
    "per_layer_s",
    "per_step_s",
    # no tile reuse overhead, no padding share, no eager framework calls: in their domain (kernel profiles)
    "tile_overhead",
    "padding_exponent",
    "framework_call_s",
    "framework_calls_per_layer",
    "framework_calls_per_step",
}


def _required(kind: FileKind, path: tuple[str, ...]) -> bool:
    return kind.name in ("config.json", "spec.yaml", "hardware.yaml") and path[-1] in (
        "hidden_size",
        "num_attention_heads",
        "num_hidden_layers",
        "vocab_size",
        "total_params",
        "max_context",
        "memory_gb",
        "hbm_bandwidth_gb_s",
    )


def _not_utf8(kind: FileKind) -> st.SearchStrategy[bytes]:
    base = kind.base
    return st.one_of(
        st.binary(min_size=1, max_size=200).filter(_is_not_utf8),
        st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32"]).map(lambda codec: base.encode(codec)),
        st.just(base.replace("a", "\u00e9", 3).encode("latin-1", errors="replace")).filter(_is_not_utf8),
        st.binary(min_size=1, max_size=64).map(lambda junk: base.encode()[: len(base) // 2] + b"\xff\xfe" + junk),
    )


def _is_not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _nesting(kind: FileKind) -> st.SearchStrategy[bytes]:
    depth = st.integers(min_value=200, max_value=100_000)
    if kind.suffix == ".json":
        return depth.map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()) | depth.map(
            lambda n: ("[" * n + "]" * n).encode()
        )
    if kind.suffix == ".yaml":
        return depth.map(lambda n: ("[" * n + "]" * n).encode()) | depth.map(
            lambda n: "".join(f"{' ' * i}a:\n" for i in range(min(n, 3000))).encode() + b"  " * 3000 + b"b: 1\n"
        )
    return st.nothing()


def _shape(kind: FileKind) -> st.SearchStrategy[bytes]:
    blank = st.sampled_from([b"", b" ", b"\n", b"\n\n  \t\n", b"\xef\xbb\xbf"])
    if kind.suffix == ".csv":
        header = kind.base.splitlines()[0].encode()
        return blank | st.sampled_from([header + b"\n", b",,,\n", b'"unclosed\n', b"a,b\n1,2,3,4\n", b"x\n1\n"])
    if kind.name == "provenance.json":
        return blank | st.sampled_from(
            [
                b"{}",
                b"[]",
                b"[1]",
                b'[{"dataset": "other", "citation": "", "device": "", "hardware": "h100-sxm"}]',
                b"[{}]",
                b"null",
                b'"text"',
            ]
        )
    return blank | st.sampled_from([b"[]", b"[1, 2]", b"42", b'"text"', b"null", b"true", b"- a\n- b\n", b"{"])


def bad_file(kind: FileKind) -> st.SearchStrategy[bytes]:
    options = [_not_utf8(kind), _nesting(kind), _shape(kind)]
    if kind.fields:
        options.append(_structured(kind))
    return st.one_of(*options)


@st.composite
def bad_files(draw: st.DrawFn) -> tuple[FileKind, bytes]:
    kind = KINDS[draw(st.sampled_from(sorted(KINDS)))]
    return kind, draw(bad_file(kind))


def place(kind: FileKind, content: bytes, scratch: Path) -> list[str]:
    """Write the file where its command looks for it (a fresh name each time: loaders cache by path)."""
    folder = scratch / f"case-{next(_serial)}"
    if kind.name == "records.csv":
        (folder / "ops").mkdir(parents=True)
        (folder / "provenance.json").write_text(_PROVENANCE)
        path = folder / "ops" / "fuzz-gemm.csv"
    elif kind.name == "provenance.json":
        (folder / "ops").mkdir(parents=True)
        (folder / "ops" / "fuzz-gemm.csv").write_text(_RECORDS)
        path = folder / "provenance.json"
    else:
        folder.mkdir(parents=True)
        path = folder / f"input{kind.suffix}"
    path.write_bytes(content)
    return kind.argv(path, folder)
