"""The named inputs of every op formula, in the order compiled formulas take them, and the model's numbers for them.

Plain Python (no sympy): `simulator.ops.symbols` builds the sympy symbols from these names, so the compiled
formulas and the symbolic ones always agree on the argument order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

from idealrt.simulator.model.spec import ModelSpec

# (b, s, c) describe the pass; the rest the architecture, the parallelism and the number formats
# (meanings in `simulator.ops.symbols`).
WORKLOAD_NAMES = ("b", "s", "c")
SYMBOL_NAMES: tuple[str, ...] = (
    *WORKLOAD_NAMES,
    *("h", "n_q", "n_kv", "d_head", "f", "V", "W", "n_pos", "E", "k", "f_e", "f_sh", "r_q", "r_kv", "d_nope"),
    *("d_rope", "d_v", "tp", "ep", "w_bytes", "p_bytes", "a_bytes", "kv_bytes"),
    *("b_all", "g_dest", "u_route", "a_wire", "z_busy"),
)

Bindings = dict[str, Any]  # symbol name → a float or a numpy array over cases


def model_bindings(spec: ModelSpec) -> Bindings:
    """The architecture's numbers. Symbols a model does not use are bound to 1 (they never appear)."""
    values: dict[str, float] = {
        "h": spec.hidden_size,
        "n_q": spec.num_heads,
        "n_kv": spec.kv_heads,
        "d_head": spec.attention_head_dim,
        "f": spec.ffn_dim,
        "V": spec.vocab_size,
        "W": spec.sliding_window or spec.max_context,
        "n_pos": spec.max_context,
    }
    if spec.moe is not None:
        values |= {
            "E": spec.moe.num_experts,
            "k": spec.moe.top_k,
            "f_e": spec.moe.expert_ffn_dim,
            "f_sh": spec.moe.shared_ffn_dim or 1,
        }
    if spec.mla is not None:
        values |= {
            "r_q": spec.mla.q_lora_rank or 1,
            "r_kv": spec.mla.kv_lora_rank,
            "d_nope": spec.mla.qk_nope_head_dim,
            "d_rope": spec.mla.qk_rope_head_dim,
            "d_v": spec.mla.v_head_dim,
        }
    return {key: float(value) for key, value in values.items()}


def expected_destination_groups(experts: int, top_k: int, groups: int) -> float:
    """Distinct expert-parallel groups one token's k experts lie in, expected under uniform routing: the k distinct
    experts are drawn without replacement from E, E/ep per group, so a group is missed with probability
    C(E − E/ep, k) / C(E, k) (hypergeometric)."""
    per_group = experts // groups
    missed = math.comb(experts - per_group, top_k) / math.comb(experts, top_k)
    return groups * (1.0 - missed)


def busiest_group_quantile(groups: int) -> float:
    """How many standard deviations the largest of `groups` like loads lies above their mean, expected: Blom's
    approximation Φ⁻¹((n − 0.375)/(n + 0.25)) of the expected maximum of n normal samples (G. Blom, "Statistical
    Estimates and Transformed Beta-Variables", 1958); 0 for one group, 1.43 for 8 (exact for normal loads: 1.42)."""
    if groups <= 1:
        return 0.0
    return NormalDist().inv_cdf((groups - 0.375) / (groups + 0.25))


def arguments(values: Mapping[str, Any]) -> list[Any]:
    """Positional arguments of a compiled formula; symbols not bound are 1."""
    return [values.get(name, 1.0) for name in SYMBOL_NAMES]
