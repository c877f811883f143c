"""What one op costs, as sympy expressions of the named symbols (one source for evaluation, fitting and `explain`)."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from idealrt.simulator.op_kinds import Collective, MathPrecision, OpClass

__all__ = ["ZERO", "Collective", "MathPrecision", "OpClass", "OpCost"]


ZERO = sp.Integer(0)


@dataclass(frozen=True)
class OpCost:
    """Per-device cost of one kernel (or one collective call) in one layer of one pass."""

    name: str
    op_class: OpClass
    description: str
    flops: sp.Expr
    bytes_read: sp.Expr
    bytes_written: sp.Expr
    weight_params: sp.Expr = ZERO  # parameters this op keeps on one device
    weight_bytes: sp.Expr = ZERO  # bytes those parameters take (block weights and other parameters differ)
    active_params: sp.Expr | None = None  # parameters one token uses (MoE); None: the op's full weights
    gemm_mnk: tuple[sp.Expr, sp.Expr, sp.Expr] | None = None  # GEMM shape per device (per expert if grouped)
    collective: Collective | None = None
    group: sp.Expr = sp.Integer(1)  # devices taking part in the collective
    wire_bytes: sp.Expr = ZERO  # bytes each device sends over links (collectives only)
    precision: MathPrecision = MathPrecision.COMPUTE
    cache_bytes_per_token: sp.Expr = ZERO  # KV-cache bytes one token adds (cache writes only)
    eager_kind: str | None = None  # elementwise: its implementation in an eager stack (op_kinds.EAGER_KINDS)

    @property
    def bytes_moved(self) -> sp.Expr:
        return self.bytes_read + self.bytes_written

    def expressions(self) -> dict[str, sp.Expr]:
        """Every formula of this op by name, for evaluation and for `explain`."""
        exprs: dict[str, sp.Expr] = {
            "flops": self.flops,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "weight_params": self.weight_params,
            "weight_bytes": self.weight_bytes,
            "active_params": self.weight_params if self.active_params is None else self.active_params,
            "cache_bytes_per_token": self.cache_bytes_per_token,
        }
        if self.gemm_mnk is not None:
            exprs.update(zip(("gemm_m", "gemm_n", "gemm_k"), self.gemm_mnk, strict=True))
        if self.collective is not None:
            exprs["wire_bytes"] = self.wire_bytes
            exprs["group"] = self.group
        return exprs
