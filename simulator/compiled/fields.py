"""The quantities compiled formulas give for every op, and how a piece's name appears in generated code."""

import re

COUNT_FIELDS = ("flops", "bytes_read", "bytes_written", "gemm_m", "gemm_n", "gemm_k", "wire_bytes", "group")
STATIC_FIELDS = ("weight_params", "weight_bytes", "active_params", "cache_bytes_per_token")
# Stacked counts need a value for every op; these are neutral for the ops a field does not apply to.
NEUTRAL = {"gemm_m": 1.0, "gemm_n": 1.0, "gemm_k": 1.0, "wire_bytes": 0.0, "group": 1.0}


def piece_identifier(piece: str) -> str:
    """'layer:global-moe' → 'layer_global_moe' (the prefix of a piece's names in a generated module)."""
    return re.sub(r"[^a-z0-9]", "_", piece)
