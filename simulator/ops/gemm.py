"""Matrix multiplications: y[M, N] = x[M, K] · w[K, N] (+ bias). Weights are read once per pass."""

from __future__ import annotations

import sympy as sp

from idealrt.simulator.ops.cost import ZERO, MathPrecision, OpClass, OpCost
from idealrt.simulator.ops.symbols import a_bytes, p_bytes, w_bytes


def linear(
    name: str,
    description: str,
    m: sp.Expr,
    n: sp.Expr,
    k: sp.Expr,
    *,
    bias: bool = False,
    weight_element_bytes: sp.Expr = w_bytes,
    precision: MathPrecision = MathPrecision.COMPUTE,
) -> OpCost:
    """A dense GEMM. FLOPs 2·M·N·K (+ M·N for the bias); bytes: the K×N weights, the M×K input, the M×N output."""
    bias_params = n if bias else ZERO
    return OpCost(
        name=name,
        op_class=OpClass.GEMM,
        description=description,
        flops=2 * m * n * k + (m * n if bias else ZERO),
        bytes_read=k * n * weight_element_bytes + bias_params * p_bytes + m * k * a_bytes,
        bytes_written=m * n * a_bytes,
        weight_params=k * n + bias_params,
        weight_bytes=k * n * weight_element_bytes + bias_params * p_bytes,
        gemm_mnk=(m, n, k),
        precision=precision,
    )


def batched_linear(name: str, description: str, batch: sp.Expr, m: sp.Expr, n: sp.Expr, k: sp.Expr) -> OpCost:
    """`batch` independent GEMMs of the same shape, one weight matrix each (MLA's per-head absorbed projections)."""
    return OpCost(
        name=name,
        op_class=OpClass.GEMM,
        description=description,
        flops=2 * batch * m * n * k,
        bytes_read=batch * (k * n * w_bytes + m * k * a_bytes),
        bytes_written=batch * m * n * a_bytes,
        weight_params=batch * k * n,
        weight_bytes=batch * k * n * w_bytes,
        gemm_mnk=(m, n, k),
    )


def expert_linear(
    name: str,
    description: str,
    *,
    assignments: sp.Expr,
    experts_stored: sp.Expr,
    experts_touched: sp.Expr,
    experts_active: sp.Expr,
    n: sp.Expr,
    k: sp.Expr,
) -> OpCost:
    """A grouped GEMM over the routed experts of one device.

    `assignments` token-expert pairs arrive; only the weights of the `experts_touched` experts are read
    (at decode batch 1 that is top-k experts, not all of them); `experts_stored` are kept in memory.
    """
    return OpCost(
        name=name,
        op_class=OpClass.GEMM,
        description=description,
        flops=2 * assignments * n * k,
        bytes_read=experts_touched * k * n * w_bytes + assignments * k * a_bytes,
        bytes_written=assignments * n * a_bytes,
        weight_params=experts_stored * k * n,
        weight_bytes=experts_stored * k * n * w_bytes,
        active_params=experts_active * k * n,
        gemm_mnk=(assignments / experts_touched, n, k),
    )
