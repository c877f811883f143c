"""Memory-bound kernels: norms, residual adds, activations, rotary embedding, KV-cache writes, lookups.

FLOP counts here are approximate vector-unit operation counts (they never bound a kernel); bytes are exact.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from idealrt.simulator.ops.cost import MathPrecision, OpClass, OpCost
from idealrt.simulator.ops.symbols import a_bytes, p_bytes

# Vector operations per element (documented approximations): RMSNorm = square, sum, scale, weight;
# LayerNorm adds the mean, the subtraction and the shift; GELU (tanh form) ≈ 8; SiLU ≈ 5; ReLU 1.
NORM_FLOPS_PER_ELEMENT = {"rmsnorm": 4, "layernorm": 7}
NORM_PARAMS_PER_CHANNEL = {"rmsnorm": 1, "layernorm": 2}
ACTIVATION_FLOPS_PER_ELEMENT = {"gelu": 8, "relu": 1, "swiglu": 6, "geglu": 9}


def _elementwise(
    name: str,
    description: str,
    flops: sp.Expr,
    read: sp.Expr,
    written: sp.Expr,
    weight_params: sp.Expr = sp.Integer(0),
    eager_kind: str | None = None,
) -> OpCost:
    return OpCost(
        name=name,
        op_class=OpClass.ELEMENTWISE,
        description=description,
        flops=flops,
        bytes_read=read,
        bytes_written=written,
        weight_params=weight_params,
        weight_bytes=weight_params * p_bytes,
        precision=MathPrecision.VECTOR,
        eager_kind=eager_kind,
    )


def norm(name: str, description: str, kind: str, rows: sp.Expr, width: sp.Expr) -> OpCost:
    params = NORM_PARAMS_PER_CHANNEL[kind] * width
    return _elementwise(
        name,
        description,
        flops=NORM_FLOPS_PER_ELEMENT[kind] * rows * width,
        read=rows * width * a_bytes + params * p_bytes,
        written=rows * width * a_bytes,
        weight_params=params,
        eager_kind=kind,
    )


def add(name: str, description: str, rows: sp.Expr, width: sp.Expr, inputs: int | sp.Expr = 2) -> OpCost:
    return _elementwise(
        name,
        description,
        flops=(inputs - 1) * rows * width,
        read=inputs * rows * width * a_bytes,
        written=rows * width * a_bytes,
    )


def activation(name: str, description: str, kind: str, rows: sp.Expr, width: sp.Expr, gated: bool) -> OpCost:
    """`width` is the output width; a gated activation reads two inputs of that width (gate and up)."""
    inputs = 2 if gated else 1
    return _elementwise(
        name,
        description,
        flops=ACTIVATION_FLOPS_PER_ELEMENT[kind] * rows * width,
        read=inputs * rows * width * a_bytes,
        written=rows * width * a_bytes,
        eager_kind=kind,
    )


def rotary(name: str, description: str, rows: sp.Expr, width: sp.Expr) -> OpCost:
    """x·cos + rotate(x)·sin on the rotated part of Q and K."""
    return _elementwise(
        name,
        description,
        flops=3 * rows * width,
        read=rows * width * a_bytes,
        written=rows * width * a_bytes,
        eager_kind="rotary",
    )


def cache_write(name: str, description: str, rows: sp.Expr, width: sp.Expr, element_bytes: sp.Expr) -> OpCost:
    """`rows` tokens append `width` elements each to the KV cache.

    A write only: the projection's epilogue (or the attention kernel) stores the new K and V straight into the
    cache, so no activation is read back for it."""
    op = _elementwise(name, description, flops=sp.Integer(0), read=sp.Integer(0), written=rows * width * element_bytes)
    return replace(op, cache_bytes_per_token=width * element_bytes)


def copy(name: str, description: str, rows: sp.Expr, width: sp.Expr, element_bytes: sp.Expr) -> OpCost:
    """Read every element of a `rows` × `width` tensor once and write it once elsewhere (torch's copy_/clone)."""
    moved = rows * width * element_bytes
    return _elementwise(name, description, flops=sp.Integer(0), read=moved, written=moved)


def lookup(name: str, description: str, rows: sp.Expr, width: sp.Expr, table_rows: sp.Expr) -> OpCost:
    """Gather `rows` rows of a `table_rows` × `width` table (embeddings); stores the whole table."""
    return _elementwise(
        name,
        description,
        flops=sp.Integer(0),
        read=rows * width * p_bytes,
        written=rows * width * a_bytes,
        weight_params=table_rows * width,
    )


def reduction(name: str, description: str, rows: sp.Expr, width: sp.Expr) -> OpCost:
    """Read a rows × width matrix and keep one value per row (argmax sampling, top-k routing)."""
    return _elementwise(name, description, flops=rows * width, read=rows * width * a_bytes, written=rows * a_bytes)
