"""Parameter counts, derived from the same op formulas the simulator costs (so memory and counts never disagree)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

from simulator.evaluate import evaluate, model_bindings
from simulator.graph import BuildOptions, Phase, epilogue_graph, layer_graph, layer_kinds, prologue_graph
from simulator.model.spec import ModelSpec


@dataclass(frozen=True)
class ParameterCounts:
    total: float  # every stored parameter
    active: float  # parameters one token's forward pass uses (≠ total only for MoE)
    embedding: float  # embedding tables (token and position), and an untied LM head


@cache
def parameter_counts(spec: ModelSpec) -> ParameterCounts:
    opts = BuildOptions(phase=Phase.PREFILL)  # one device: tp = ep = 1
    values = model_bindings(spec)
    total = active = embedding = 0.0
    for graph in (prologue_graph(spec, opts), epilogue_graph(spec, opts)):
        for _, op in graph.nodes(data="cost"):
            params = float(evaluate(op.expressions()["weight_params"], values))
            total += params
            active += params
            if op.name in ("embedding", "position_embedding", "lm_head"):
                embedding += params
    for kind, layers in Counter(layer_kinds(spec)).items():
        for _, op in layer_graph(spec, kind, opts).nodes(data="cost"):
            exprs = op.expressions()
            total += layers * float(evaluate(exprs["weight_params"], values))
            active += layers * float(evaluate(exprs["active_params"], values))
    return ParameterCounts(total=total, active=active, embedding=embedding)
