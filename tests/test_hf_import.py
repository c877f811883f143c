"""Importing Hugging Face `config.json` files: every supported model_type reads into the spec the catalog holds.

The configs under tests/data/hf_configs/ are written by hand from the public configs (one per model_type).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from idealrt.simulator.errors import UserError
from idealrt.simulator.model import ModelSpec
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.model.hf_config import layer_pattern
from idealrt.simulator.model.hf_import import FAMILIES, imported_id, spec_from_hf_config
from idealrt.simulator.parameters import ParameterCounts, parameter_counts

CONFIG_DIR = Path(__file__).parent / "data" / "hf_configs"

# model_type → the catalog model its hand-written config describes
CATALOG_TWIN = {
    "gpt2": "gpt3-175b",
    "gptj": "gpt-j-6b",
    "gpt_neox": "gpt-neox-20b",
    "opt": "opt-66b",
    "bloom": "bloom-176b",
    "falcon": "falcon-180b",
    "llama": "llama-3.1-70b",
    "mistral": "mistral-7b",
    "mixtral": "mixtral-8x7b",
    "qwen2": "qwen2.5-7b",
    "qwen2_moe": "qwen2-57b-a14b",
    "gemma2": "gemma-2-27b",
    "deepseek_v3": "deepseek-v3",
    "phi3": "phi-3-mini-4k",
    "qwen3": "qwen3-8b",
    "qwen3_moe": "qwen3-30b-a3b",
    "gemma3": "gemma-3-27b",
    "llama4": "llama-4-scout",
    "gpt_oss": "gpt-oss-120b",
    "deepseek_v2": "deepseek-v2-lite",
}
IDENTITY_FIELDS = {"id", "name", "source", "published_params", "published_active_params", "params_source", "notes"}


def config(model_type: str) -> dict[str, Any]:
    return json.loads((CONFIG_DIR / f"{model_type}.json").read_text())


def imported(model_type: str, **changes: Any) -> ModelSpec:
    """The spec of the test config for `model_type`, with some fields changed (None deletes a field)."""
    data = copy.deepcopy(config(model_type))
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return spec_from_hf_config(data, source="config.json")


@cache
def imported_counts(model_type: str) -> ParameterCounts:
    """Derived counts of the unmodified test config, once per model_type."""
    return parameter_counts(imported(model_type))


@cache
def twin_counts(model_type: str) -> ParameterCounts:
    return parameter_counts(load_model(CATALOG_TWIN[model_type]))


def architecture(spec: ModelSpec) -> dict[str, Any]:
    return spec.model_dump(exclude=IDENTITY_FIELDS)


def user_error(data: dict[str, Any], source: str = "config.json") -> str:
    with pytest.raises(UserError) as caught:
        spec_from_hf_config(data, source=source)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- every supported model_type against its catalog twin ----------------------------------------------------------


def test_there_is_one_test_config_per_supported_model_type() -> None:
    assert sorted(path.stem for path in CONFIG_DIR.glob("*.json")) == sorted(FAMILIES) == sorted(CATALOG_TWIN)


@pytest.mark.parametrize("model_type", sorted(CATALOG_TWIN))
def test_imported_param_count_matches_the_catalog_model(model_type: str) -> None:
    derived = imported_counts(model_type)
    assert derived.total == pytest.approx(twin_counts(model_type).total, rel=0.005)
    assert derived.active == pytest.approx(twin_counts(model_type).active, rel=0.005)


@pytest.mark.parametrize("model_type", sorted(CATALOG_TWIN))
def test_imported_architecture_is_the_catalog_architecture(model_type: str) -> None:
    assert architecture(imported(model_type)) == architecture(load_model(CATALOG_TWIN[model_type]))


@pytest.mark.parametrize("model_type", sorted(CATALOG_TWIN))
def test_imported_spec_is_loaded_by_path_and_named_after_the_file(model_type: str) -> None:
    spec = load_model(str(CONFIG_DIR / f"{model_type}.json"))
    assert spec.id == ("opt-66b" if model_type == "opt" else model_type)  # opt.json has _name_or_path
    assert str(CONFIG_DIR / f"{model_type}.json") in spec.source


# --- key fields, family by family ---------------------------------------------------------------------------------


def test_gpt2_config_describes_gpt3_175b() -> None:
    spec = imported("gpt2")
    assert (spec.num_layers, spec.hidden_size, spec.num_heads) == (96, 12288, 96)
    assert spec.ffn_dim == 4 * 12288  # n_inner null
    assert spec.position == "learned" and spec.max_context == 2048 and spec.tied_embeddings
    assert spec.qkv_bias and spec.attn_out_bias and spec.mlp_bias and not spec.lm_head_bias


def test_gpt2_explicit_n_inner_and_n_ctx_instead_of_n_positions() -> None:
    spec = imported("gpt2", n_inner=1000, n_positions=None, n_ctx=1024)
    assert spec.ffn_dim == 1000 and spec.max_context == 1024


def test_gptj_shares_one_norm_between_parallel_attention_and_mlp() -> None:
    spec = imported("gptj")
    assert spec.norms_per_layer == 1 and spec.parallel_attention_mlp
    assert not spec.qkv_bias and not spec.attn_out_bias and spec.mlp_bias
    assert not spec.tied_embeddings and spec.lm_head_bias
    assert spec.vocab_size == 50400 and spec.position == "rotary"


def test_gpt_neox_parallel_residual_is_a_switch() -> None:
    assert imported("gpt_neox").parallel_attention_mlp
    sequential = imported("gpt_neox", use_parallel_residual=False)
    assert not sequential.parallel_attention_mlp and sequential.norms_per_layer == 2


def test_opt_ties_embeddings_and_learns_positions() -> None:
    spec = imported("opt")
    assert spec.tied_embeddings and spec.position == "learned" and spec.mlp == "relu"
    assert spec.ffn_dim == 36864


def test_opt_with_an_embedding_projection_is_refused_clearly() -> None:
    data = config("opt") | {"word_embed_proj_dim": 512}
    message = user_error(data)
    assert "word_embed_proj_dim (512) differs from hidden_size (9216)" in message


def test_bloom_reads_n_layer_n_head_and_n_embed() -> None:
    data = config("bloom")
    data["n_embed"] = data.pop("hidden_size")
    spec = spec_from_hf_config(data, source="bloom.json")
    assert (spec.num_layers, spec.num_heads, spec.hidden_size) == (70, 112, 14336)
    assert spec.position == "alibi" and spec.embedding_norm and spec.max_context == 2048


def test_falcon_180b_new_decoder_architecture() -> None:
    spec = imported("falcon")
    assert spec.kv_heads == 8 and spec.attention_kind == "GQA"
    assert spec.parallel_attention_mlp and spec.norms_per_layer == 2
    assert not (spec.qkv_bias or spec.attn_out_bias or spec.mlp_bias)


def test_falcon_old_architecture_is_multi_query_with_one_shared_norm() -> None:
    falcon_7b = {
        "model_type": "falcon",
        "hidden_size": 4544,
        "num_attention_heads": 71,
        "num_hidden_layers": 32,
        "vocab_size": 65024,
        "new_decoder_architecture": False,
        "multi_query": True,
        "parallel_attn": True,
        "bias": False,
        "alibi": False,
    }
    spec = spec_from_hf_config(falcon_7b, source="falcon-7b/config.json")
    assert spec.attention_kind == "MQA" and spec.norms_per_layer == 1 and spec.parallel_attention_mlp
    assert architecture(spec) == architecture(load_model("falcon-7b"))


def test_falcon_sequential_multi_head_variant() -> None:
    spec = imported("falcon", new_decoder_architecture=False, multi_query=False, parallel_attn=False)
    assert spec.attention_kind == "MHA" and not spec.parallel_attention_mlp and spec.norms_per_layer == 2


def test_llama_3_1_70b_is_grouped_query_and_untied() -> None:
    spec = imported("llama")
    assert spec.kv_heads == 8 and spec.gated_mlp and spec.mlp == "swiglu" and not spec.tied_embeddings
    assert imported_counts("llama").total == 70_553_706_496


def test_missing_num_key_value_heads_means_multi_head_attention() -> None:
    spec = imported("llama", num_key_value_heads=None)
    assert spec.kv_heads == spec.num_heads == 64 and spec.attention_kind == "MHA"


def test_explicit_head_dim_is_kept() -> None:
    spec = imported("mistral", head_dim=96)
    assert spec.attention_head_dim == 96


def test_mistral_v0_1_slides_every_layer_and_a_null_window_means_none() -> None:
    spec = imported("mistral")
    assert spec.sliding_window == 4096 and spec.layer_pattern == "L"
    without = spec_from_hf_config(config("mistral") | {"sliding_window": None}, source="config.json")
    assert without.sliding_window is None and without.layer_pattern == "G"


def test_mixtral_routes_two_of_eight_experts() -> None:
    spec = imported("mixtral")
    assert spec.moe is not None
    assert (spec.moe.num_experts, spec.moe.top_k, spec.moe.expert_ffn_dim) == (8, 2, 14336)
    assert spec.sliding_window is None
    assert imported_counts("mixtral").active == pytest.approx(12.9e9, rel=0.005)


def test_qwen2_biases_q_k_v_only() -> None:
    spec = imported("qwen2")
    assert spec.qkv_bias and not spec.attn_out_bias and not spec.mlp_bias
    assert spec.kv_heads == 4 and spec.sliding_window is None


def test_qwen2_sliding_window_applies_from_max_window_layers_on() -> None:
    spec = imported("qwen2", use_sliding_window=True, sliding_window=4096, max_window_layers=21)
    assert spec.sliding_window == 4096
    assert [spec.is_local_layer(i) for i in range(28)] == [i >= 21 for i in range(28)]


def test_qwen2_moe_has_a_shared_expert() -> None:
    spec = imported("qwen2_moe")
    assert spec.moe is not None
    assert (spec.moe.num_experts, spec.moe.top_k, spec.moe.expert_ffn_dim) == (64, 8, 2560)
    assert spec.moe.num_shared_experts == 1 and spec.moe.shared_ffn_dim == 20480
    assert all(spec.is_moe_layer(i) for i in range(spec.num_layers))


def test_qwen2_moe_sparse_step_and_dense_only_layers() -> None:
    every_other = imported("qwen2_moe", decoder_sparse_step=2)
    assert [every_other.is_moe_layer(i) for i in range(6)] == [False, True, False, True, False, True]
    leading_dense = imported("qwen2_moe", mlp_only_layers=[0, 1])
    assert [leading_dense.is_moe_layer(i) for i in range(4)] == [False, False, True, True]


def test_qwen2_moe_dense_layers_in_the_middle_are_refused() -> None:
    data = config("qwen2_moe") | {"mlp_only_layers": [5]}
    assert "not supported" in user_error(data)


def test_gemma2_alternates_local_and_global_starting_local() -> None:
    spec = imported("gemma2")
    assert spec.layer_pattern == "LG" and spec.sliding_window == 4096
    assert spec.norms_per_layer == 4 and spec.mlp == "geglu" and spec.tied_embeddings
    assert spec.attention_head_dim == 128 and spec.kv_heads == 16


def test_gemma2_layer_types_list_wins_over_the_default_rule() -> None:
    layer_types = ["full_attention" if i % 3 == 2 else "sliding_attention" for i in range(46)]
    spec = imported("gemma2", layer_types=layer_types)
    assert spec.layer_pattern == "LLG"


def test_deepseek_v3_latent_attention_and_experts() -> None:
    spec = imported("deepseek_v3")
    assert spec.mla is not None and spec.moe is not None
    assert (spec.mla.q_lora_rank, spec.mla.kv_lora_rank) == (1536, 512)
    assert (spec.mla.qk_nope_head_dim, spec.mla.qk_rope_head_dim, spec.mla.v_head_dim) == (128, 64, 128)
    assert (spec.moe.num_experts, spec.moe.top_k, spec.moe.expert_ffn_dim) == (256, 8, 2048)
    assert spec.moe.num_shared_experts == 1 and spec.moe.first_dense_layers == 3 and spec.ffn_dim == 18432
    assert imported_counts("deepseek_v3").total == pytest.approx(671e9, rel=0.005)


def test_phi3_is_llama_shaped_with_a_window_on_every_layer() -> None:
    spec = imported("phi3")
    assert (spec.num_layers, spec.hidden_size, spec.kv_heads, spec.ffn_dim) == (32, 3072, 32, 8192)
    assert spec.mlp == "swiglu" and spec.sliding_window == 2047 and spec.layer_pattern == "L"
    assert imported("phi3", sliding_window=None).sliding_window is None  # Phi3Config's default: no window
    assert imported_counts("phi3").total == 3_821_079_552  # the checkpoint's count


def test_qwen3_normalizes_each_query_and_key_head() -> None:
    spec = imported("qwen3")
    assert spec.qk_norm and not spec.qkv_bias and spec.attention_head_dim == 128 and spec.kv_heads == 8
    without = parameter_counts(imported("qwen3").model_copy(update={"qk_norm": False}))
    # two RMSNorm weight vectors of head_dim per layer, shared by all heads
    assert imported_counts("qwen3").total - without.total == 36 * 2 * 128


def test_qwen3_moe_routes_eight_of_128_experts_without_a_shared_one() -> None:
    spec = imported("qwen3_moe")
    assert spec.moe is not None and spec.qk_norm
    assert (spec.moe.num_experts, spec.moe.top_k, spec.moe.expert_ffn_dim, spec.moe.num_shared_experts) == (
        128,
        8,
        768,
        0,
    )
    every_other = imported("qwen3_moe", decoder_sparse_step=2)
    assert [every_other.is_moe_layer(i) for i in range(4)] == [False, True, False, True]


def test_gemma3_reads_the_text_config_with_five_local_layers_per_global() -> None:
    spec = imported("gemma3")
    assert spec.layer_pattern == "LLLLLG" and spec.sliding_window == 1024
    assert spec.qk_norm and spec.norms_per_layer == 4 and spec.tied_embeddings and spec.mlp == "geglu"
    assert (spec.vocab_size, spec.max_context, spec.attention_head_dim) == (262_208, 131_072, 128)  # defaults + config
    bare = spec_from_hf_config(config("gemma3")["text_config"], source="config.json")  # model_type gemma3_text
    assert architecture(bare) == architecture(spec)


def test_llama4_has_a_shared_expert_and_chunked_local_layers() -> None:
    spec = imported("llama4")
    assert spec.moe is not None
    assert (spec.moe.num_experts, spec.moe.top_k, spec.moe.num_shared_experts) == (16, 1, 1)
    assert spec.layer_pattern == "LLLG" and spec.sliding_window == 8192
    interleaved = spec_from_hf_config(
        config("llama4") | {"text_config": config("llama4")["text_config"] | {"interleave_moe_layer_step": 2}},
        source="config.json",
    )
    assert [interleaved.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    assert interleaved.ffn_dim == 16384  # dense layers use intermediate_size_mlp
    assert imported_counts("llama4").active == pytest.approx(17e9, rel=0.02)


def test_gpt_oss_alternates_window_128_and_global_with_biased_attention() -> None:
    spec = imported("gpt_oss")
    assert spec.moe is not None and (spec.moe.num_experts, spec.moe.top_k) == (128, 4)
    assert spec.layer_pattern == "LG" and spec.sliding_window == 128
    assert spec.qkv_bias and spec.attn_out_bias and spec.attention_head_dim == 64
    assert imported_counts("gpt_oss").total == pytest.approx(116.83e9, rel=0.002)


def test_deepseek_v2_lite_projects_queries_without_a_lora() -> None:
    spec = imported("deepseek_v2")
    assert spec.mla is not None and spec.mla.q_lora_rank is None and spec.mla.kv_lora_rank == 512
    assert spec.moe is not None and (spec.moe.num_experts, spec.moe.top_k, spec.moe.num_shared_experts) == (64, 6, 2)
    assert spec.moe.first_dense_layers == 1
    assert imported_counts("deepseek_v2").total == pytest.approx(15.7e9, rel=0.005)


def test_deepseek_moe_layer_freq_follows_deepseeks_rule() -> None:
    spec = imported("deepseek_v3", moe_layer_freq=2)
    assert [spec.is_moe_layer(i) for i in range(61)] == [i >= 3 and i % 2 == 0 for i in range(61)]


# --- ids ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name_or_path", "source", "expected"),
    [
        ("meta-llama/Llama-3.1-70B", "x.json", "llama-3.1-70b"),
        ("/models/Qwen2.5-7B-Instruct/", "x.json", "qwen2.5-7b-instruct"),
        (None, "/data/Mixtral-8x7B-v0.1/config.json", "mixtral-8x7b-v0.1"),
        (None, "configs/My Model.json", "my-model"),
    ],
)
def test_imported_id_is_a_slug_of_the_name_or_file(name_or_path: str | None, source: str, expected: str) -> None:
    data = {"_name_or_path": name_or_path} if name_or_path else {}
    assert imported_id(data, source) == expected


def test_layer_pattern_is_the_shortest_repeating_unit() -> None:
    assert layer_pattern([True, False] * 3) == "LG"
    assert layer_pattern([False] * 5) == "G"
    assert layer_pattern([False, False, True]) == "GGL"
    assert layer_pattern([True, False, True, False, True]) == "LG"


# --- errors: one line, naming the file, the model_type and the field ---------------------------------------------


def test_unknown_model_type_lists_the_supported_ones() -> None:
    message = user_error({"model_type": "xyz", "hidden_size": 8})
    assert "unsupported model_type 'xyz'; supported: gpt2, gptj" in message


def test_missing_model_type_is_named() -> None:
    assert "missing field 'model_type'" in user_error({"architectures": ["LlamaForCausalLM"]})


def test_missing_field_names_it_and_the_model_type() -> None:
    data = config("llama")
    del data["intermediate_size"]
    assert user_error(data) == "config.json (llama): missing field 'intermediate_size'"


def test_missing_context_names_the_familys_own_field() -> None:
    data = config("gpt2")
    del data["n_positions"], data["n_ctx"]
    assert user_error(data) == "config.json (gpt2): missing field 'n_positions'"


def test_a_size_that_is_not_a_positive_integer_is_named() -> None:
    message = user_error(config("llama") | {"hidden_size": "8192"})
    assert message == "config.json (llama): field 'hidden_size' must be a positive integer, got '8192'"


def test_an_unsupported_activation_is_named() -> None:
    assert "unsupported activation 'tanh'" in user_error(config("gpt2") | {"activation_function": "tanh"})


def test_an_impossible_shape_reports_the_spec_problem() -> None:
    message = user_error(config("llama") | {"num_key_value_heads": 7})
    assert message.startswith("config.json (llama): ") and "multiple of num_kv_heads" in message


def test_malformed_json_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "llama", "hidden_size": 8192,}')
    with pytest.raises(UserError) as caught:
        load_model(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "not valid JSON" in message
