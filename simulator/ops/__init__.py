"""Per-op FLOPs and bytes, each written once as a sympy expression of the named symbols in `symbols`."""

from simulator.ops.cost import Collective, MathPrecision, OpClass, OpCost

__all__ = ["Collective", "MathPrecision", "OpClass", "OpCost"]
