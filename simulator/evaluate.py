"""Symbolic evaluation of op formulas (sympy → numpy via lambdify): for `explain`, fitting and the tests that check
the compiled formulas (`simulator.compiled`) against sympy. The simulator's hot path never imports this."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache, reduce
from typing import Any

import numpy as np
import sympy as sp

from idealrt.simulator.formula_inputs import arguments
from idealrt.simulator.ops import symbols as sym

Number = float | np.ndarray

_NUMPY_FUNCTIONS = {
    "Min": lambda *args: reduce(np.minimum, args),
    "Max": lambda *args: reduce(np.maximum, args),
    "ceiling": np.ceil,
}
LAMBDIFY_MODULES: list[Any] = [_NUMPY_FUNCTIONS, "numpy"]


@cache
def compiled(expr: sp.Expr) -> Callable[..., Number]:
    """The expression as a numpy function of ALL_SYMBOLS (positional, in that order)."""
    return sp.lambdify(sym.ALL_SYMBOLS, expr, modules=LAMBDIFY_MODULES)


def evaluate(expr: sp.Expr, values: Mapping[Any, Number]) -> np.ndarray:
    """Evaluate with numpy broadcasting over whatever arrays `values` holds (keyed by symbol or symbol name);
    unbound symbols are 1."""
    args = arguments({str(key): value for key, value in values.items()})
    result = compiled(expr)(*args)
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    return np.broadcast_to(np.asarray(result, dtype=np.float64), shape)
