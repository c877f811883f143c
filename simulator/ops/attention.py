"""The attention core: softmax(Q·Kᵀ)·V over the KV context, FlashAttention-style or naive."""

from __future__ import annotations

import sympy as sp

from idealrt.simulator.ops.cost import MathPrecision, OpClass, OpCost
from idealrt.simulator.ops.symbols import a_bytes, b, c, s


def causal_pairs(new_tokens: sp.Expr, context: sp.Expr, window: sp.Expr) -> sp.Expr:
    """(query, key) pairs a causal mask leaves, per sequence and head.

    The `new_tokens` queries sit at positions context-new+1 … context (1-based) and each sees
    min(position, window) keys. Prefill of p tokens: p(p+1)/2; a decode step at context c: min(c, window).
    """
    first = context - new_tokens + 1
    full_prefix = sp.Min(sp.Max(window - first, 0), new_tokens)  # queries that see their whole prefix
    return full_prefix * first + full_prefix * (full_prefix - 1) / 2 + (new_tokens - full_prefix) * window


def attention(
    name: str,
    description: str,
    *,
    heads: sp.Expr,
    kv_heads: sp.Expr,
    qk_dim: sp.Expr,
    v_dim: sp.Expr,
    window: sp.Expr,
    kv_element_bytes: sp.Expr,
    naive: bool,
    values_inside_keys: bool = False,
) -> OpCost:
    """FLOPs: 2·(qk_dim + v_dim) per head per unmasked pair (QKᵀ and P·V, as FlashAttention counts them).

    Bytes: Q in, K and V of the attended context in, O out; the naive variant also writes and re-reads the
    score matrix twice (scores, then probabilities) and computes the masked half as well.
    `values_inside_keys`: V is a slice of the cached K (MLA's latent cache), so it is read once.
    """
    kv_tokens = sp.Min(c, window + s - 1)
    pairs = s * kv_tokens if naive else causal_pairs(s, c, window)
    kv_width = qk_dim if values_inside_keys else qk_dim + v_dim
    scores_bytes = b * heads * s * kv_tokens * a_bytes if naive else sp.Integer(0)
    return OpCost(
        name=name,
        op_class=OpClass.ATTENTION,
        description=description,
        flops=2 * b * heads * (qk_dim + v_dim) * pairs,
        bytes_read=b * s * heads * qk_dim * a_bytes
        + b * kv_tokens * kv_heads * kv_width * kv_element_bytes
        + 2 * scores_bytes,
        bytes_written=b * s * heads * v_dim * a_bytes + 2 * scores_bytes,
        precision=MathPrecision.HIGH,
    )
