"""Build a ModelSpec from a Hugging Face `config.json` (architecture only: no weights are read or needed).

One small mapping function per `model_type` turns the config into ModelSpec fields. Behaviour flags that a
config may omit take the defaults of the family's `transformers` config class (e.g. `tie_word_embeddings`:
True for gpt2/opt/bloom/falcon/gemma2, False for gptj/gpt_neox/llama/mistral/mixtral/qwen2/deepseek_v3), so a
config reads the way `transformers` would read it. Fields that define the shape (sizes, counts) are required,
except where a family's published configs routinely leave them to the config class's defaults (Gemma 3).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from idealrt.simulator.errors import UserError, first_validation_problem
from idealrt.simulator.model.hf_config import (
    HFConfig,
    SpecFields,
    llama_like,
    moe_layout,
    sliding_layers,
    with_window,
)
from idealrt.simulator.model.spec import ModelSpec


def _gpt_style(cfg: HFConfig) -> SpecFields:
    """gpt2 and gptj spell the shape the same way (n_layer, n_embd, n_head, n_inner)."""
    hidden = cfg.count("n_embd", "hidden_size")
    return {
        "num_layers": cfg.count("n_layer", "num_hidden_layers"),
        "hidden_size": hidden,
        "num_heads": cfg.count("n_head", "num_attention_heads"),
        "ffn_dim": cfg.count("n_inner", default=4 * hidden),
        "norm": "layernorm",
        "vocab_size": cfg.count("vocab_size"),
        "max_context": cfg.max_context("n_positions", "n_ctx"),
    }


# ---------------------------------------------------------------------------------------------------------------
# One mapping per model_type
# ---------------------------------------------------------------------------------------------------------------


def _gpt2(cfg: HFConfig) -> SpecFields:
    """GPT-2, and GPT-3-style models described as gpt2 configs: learned positions, biases everywhere, tied."""
    return _gpt_style(cfg) | {
        "mlp": cfg.activation("activation_function", default="gelu_new"),
        "position": "learned",
        "tied_embeddings": cfg.flag("tie_word_embeddings", True),
        "qkv_bias": True,
        "attn_out_bias": True,
        "mlp_bias": True,
    }


def _gptj(cfg: HFConfig) -> SpecFields:
    """GPT-J: one shared norm feeding parallel attention and MLP; bias-free attention; untied head with bias."""
    return _gpt_style(cfg) | {
        "mlp": cfg.activation("activation_function", default="gelu_new"),
        "norms_per_layer": 1,
        "parallel_attention_mlp": True,
        "position": "rotary",
        "tied_embeddings": cfg.flag("tie_word_embeddings", False),
        "mlp_bias": True,
        "lm_head_bias": True,
    }


def _gpt_neox(cfg: HFConfig) -> SpecFields:
    attention_bias = cfg.flag("attention_bias", True)
    return {
        "num_layers": cfg.count("num_hidden_layers"),
        "hidden_size": cfg.count("hidden_size"),
        "num_heads": cfg.count("num_attention_heads"),
        "ffn_dim": cfg.count("intermediate_size"),
        "mlp": cfg.activation("hidden_act", default="gelu"),
        "norm": "layernorm",
        "parallel_attention_mlp": cfg.flag("use_parallel_residual", True),
        "position": "rotary",  # on rotary_pct of each head; partial rotation changes no parameter or GEMM
        "vocab_size": cfg.count("vocab_size"),
        "max_context": cfg.max_context(),
        "tied_embeddings": cfg.flag("tie_word_embeddings", False),
        "qkv_bias": attention_bias,
        "attn_out_bias": attention_bias,
        "mlp_bias": True,
    }


def _opt(cfg: HFConfig) -> SpecFields:
    hidden = cfg.count("hidden_size")
    projected = cfg.optional("word_embed_proj_dim", default=hidden)
    if projected != hidden:
        raise cfg.error(
            f"word_embed_proj_dim ({projected}) differs from hidden_size ({hidden}); the extra embedding "
            "projections (project_in/project_out, as in opt-350m) are not supported"
        )
    bias = cfg.flag("enable_bias", True)
    return {
        "num_layers": cfg.count("num_hidden_layers"),
        "hidden_size": hidden,
        "num_heads": cfg.count("num_attention_heads"),
        "ffn_dim": cfg.count("ffn_dim"),
        "mlp": cfg.activation("activation_function", default="relu"),
        "norm": "layernorm",
        "position": "learned",
        "vocab_size": cfg.count("vocab_size"),
        "max_context": cfg.max_context(),
        "tied_embeddings": cfg.flag("tie_word_embeddings", True),
        "qkv_bias": bias,
        "attn_out_bias": bias,
        "mlp_bias": bias,
    }


def _bloom(cfg: HFConfig) -> SpecFields:
    hidden = cfg.count("hidden_size", "n_embed")
    return {
        "num_layers": cfg.count("n_layer", "num_hidden_layers"),
        "hidden_size": hidden,
        "num_heads": cfg.count("n_head", "num_attention_heads"),
        "ffn_dim": 4 * hidden,
        "mlp": "gelu",
        "norm": "layernorm",
        "embedding_norm": True,
        "position": "alibi",
        "vocab_size": cfg.count("vocab_size"),
        "max_context": cfg.max_context(default=2048),  # ALiBi has no table; BLOOM trained on 2048 tokens
        "tied_embeddings": cfg.flag("tie_word_embeddings", True),
        "qkv_bias": True,
        "attn_out_bias": True,
        "mlp_bias": True,
    }


def _falcon(cfg: HFConfig) -> SpecFields:
    hidden = cfg.count("hidden_size", "n_embed")
    num_heads = cfg.count("num_attention_heads", "n_head")
    bias = cfg.flag("bias", False)
    return {
        "num_layers": cfg.count("num_hidden_layers", "n_layer"),
        "hidden_size": hidden,
        "num_heads": num_heads,
        **_falcon_block(cfg, num_heads),
        "ffn_dim": cfg.count("ffn_hidden_size", default=4 * hidden),
        "mlp": cfg.activation("activation", default="gelu"),
        "norm": "layernorm",
        "position": "alibi" if cfg.flag("alibi", False) else "rotary",
        "vocab_size": cfg.count("vocab_size"),
        "max_context": cfg.max_context(default=2048),  # FalconConfig's default
        "tied_embeddings": cfg.flag("tie_word_embeddings", True),
        "qkv_bias": bias,
        "attn_out_bias": bias,
        "mlp_bias": bias,
    }


def _falcon_block(cfg: HFConfig, num_heads: int) -> SpecFields:
    """KV heads, norms and residual form; the new decoder architecture (40B, 180B) overrides the old flags."""
    if cfg.flag("new_decoder_architecture", False):
        return {
            "num_kv_heads": cfg.count("num_kv_heads", default=num_heads),
            "parallel_attention_mlp": True,
            "norms_per_layer": cfg.count("num_ln_in_parallel_attn", default=2),
        }
    parallel = cfg.flag("parallel_attn", True)
    norms = cfg.count("num_ln_in_parallel_attn", default=1) if parallel else 2
    return {
        "num_kv_heads": 1 if cfg.flag("multi_query", True) else num_heads,
        "parallel_attention_mlp": parallel,
        "norms_per_layer": norms,
    }


def _llama(cfg: HFConfig) -> SpecFields:
    return llama_like(cfg, tied_default=False)


def _mistral(cfg: HFConfig) -> SpecFields:
    fields = llama_like(cfg, tied_default=False)
    window = cfg.nullable_count("sliding_window", absent=4096)  # MistralConfig's default
    return with_window(fields, window, [True] * fields["num_layers"])


def _mixtral(cfg: HFConfig) -> SpecFields:
    fields = llama_like(cfg, tied_default=False)
    fields["moe"] = {
        "num_experts": cfg.count("num_local_experts", "num_experts"),
        "top_k": cfg.count("num_experts_per_tok"),
        "expert_ffn_dim": fields["ffn_dim"],
    }
    window = cfg.nullable_count("sliding_window", absent=None)
    return with_window(fields, window, [True] * fields["num_layers"])


def _qwen2(cfg: HFConfig) -> SpecFields:
    """Qwen2 / Qwen2.5: llama with a bias on Q, K and V only; sliding window only past `max_window_layers`."""
    fields = llama_like(cfg, tied_default=False) | {"qkv_bias": True, "attn_out_bias": False}
    if not cfg.flag("use_sliding_window", False):
        return fields
    first_local = cfg.optional("max_window_layers", default=28)
    local = sliding_layers(cfg, fields["num_layers"], lambda i: i >= first_local)
    return with_window(fields, cfg.nullable_count("sliding_window", absent=4096), local)


def _qwen2_moe(cfg: HFConfig) -> SpecFields:
    """Qwen2-MoE: Qwen2 attention; MoE layers with one gated shared expert (its 1-wide gate is not modelled)."""
    fields = llama_like(cfg, tied_default=False) | {"qkv_bias": cfg.flag("qkv_bias", True), "attn_out_bias": False}
    num_layers = fields["num_layers"]
    step = cfg.count("decoder_sparse_step", default=1)
    dense_only = set(cfg.optional("mlp_only_layers", default=[]))
    layout = moe_layout(cfg, [i not in dense_only and (i + 1) % step == 0 for i in range(num_layers)])
    if layout is None:
        return fields
    first_dense, frequency = layout
    shared_width = cfg.optional("shared_expert_intermediate_size", default=0)
    fields["moe"] = {
        "num_experts": cfg.count("num_experts"),
        "top_k": cfg.count("num_experts_per_tok"),
        "expert_ffn_dim": cfg.count("moe_intermediate_size"),
        "num_shared_experts": 1 if shared_width else 0,
        "shared_expert_ffn_dim": shared_width or None,
        "first_dense_layers": first_dense,
        "layer_frequency": frequency,
    }
    return fields


def _gemma2(cfg: HFConfig) -> SpecFields:
    """Gemma 2: sandwich norms, GeGLU, tied; local and global layers alternate, starting with a local one."""
    fields = llama_like(cfg, tied_default=True, activation_default="gelu_pytorch_tanh")
    fields |= {"norms_per_layer": 4, "head_dim": cfg.count("head_dim", default=256)}
    local = sliding_layers(cfg, fields["num_layers"], lambda i: i % 2 == 0)
    return with_window(fields, cfg.nullable_count("sliding_window", absent=4096), local)


def _deepseek(cfg: HFConfig) -> SpecFields:
    """DeepSeek-V2 and V3: MLA attention (V2-Lite projects queries directly: q_lora_rank null); dense MLP in the
    first k layers, then routed + shared experts.

    The multi-token-prediction module of V3 (`num_nextn_predict_layers`) is a training aid and is not modelled.
    """
    fields = llama_like(cfg, tied_default=False)
    fields |= {"num_kv_heads": None, "head_dim": None}
    fields["mla"] = {
        "q_lora_rank": cfg.nullable_count("q_lora_rank", absent=None),
        "kv_lora_rank": cfg.count("kv_lora_rank"),
        "qk_nope_head_dim": cfg.count("qk_nope_head_dim"),
        "qk_rope_head_dim": cfg.count("qk_rope_head_dim"),
        "v_head_dim": cfg.count("v_head_dim"),
    }
    first_k_dense = cfg.optional("first_k_dense_replace", default=0)
    frequency = cfg.count("moe_layer_freq", default=1)
    # DeepSeek's rule: layer i is MoE when i >= first_k_dense_replace and i % moe_layer_freq == 0.
    layout = moe_layout(cfg, [i >= first_k_dense and i % frequency == 0 for i in range(fields["num_layers"])])
    if layout is None:
        return fields
    first_dense, layer_frequency = layout
    fields["moe"] = {
        "num_experts": cfg.count("n_routed_experts"),
        "top_k": cfg.count("num_experts_per_tok"),
        "expert_ffn_dim": cfg.count("moe_intermediate_size"),
        "num_shared_experts": cfg.optional("n_shared_experts", default=0),
        "first_dense_layers": first_dense,
        "layer_frequency": layer_frequency,
    }
    return fields


def _phi3(cfg: HFConfig) -> SpecFields:
    """Phi-3: llama's shape with fused QKV and gate-up projections (the same GEMMs); a sliding window over every
    layer when the config sets one (Phi3Config's default: none)."""
    fields = llama_like(cfg, tied_default=False)
    window = cfg.nullable_count("sliding_window", absent=None)
    return with_window(fields, window, [True] * fields["num_layers"])


def _qwen3(cfg: HFConfig) -> SpecFields:
    """Qwen3 dense: llama with a per-head RMSNorm on queries and keys, no QKV bias, head_dim 128 by default."""
    fields = llama_like(cfg, tied_default=False) | {"qk_norm": True}
    fields["head_dim"] = cfg.count("head_dim", default=128)  # Qwen3Config's default
    if not cfg.flag("use_sliding_window", False):
        return fields
    first_local = cfg.optional("max_window_layers", default=28)
    local = sliding_layers(cfg, fields["num_layers"], lambda i: i >= first_local)
    return with_window(fields, cfg.nullable_count("sliding_window", absent=4096), local)


def _qwen3_moe(cfg: HFConfig) -> SpecFields:
    """Qwen3-MoE: Qwen3 attention; routed experts (no shared expert) in every `decoder_sparse_step`-th layer."""
    fields = _qwen3(cfg)
    num_layers = fields["num_layers"]
    step = cfg.count("decoder_sparse_step", default=1)
    dense_only = set(cfg.optional("mlp_only_layers", default=[]))
    layout = moe_layout(cfg, [i not in dense_only and (i + 1) % step == 0 for i in range(num_layers)])
    if layout is None:
        return fields
    first_dense, frequency = layout
    fields["moe"] = {
        "num_experts": cfg.count("num_experts"),
        "top_k": cfg.count("num_experts_per_tok"),
        "expert_ffn_dim": cfg.count("moe_intermediate_size"),
        "first_dense_layers": first_dense,
        "layer_frequency": frequency,
    }
    return fields


# transformers' Gemma3TextConfig defaults for the fields the published Gemma 3 configs omit.
GEMMA3_TEXT_DEFAULTS = {"vocab_size": 262_208, "max_position_embeddings": 131_072, "head_dim": 256}


def _gemma3(cfg: HFConfig) -> SpecFields:
    """Gemma 3 (the text model; a multimodal config's `text_config`): Gemma 2's sandwich norms and GeGLU, plus a
    per-head norm of queries and keys; every `sliding_window_pattern`-th layer is global, the others local.
    Gemma3TextConfig's defaults fill what the published configs leave out (vocabulary, context, window)."""
    cfg = HFConfig(GEMMA3_TEXT_DEFAULTS | dict(cfg.raw), cfg.model_type, cfg.source)
    fields = llama_like(cfg, tied_default=True, activation_default="gelu_pytorch_tanh")
    fields |= {"norms_per_layer": 4, "qk_norm": True, "head_dim": cfg.count("head_dim")}
    period = cfg.count("sliding_window_pattern", default=6)
    local = sliding_layers(cfg, fields["num_layers"], lambda i: (i + 1) % period != 0)
    return with_window(fields, cfg.nullable_count("sliding_window", absent=4096), local)


def _llama4(cfg: HFConfig) -> SpecFields:
    """Llama 4 (the text model): routed experts (top-k) plus one shared expert in every
    `interleave_moe_layer_step`-th layer, dense MLPs of `intermediate_size_mlp` between them. Layers that use
    rotary positions attend within chunks of `attention_chunk_size` tokens; they are modelled as a sliding window
    of that size (the window a chunk's last token sees, so an upper bound on their attention and KV cache); the
    NoPE layers in between attend globally. Their weightless L2 norm of queries and keys is not modelled."""
    fields = llama_like(cfg, tied_default=False)
    fields["ffn_dim"] = cfg.count("intermediate_size_mlp", default=fields["ffn_dim"])
    num_layers = fields["num_layers"]
    step = cfg.count("interleave_moe_layer_step", default=1)
    layout = moe_layout(cfg, [(i + 1) % step == 0 for i in range(num_layers)])
    if layout is not None:
        first_dense, frequency = layout
        fields["moe"] = {
            "num_experts": cfg.count("num_local_experts"),
            "top_k": cfg.count("num_experts_per_tok", default=1),
            "expert_ffn_dim": cfg.count("intermediate_size"),
            "num_shared_experts": 1,
            "first_dense_layers": first_dense,
            "layer_frequency": frequency,
        }
    rope_layers = cfg.optional("no_rope_layers", default=None)  # 1: the layer uses rotary positions (chunked)
    if not rope_layers:  # absent or empty: transformers fills in the default
        rope_layers = [int((i + 1) % 4 != 0) for i in range(num_layers)]  # Llama4TextConfig's default interval
    if len(rope_layers) != num_layers:
        raise cfg.error(f"field 'no_rope_layers' has {len(rope_layers)} entries for {num_layers} layers")
    chunk = cfg.nullable_count("attention_chunk_size", absent=8192)
    return with_window(fields, chunk, [bool(flag) for flag in rope_layers])


def _gpt_oss(cfg: HFConfig) -> SpecFields:
    """gpt-oss: GQA with biases, sliding-window (128) and global layers alternating, every layer MoE (top-4).

    Not modelled (each well under 0.1 % of parameters and FLOPs): the per-head attention sinks (one learned logit
    per head), the experts' and router's biases, the clamped SwiGLU's extra elementwise work."""
    fields = llama_like(cfg, tied_default=False)
    fields |= {"qkv_bias": cfg.flag("attention_bias", True), "attn_out_bias": cfg.flag("attention_bias", True)}
    fields["head_dim"] = cfg.count("head_dim", default=64)
    fields["moe"] = {
        "num_experts": cfg.count("num_local_experts", "num_experts"),
        "top_k": cfg.count("num_experts_per_tok", "experts_per_token"),
        "expert_ffn_dim": fields["ffn_dim"],
    }
    local = sliding_layers(cfg, fields["num_layers"], lambda i: i % 2 == 0)
    return with_window(fields, cfg.nullable_count("sliding_window", absent=128), local)


FAMILIES: dict[str, Callable[[HFConfig], SpecFields]] = {
    "gpt2": _gpt2,
    "gptj": _gptj,
    "gpt_neox": _gpt_neox,
    "opt": _opt,
    "bloom": _bloom,
    "falcon": _falcon,
    "llama": _llama,
    "mistral": _mistral,
    "mixtral": _mixtral,
    "qwen2": _qwen2,
    "qwen2_moe": _qwen2_moe,
    "gemma2": _gemma2,
    "deepseek_v3": _deepseek,
    "phi3": _phi3,
    "qwen3": _qwen3,
    "qwen3_moe": _qwen3_moe,
    "gemma3": _gemma3,
    "llama4": _llama4,
    "gpt_oss": _gpt_oss,
    "deepseek_v2": _deepseek,
}
# Multimodal configs nest the language model's config; its model_type names the same family.
TEXT_MODEL_TYPES = {"gemma3_text": "gemma3", "llama4_text": "llama4"}


# ---------------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------------


def is_hf_config(data: Mapping[str, Any]) -> bool:
    """An HF config.json, as opposed to one of our spec files."""
    return "model_type" in data or "architectures" in data


def spec_from_hf_config(config: Mapping[str, Any], *, source: str) -> ModelSpec:
    """The ModelSpec an HF config describes. `source` (usually the file path) names it in errors and in the spec."""
    config = language_model_config(config)
    model_type = config.get("model_type")
    if model_type is None:
        raise UserError(f"{source}: missing field 'model_type' (supported: {', '.join(FAMILIES)})")
    model_type = TEXT_MODEL_TYPES.get(model_type, model_type) if isinstance(model_type, str) else model_type
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise UserError(f"{source}: unsupported model_type '{model_type}'; supported: {', '.join(FAMILIES)}")
    cfg = HFConfig(config, model_type, source)
    fields = FAMILIES[model_type](cfg)
    spec_id = imported_id(config, source)
    identity = {
        "id": spec_id,
        "name": str(config.get("_name_or_path") or spec_id),
        "source": f"Hugging Face config.json ({source}), model_type {model_type}",
        "notes": "imported from a Hugging Face config.json",
    }
    try:
        return ModelSpec.model_validate(identity | fields)
    except ValidationError as exc:
        raise cfg.error(first_validation_problem(exc)) from None


def language_model_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A multimodal config (Gemma 3, Llama 4) holds the language model under `text_config`: that one, named as the
    outer config is (the vision tower is not modelled)."""
    text = config.get("text_config")
    if not isinstance(text, Mapping):
        return config
    inner = dict(text)
    if "_name_or_path" in config:
        inner["_name_or_path"] = config["_name_or_path"]
    inner.setdefault("model_type", config.get("model_type"))
    if "tie_word_embeddings" in config and "tie_word_embeddings" not in inner:
        inner["tie_word_embeddings"] = config["tie_word_embeddings"]
    return inner


def imported_id(config: Mapping[str, Any], source: str) -> str:
    """`meta-llama/Llama-3.1-70B` → `llama-3.1-70b`; else the file's name (its folder's, for `config.json`)."""
    name = config.get("_name_or_path")
    if not name:
        path = Path(source)
        name = path.parent.name if path.stem == "config" and path.parent.name else path.stem
    slug = re.sub(r"[^a-z0-9.\-_]+", "-", str(name).rstrip("/").split("/")[-1].lower()).strip("-._")
    return slug or "imported-model"
