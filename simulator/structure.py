"""The structure of a pass: which ops exist and how they connect, as plain hashable data (no sympy).

`graph.py` builds the op graph from a `PassKey` alone — never from a spec's numbers, which enter the formulas as
symbols — so the key fully determines the compiled formulas (`simulator.compiled`), and two models with the same
structure share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idealrt.simulator.model.spec import ModelSpec


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


@dataclass(frozen=True)
class BuildOptions:
    """Structural choices that change which ops exist (numbers enter later, through the symbols).

    Only whether a collective exists is structural: the degrees themselves are the symbols `tp` and `ep`.
    """

    phase: Phase
    tensor_parallel: bool = False  # tp > 1: all-reduces and gathers between the tensor-parallel ranks
    expert_parallel: bool = False  # ep > 1: all-to-all between the expert groups
    naive_attention: bool = False
    lm_head_all_positions: bool = False  # prefill: LM head over every prompt position, not only the last


@dataclass(frozen=True, order=True)
class LayerKind:
    local_attention: bool
    moe: bool

    @property
    def label(self) -> str:
        return ("local" if self.local_attention else "global") + ("-moe" if self.moe else "")


@dataclass(frozen=True)
class ModelStructure:
    """Everything about an architecture that decides which ops a pass runs and how they connect.

    The op graph is built from this alone (never from the spec's numbers, which enter as symbols), so two models
    with the same structure share one compiled set of formulas.
    """

    position: str
    embedding_norm: bool
    norm: str
    norms_per_layer: int
    mlp: str
    gated_mlp: bool
    parallel_attention_mlp: bool
    qkv_bias: bool
    attn_out_bias: bool
    mlp_bias: bool
    lm_head_bias: bool
    tied_embeddings: bool
    qk_norm: bool
    mla: bool
    mla_query_lora: bool
    shared_experts: bool
    layer_kinds: tuple[LayerKind, ...]  # the distinct kinds, in order of first appearance


def model_structure(spec: ModelSpec) -> ModelStructure:
    return ModelStructure(
        position=spec.position,
        embedding_norm=spec.embedding_norm,
        norm=spec.norm,
        norms_per_layer=spec.norms_per_layer,
        mlp=spec.mlp,
        gated_mlp=spec.gated_mlp,
        parallel_attention_mlp=spec.parallel_attention_mlp,
        qkv_bias=spec.qkv_bias,
        attn_out_bias=spec.attn_out_bias,
        mlp_bias=spec.mlp_bias,
        lm_head_bias=spec.lm_head_bias,
        tied_embeddings=spec.tied_embeddings,
        qk_norm=spec.qk_norm,
        mla=spec.mla is not None,
        mla_query_lora=spec.mla is not None and spec.mla.q_lora_rank is not None,
        shared_experts=spec.moe is not None and spec.moe.num_shared_experts > 0,
        layer_kinds=tuple(dict.fromkeys(layer_kinds(spec))),
    )


def layer_kinds(spec: ModelSpec) -> list[LayerKind]:
    """The kind of every layer, in order."""
    return [LayerKind(spec.is_local_layer(i), spec.is_moe_layer(i)) for i in range(spec.num_layers)]


@dataclass(frozen=True)
class PassKey:
    """Everything the op graph of one pass depends on."""

    structure: ModelStructure
    options: BuildOptions


def layer_piece(kind: LayerKind) -> str:
    """The name of a kind of layer's piece of a pass."""
    return f"layer:{kind.label}"
