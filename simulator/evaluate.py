"""Numbers for the symbols, and fast vectorized evaluation of the op formulas (sympy → numpy via lambdify)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache, reduce

import numpy as np
import sympy as sp

from simulator.model.spec import ModelSpec
from simulator.ops import symbols as sym

Number = float | np.ndarray
Bindings = dict[sp.Symbol, Number]

_NUMPY_FUNCTIONS = {
    "Min": lambda *args: reduce(np.minimum, args),
    "Max": lambda *args: reduce(np.maximum, args),
    "ceiling": np.ceil,
}


@cache
def compiled(expr: sp.Expr) -> Callable[..., Number]:
    """The expression as a numpy function of ALL_SYMBOLS (positional, in that order)."""
    return sp.lambdify(sym.ALL_SYMBOLS, expr, modules=[_NUMPY_FUNCTIONS, "numpy"])


def evaluate(expr: sp.Expr, values: Mapping[sp.Symbol, Number]) -> np.ndarray:
    """Evaluate with numpy broadcasting over whatever arrays `values` holds; unused symbols may be absent."""
    args = [values.get(symbol, 1.0) for symbol in sym.ALL_SYMBOLS]
    result = compiled(expr)(*args)
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    return np.broadcast_to(np.asarray(result, dtype=np.float64), shape)


def model_bindings(spec: ModelSpec) -> Bindings:
    """The architecture's numbers. Symbols a model does not use are bound to 1 (they never appear)."""
    values: Bindings = {
        sym.h: spec.hidden_size,
        sym.n_q: spec.num_heads,
        sym.n_kv: spec.kv_heads,
        sym.d_head: spec.attention_head_dim,
        sym.f: spec.ffn_dim,
        sym.V: spec.vocab_size,
        sym.W: spec.sliding_window or spec.max_context,
        sym.n_pos: spec.max_context,
    }
    if spec.moe is not None:
        values |= {
            sym.E: spec.moe.num_experts,
            sym.k_top: spec.moe.top_k,
            sym.f_e: spec.moe.expert_ffn_dim,
            sym.f_sh: spec.moe.shared_ffn_dim or 1,
        }
    if spec.mla is not None:
        values |= {
            sym.r_q: spec.mla.q_lora_rank or 1,
            sym.r_kv: spec.mla.kv_lora_rank,
            sym.d_nope: spec.mla.qk_nope_head_dim,
            sym.d_rope: spec.mla.qk_rope_head_dim,
            sym.d_v: spec.mla.v_head_dim,
        }
    return {key: float(value) for key, value in values.items()}


@cache
def compiled_many(exprs: tuple[sp.Expr, ...]) -> Callable[..., list[Number]]:
    """Several expressions compiled into one numpy function (one code generation instead of many)."""
    return sp.lambdify(sym.ALL_SYMBOLS, list(exprs), modules=[_NUMPY_FUNCTIONS, "numpy"])


def arguments(values: Mapping[sp.Symbol, Number]) -> list[Number]:
    """The positional arguments of compiled functions; symbols a model does not use are 1."""
    return [values.get(symbol, 1.0) for symbol in sym.ALL_SYMBOLS]


def evaluate_many(exprs: tuple[sp.Expr, ...], args: list[Number]) -> list[Number]:
    """The expressions at `arguments(values)`: scalars where they do not depend on an array argument."""
    return compiled_many(exprs)(*args)
