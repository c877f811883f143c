"""Reading a Hugging Face `config.json`: typed access to its fields with one-line errors, and the helpers every
family's mapping shares (gated activations, local/global layer patterns, MoE layer layouts, llama-like fields)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idealrt.simulator.errors import UserError
from idealrt.simulator.model.spec import MLPKind

SpecFields = dict[str, Any]

_MISSING = object()

# HF activation names → the unit our MLP formulas use (gated families turn these into swiglu/geglu).
_ACTIVATIONS: dict[str, str] = {
    "gelu": "gelu",
    "gelu_new": "gelu",
    "gelu_fast": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_accurate": "gelu",
    "quick_gelu": "gelu",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
_GATED: dict[str, MLPKind] = {"silu": "swiglu", "gelu": "geglu"}
_CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length", "max_sequence_length")


class HFConfig:
    """Read access to one config.json; every error names the file, the model_type and the field."""

    def __init__(self, raw: Mapping[str, Any], model_type: str, source: str) -> None:
        self.raw = raw
        self.model_type = model_type
        self.source = source

    def error(self, problem: str) -> UserError:
        return UserError(f"{self.source} ({self.model_type}): {problem}")

    def required(self, *names: str) -> Any:
        """The first of `names` present with a value (families spell some fields several ways)."""
        value = self.optional(*names, default=_MISSING)
        if value is _MISSING:
            raise self.error(f"missing field '{names[0]}'")
        return value

    def optional(self, *names: str, default: Any) -> Any:
        for name in names:
            if self.raw.get(name) is not None:
                return self.raw[name]
        return default

    def count(self, *names: str, default: Any = _MISSING) -> int:
        """A positive integer field (sizes, counts)."""
        value = self.required(*names) if default is _MISSING else self.optional(*names, default=default)
        return self._positive(names[0], value)

    def nullable_count(self, name: str, *, absent: int | None) -> int | None:
        """A size where an explicit null means 'none' and a missing key means the family default (windows)."""
        value = self.raw.get(name, absent)
        return None if value is None else self._positive(name, value)

    def _positive(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(f"field '{name}' must be a positive integer, got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional(name, default=default)
        if not isinstance(value, bool):
            raise self.error(f"field '{name}' must be true or false, got {value!r}")
        return value

    def activation(self, *names: str, default: str) -> str:
        """The MLP activation as 'gelu', 'relu' or 'silu'."""
        name = self.optional(*names, default=default)
        if not isinstance(name, str) or name not in _ACTIVATIONS:
            raise self.error(f"unsupported activation '{name}' in field '{names[0]}'")
        return _ACTIVATIONS[name]

    def max_context(self, *preferred: str, default: int | None = None) -> int:
        """The context length; families name it differently, and errors name the family's own field first."""
        names = tuple(dict.fromkeys(preferred + _CONTEXT_FIELDS))
        if default is None:
            return self.count(*names)
        return self.count(*names, default=default)


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------------------


def gated_mlp(cfg: HFConfig, activation: str) -> MLPKind:
    if activation not in _GATED:
        raise cfg.error(f"gated MLP with activation '{activation}' is not supported")
    return _GATED[activation]


def layer_pattern(local_layers: list[bool]) -> str:
    """The shortest 'G'/'L' string that, repeated, gives the kind of every layer (ModelSpec.layer_pattern)."""
    letters = "".join("L" if local else "G" for local in local_layers)
    return next(letters[:period] for period in range(1, len(letters) + 1) if _repeats_into(letters[:period], letters))


def _repeats_into(pattern: str, letters: str) -> bool:
    return (pattern * (len(letters) // len(pattern) + 1))[: len(letters)] == letters


def moe_layout(cfg: HFConfig, moe_layers: list[bool]) -> tuple[int, int] | None:
    """(first_dense_layers, layer_frequency) that reproduce the per-layer MoE flags; None: no MoE layer."""
    indices = [i for i, moe in enumerate(moe_layers) if moe]
    if not indices:
        return None
    first = indices[0]
    frequency = indices[1] - indices[0] if len(indices) > 1 else len(moe_layers) - first
    expressed = [i >= first and (i - first) % frequency == 0 for i in range(len(moe_layers))]
    if expressed != moe_layers:
        raise cfg.error(f"MoE layers {indices} are not 'after k dense layers, every n-th layer'; not supported")
    return first, frequency


def sliding_layers(cfg: HFConfig, num_layers: int, default: Callable[[int], bool]) -> list[bool]:
    """Per-layer 'is local' from `layer_types` when the config lists them, else the family's rule."""
    layer_types = cfg.optional("layer_types", default=None)
    if layer_types is None:
        return [default(i) for i in range(num_layers)]
    if len(layer_types) != num_layers:
        raise cfg.error(f"field 'layer_types' has {len(layer_types)} entries for {num_layers} layers")
    return [kind == "sliding_attention" for kind in layer_types]


def with_window(fields: SpecFields, window: int | None, local_layers: list[bool]) -> SpecFields:
    if window is None or not any(local_layers):
        return fields
    return fields | {"sliding_window": window, "layer_pattern": layer_pattern(local_layers)}


def llama_like(cfg: HFConfig, *, tied_default: bool, activation_default: str = "silu") -> SpecFields:
    """Fields every llama-descended family (llama, mistral, mixtral, qwen2, gemma2, deepseek) spells alike."""
    num_heads = cfg.count("num_attention_heads")
    activation = cfg.activation("hidden_act", "hidden_activation", default=activation_default)
    attention_bias = cfg.flag("attention_bias", False)
    return {
        "num_layers": cfg.count("num_hidden_layers"),
        "hidden_size": cfg.count("hidden_size"),
        "num_heads": num_heads,
        "num_kv_heads": cfg.count("num_key_value_heads", default=num_heads),
        "head_dim": cfg.nullable_count("head_dim", absent=None),
        "ffn_dim": cfg.count("intermediate_size"),
        "mlp": gated_mlp(cfg, activation),
        "norm": "rmsnorm",
        "position": "rotary",
        "vocab_size": cfg.count("vocab_size"),
        "max_context": cfg.max_context(),
        "tied_embeddings": cfg.flag("tie_word_embeddings", tied_default),
        "qkv_bias": attention_bias,
        "attn_out_bias": attention_bias,
        "mlp_bias": cfg.flag("mlp_bias", False),
    }
