"""The op formulas compiled to numpy code, one module per pass structure (`PassKey`), cached on disk.

`simulator.ops` writes every formula once in sympy; `generate.py` prints them as numpy code. A module is looked
up by the hash of its key and of the formula sources (so editing a formula invalidates every module): first among
the modules in `generated/` (written at install by `make compiled` for the catalog's structures; generated code,
not committed), then in the user cache (`$IDEALRT_CACHE_DIR`, default `~/.cache/idealrt/compiled`), where a structure seen for the first time is
generated (this one step imports sympy). Evaluating a compiled pass imports neither sympy nor networkx.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from idealrt.simulator.compiled.fields import piece_identifier
from idealrt.simulator.op_kinds import Collective, MathPrecision, OpClass, OpInfo
from idealrt.simulator.structure import PassKey

SHIPPED_DIR = Path(__file__).resolve().parent / "generated"
_SIMULATOR_DIR = Path(__file__).resolve().parent.parent
# The files whose text decides the generated code.
FORMULA_SOURCES = (
    "ops/attention.py",
    "ops/collectives.py",
    "ops/cost.py",
    "ops/elementwise.py",
    "ops/gemm.py",
    "ops/symbols.py",
    "graph.py",
    "structure.py",
    "op_kinds.py",
    "formula_inputs.py",
    "compiled/fields.py",
    "compiled/generate.py",
)


@dataclass(frozen=True)
class CompiledPiece:
    """One piece of a pass (prologue, a kind of layer, epilogue, stage transfer): its ops in stream order and
    its formulas as numpy functions of the symbols (`formula_inputs.SYMBOL_NAMES` order)."""

    name: str
    ops: tuple[OpInfo, ...]
    counts: Callable[..., list[Any]]  # field-major flat list: COUNT_FIELDS × ops
    static: Callable[..., list[Any]]  # STATIC_FIELDS × ops


@dataclass(frozen=True)
class CompiledPass:
    key: PassKey
    pieces: dict[str, CompiledPiece]


@cache
def formulas_hash() -> str:
    """Hash of the formula sources: compiled modules made from other sources are never used."""
    digest = hashlib.sha256()
    for relative in FORMULA_SOURCES:
        digest.update(relative.encode())
        digest.update((_SIMULATOR_DIR / relative).read_bytes())
    return digest.hexdigest()[:16]


def module_name(key: PassKey) -> str:
    return "pass_" + hashlib.sha256((repr(key) + formulas_hash()).encode()).hexdigest()[:20]


def cache_dir() -> Path:
    configured = os.environ.get("IDEALRT_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "idealrt" / "compiled"


@cache
def compiled_pass(key: PassKey) -> CompiledPass:
    """The compiled formulas of `key`: shipped, cached, or generated now (and cached)."""
    name = module_name(key)
    for directory in (SHIPPED_DIR, cache_dir()):
        path = directory / f"{name}.py"
        if path.is_file():
            module = _load(name, path)
            if formulas_hash() == module.FORMULAS and repr(key) == module.KEY:
                return _from_module(key, module)
    path = write_module(key, cache_dir())
    return _from_module(key, _load(name, path))


def write_module(key: PassKey, directory: Path) -> Path:
    """Generate the module of `key` into `directory` (atomically: concurrent processes never see half a file)."""
    from idealrt.simulator.compiled.generate import generate_source

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module_name(key)}.py"
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(generate_source(key, formulas_hash()))
    os.replace(temporary, path)
    return path


def _load(name: str, path: Path) -> ModuleType:
    """Execute a generated module. Its code object is cached beside the user cache (marshal, keyed by the
    interpreter), since a fresh process would otherwise recompile it and bytecode writing may be off."""
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    code_path = cache_dir() / f"{name}.{digest}.{sys.implementation.cache_tag}.code"
    code: CodeType | None = None
    if code_path.is_file():
        try:
            code = marshal.loads(code_path.read_bytes())
        except (EOFError, ValueError, TypeError):
            code = None
    if code is None:
        code = compile(source, str(path), "exec")
        try:
            code_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = code_path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(marshal.dumps(code))
            os.replace(temporary, code_path)
        except OSError:  # a read-only cache only costs the next process a compile
            pass
    module = ModuleType(f"idealrt.simulator.compiled.generated.{name}")
    module.__file__ = str(path)
    exec(code, module.__dict__)
    return module


def _from_module(key: PassKey, module: ModuleType) -> CompiledPass:
    pieces = {}
    for piece in module.PIECES:
        identifier = piece_identifier(piece)
        ops = tuple(
            OpInfo(
                name,
                OpClass(kind),
                description,
                None if collective is None else Collective(collective),
                MathPrecision(precision),
                depends,
                eager_kind,
            )
            for name, kind, description, collective, precision, depends, eager_kind in getattr(
                module, f"{identifier}_ops"
            )
        )
        pieces[piece] = CompiledPiece(
            piece, ops, getattr(module, f"{identifier}_counts"), getattr(module, f"{identifier}_static")
        )
    return CompiledPass(key, pieces)
