"""Schema of a model's published architecture: everything the cost formulas need, nothing about weights."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MLPKind = Literal["gelu", "relu", "swiglu", "geglu"]
NormKind = Literal["layernorm", "rmsnorm"]
PositionKind = Literal["learned", "rotary", "alibi", "none"]

GATED_MLPS = frozenset({"swiglu", "geglu"})


class MLAConfig(BaseModel):
    """DeepSeek-style multi-head latent attention (DeepSeek-V2 paper, §2.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    q_lora_rank: int | None = Field(default=None, ge=1, description="None: queries projected directly from h")
    kv_lora_rank: int = Field(ge=1)
    qk_nope_head_dim: int = Field(ge=1)
    qk_rope_head_dim: int = Field(ge=0)
    v_head_dim: int = Field(ge=1)


class MoEConfig(BaseModel):
    """Mixture of experts replacing the MLP of some layers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    num_experts: int = Field(ge=2, description="routed experts per MoE layer")
    top_k: int = Field(ge=1, description="routed experts each token uses")
    expert_ffn_dim: int = Field(ge=1, description="intermediate size of one routed expert")
    num_shared_experts: int = Field(default=0, ge=0, description="experts every token uses")
    shared_expert_ffn_dim: int | None = Field(default=None, ge=1, description="default: expert_ffn_dim")
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense MLP")
    layer_frequency: int = Field(default=1, ge=1, description="after those, every n-th layer is MoE")

    @model_validator(mode="after")
    def _top_k_fits(self) -> MoEConfig:
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds num_experts ({self.num_experts})")
        return self

    @property
    def shared_ffn_dim(self) -> int:
        return self.num_shared_experts * (self.shared_expert_ffn_dim or self.expert_ffn_dim)


class ModelSpec(BaseModel):
    """A decoder-only transformer. Units: counts of elements, not bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-_]*$")
    name: str
    source: str = Field(description="paper or config the architecture comes from")
    published_params: float | None = Field(default=None, gt=0, description="total parameters as published")
    published_active_params: float | None = Field(default=None, gt=0, description="MoE: active per token")
    params_source: str = ""
    notes: str = ""

    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_heads: int = Field(ge=1, description="query heads")
    num_kv_heads: int | None = Field(default=None, ge=1, description="None: = num_heads (MHA); 1: MQA")
    head_dim: int | None = Field(default=None, ge=1, description="None: hidden_size / num_heads")
    ffn_dim: int = Field(ge=1, description="intermediate size of the dense MLP")
    mlp: MLPKind
    norm: NormKind
    norms_per_layer: int = Field(default=2, ge=1, description="1: GPT-J shared norm; 4: Gemma-2 sandwich")
    embedding_norm: bool = Field(default=False, description="a norm right after the embedding (BLOOM)")
    position: PositionKind
    vocab_size: int = Field(ge=1, description="embedding rows, padded as the model stores them")
    max_context: int = Field(ge=1)
    tied_embeddings: bool
    qkv_bias: bool = False
    attn_out_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    parallel_attention_mlp: bool = Field(default=False, description="GPT-J/NeoX/Falcon: x + attn(x) + mlp(x)")
    qk_norm: bool = Field(
        default=False, description="a norm over each query and key head (weights of head_dim, shared): Qwen3, Gemma 3"
    )
    sliding_window: int | None = Field(default=None, ge=1)
    layer_pattern: str = Field(
        default="G",
        pattern=r"^[GL]+$",
        description="attention kind per layer, repeated: G global, L local (sliding window); gemma-2 'LG'",
    )
    mla: MLAConfig | None = None
    moe: MoEConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.num_heads % self.kv_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.kv_heads})")
        if self.head_dim is None and self.mla is None and self.hidden_size % self.num_heads:
            raise ValueError("hidden_size is not a multiple of num_heads; give head_dim explicitly")
        if "L" in self.layer_pattern and self.sliding_window is None:
            raise ValueError("layer_pattern has local layers (L) but sliding_window is not set")
        if self.norms_per_layer not in (1, 2, 4):
            raise ValueError("norms_per_layer must be 1 (parallel block, shared norm), 2 or 4 (sandwich)")
        if self.norms_per_layer == 1 and not self.parallel_attention_mlp:
            raise ValueError("norms_per_layer = 1 needs parallel_attention_mlp (attention and MLP share one norm)")
        if self.qk_norm and self.mla is not None:
            raise ValueError("qk_norm applies to per-head queries and keys; MLA has its own latent norms")
        if self.mla is not None and self.sliding_window is not None:
            raise ValueError("sliding-window MLA is not supported")
        if self.moe is not None and self.moe.first_dense_layers > self.num_layers:
            raise ValueError("moe.first_dense_layers exceeds num_layers")
        return self

    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads if self.num_kv_heads is not None else self.num_heads

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

    @property
    def gated_mlp(self) -> bool:
        return self.mlp in GATED_MLPS

    @property
    def attention_kind(self) -> str:
        if self.mla is not None:
            return "MLA"
        if self.kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.kv_heads == 1 else "GQA"

    def is_local_layer(self, layer: int) -> bool:
        return self.layer_pattern[layer % len(self.layer_pattern)] == "L"

    def is_moe_layer(self, layer: int) -> bool:
        if self.moe is None or layer < self.moe.first_dense_layers:
            return False
        return (layer - self.moe.first_dense_layers) % self.moe.layer_frequency == 0
