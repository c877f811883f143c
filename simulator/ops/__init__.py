"""Per-op FLOPs and bytes, each written once as a sympy expression of the named symbols in `symbols`.

The plain-Python kinds of an op (`OpClass`, `Collective`, `MathPrecision`) live in `simulator.op_kinds`.
"""
