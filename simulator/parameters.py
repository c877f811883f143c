"""Parameter counts, derived from the same op formulas the simulator costs (so memory and counts never disagree)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

from idealrt.simulator.compiled import compiled_pass
from idealrt.simulator.compiled.fields import STATIC_FIELDS
from idealrt.simulator.formula_inputs import arguments, model_bindings
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.structure import BuildOptions, PassKey, Phase, layer_kinds, layer_piece, model_structure

EMBEDDING_OPS = ("embedding", "position_embedding", "lm_head")


@dataclass(frozen=True)
class ParameterCounts:
    total: float  # every stored parameter
    active: float  # parameters one token's forward pass uses (≠ total only for MoE)
    embedding: float  # embedding tables (token and position), and an untied LM head


@cache
def parameter_counts(spec: ModelSpec) -> ParameterCounts:
    """On one device (tp = ep = 1): the parameters each op keeps, over every layer."""
    compiled = compiled_pass(PassKey(model_structure(spec), BuildOptions(phase=Phase.PREFILL)))
    args = arguments(model_bindings(spec))
    total = active = embedding = 0.0
    layers_of = {layer_piece(kind): layers for kind, layers in Counter(layer_kinds(spec)).items()}
    for name, piece in compiled.pieces.items():
        if name == "stage_transfer":
            continue
        layers = layers_of.get(name, 1)
        flat = piece.static(*args)
        n = len(piece.ops)
        stored = flat[STATIC_FIELDS.index("weight_params") * n :][:n]
        used = flat[STATIC_FIELDS.index("active_params") * n :][:n]
        for op, op_stored, op_used in zip(piece.ops, stored, used, strict=True):
            total += layers * float(op_stored)
            active += layers * float(op_used)
            if op.name in EMBEDDING_OPS and name in ("prologue", "epilogue"):
                embedding += float(op_stored)
    return ParameterCounts(total=total, active=active, embedding=embedding)
