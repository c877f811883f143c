"""What kind of kernel an op is, in plain Python (no sympy): what the timing code needs to know about each op."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OpClass(StrEnum):
    GEMM = "gemm"
    ATTENTION = "attention"
    ELEMENTWISE = "elementwise"
    COLLECTIVE = "collective"


class Collective(StrEnum):
    ALL_REDUCE = "all_reduce"
    ALL_GATHER = "all_gather"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"


class MathPrecision(StrEnum):
    """Which peak rate the op's math runs at."""

    COMPUTE = "compute"  # the activation (compute) dtype of the transformer blocks
    HIGH = "high"  # 16-bit: LM head, router, attention when activations are 8-bit
    VECTOR = "vector"  # non-tensor fp32 vector units: norms, activations, adds


@dataclass(frozen=True)
class OpInfo:
    """One op of a compiled pass: its identity and kind; its counts come from the compiled formulas."""

    name: str
    op_class: OpClass
    description: str
    collective: Collective | None
    precision: MathPrecision
    context_dependent: bool  # some count depends on the KV context c (attention): decode evaluates it per step
    eager_kind: str | None = None  # an elementwise op's implementation in an eager stack (EAGER_KINDS)


# Elementwise ops whose eager implementation may be a composite of several kernels (a profile charges each kind a
# fixed cost beyond one kernel, `ElementwiseModel`): the norms, the rotary embedding of Q and K, the MLP activations.
EAGER_KINDS = ("rmsnorm", "layernorm", "rotary", "gelu", "relu", "swiglu", "geglu")
