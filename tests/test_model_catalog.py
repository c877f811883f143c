"""The model catalog: one YAML file per model, each sourced, each reproducing its published parameter count.

Read as a specification of what the shipped data promises: the parameter count the simulator derives from a spec
(through the same op formulas it costs) lands within 2 % of the number the model's authors published.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import yaml

from idealrt.simulator.errors import UserError
from idealrt.simulator.model import ModelSpec
from idealrt.simulator.model.catalog import CATALOG_DIR, load_model, model_ids
from idealrt.simulator.parameters import ParameterCounts, parameter_counts

PARAM_TOLERANCE = 0.02

REQUIRED_IDS = [
    "gpt3-350m",
    "gpt3-1.3b",
    "gpt3-2.7b",
    "gpt3-6.7b",
    "gpt3-13b",
    "gpt3-175b",
    "gpt-j-6b",
    "gpt-neox-20b",
    "opt-30b",
    "opt-66b",
    "opt-175b",
    "bloom-176b",
    "j1-large",
    "j1-grande",
    "j1-jumbo",
    "mt-nlg-530b",
    "anthropic-52b",
    "cohere-xl",
    "yalm-100b",
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "mistral-7b",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "qwen2-57b-a14b",
    "deepseek-v3",
    "falcon-180b",
    "gemma-2-27b",
    "llama-3.3-70b",
    "qwen3-8b",
    "qwen3-32b",
    "qwen3-30b-a3b",
    "gemma-3-27b",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "deepseek-v2-lite",
    "phi-3-mini-4k",
    "phi-3-medium-4k",
    "llama-4-scout",
]
ALL_IDS = [path.stem for path in sorted(CATALOG_DIR.glob("*.yaml"))]
MOE_IDS = [model_id for model_id in ALL_IDS if load_model(model_id).moe is not None]


def relative_error(derived: float, published: float) -> float:
    return abs(derived - published) / published


@cache
def counts(model_id: str) -> ParameterCounts:
    """Derived counts, once per model (deriving walks every layer's op graph)."""
    return parameter_counts(load_model(model_id))


# --- what the catalog holds ---------------------------------------------------------------------------------------


def test_required_models_are_in_the_catalog() -> None:
    assert set(REQUIRED_IDS) <= set(model_ids())
    assert len(model_ids()) >= 25


def test_model_ids_are_the_file_stems_sorted() -> None:
    assert model_ids() == ALL_IDS


@pytest.mark.parametrize("model_id", ALL_IDS)
def test_every_file_loads_and_its_stem_is_its_id(model_id: str) -> None:
    spec = load_model(model_id)
    assert isinstance(spec, ModelSpec)
    assert spec.id == model_id


@pytest.mark.parametrize("model_id", ALL_IDS)
def test_every_spec_says_where_its_architecture_and_count_come_from(model_id: str) -> None:
    spec = load_model(model_id)
    assert spec.source.strip()
    assert spec.params_source.strip()
    assert spec.published_params is not None


@pytest.mark.parametrize("model_id", MOE_IDS)
def test_every_moe_spec_publishes_its_active_count(model_id: str) -> None:
    assert load_model(model_id).published_active_params is not None


# --- derived parameter counts against the published ones ---------------------------------------------------------


@pytest.mark.parametrize("model_id", ALL_IDS)
def test_derived_total_params_match_published(model_id: str) -> None:
    spec = load_model(model_id)
    assert spec.published_params is not None
    derived = counts(model_id).total
    assert relative_error(derived, spec.published_params) < PARAM_TOLERANCE, (
        f"{model_id}: derived {derived:,.0f} vs published {spec.published_params:,.0f}"
    )


@pytest.mark.parametrize("model_id", MOE_IDS)
def test_derived_active_params_match_published(model_id: str) -> None:
    spec = load_model(model_id)
    assert spec.published_active_params is not None
    derived = counts(model_id).active
    assert relative_error(derived, spec.published_active_params) < PARAM_TOLERANCE, (
        f"{model_id}: derived active {derived:,.0f} vs published {spec.published_active_params:,.0f}"
    )


@pytest.mark.parametrize("model_id", sorted(set(ALL_IDS) - set(MOE_IDS)))
def test_dense_models_use_every_parameter_for_every_token(model_id: str) -> None:
    assert counts(model_id).active == counts(model_id).total


# --- closed forms, written out ------------------------------------------------------------------------------------


def test_llama_3_1_70b_total_is_exactly_the_checkpoint_count() -> None:
    layers, h, heads, kv_heads, d_head, ffn, vocab = 80, 8192, 64, 8, 128, 28672, 128256
    attention = h * (heads + 2 * kv_heads) * d_head + heads * d_head * h
    swiglu_mlp = 3 * h * ffn
    rms_norms = 2 * h
    untied_embedding_and_head = 2 * vocab * h
    total = layers * (attention + swiglu_mlp + rms_norms) + untied_embedding_and_head + h
    assert total == 70_553_706_496
    assert counts("llama-3.1-70b").total == total


def test_mixtral_8x7b_uses_two_of_eight_experts_per_token() -> None:
    layers, h, heads, kv_heads, d_head, expert_ffn, experts, top_k, vocab = 32, 4096, 32, 8, 128, 14336, 8, 2, 32000
    attention = h * (heads + 2 * kv_heads) * d_head + heads * d_head * h
    router = h * experts
    per_layer_active = attention + top_k * 3 * h * expert_ffn + router + 2 * h
    active = layers * per_layer_active + 2 * vocab * h + h
    mixtral = counts("mixtral-8x7b")
    assert mixtral.active == active
    assert mixtral.active == pytest.approx(12.9e9, rel=0.005)
    assert mixtral.total == 46_702_792_704


def test_deepseek_v3_has_three_dense_layers_then_moe_everywhere() -> None:
    spec = load_model("deepseek-v3")
    assert [spec.is_moe_layer(i) for i in range(spec.num_layers)] == [False] * 3 + [True] * 58
    assert spec.attention_kind == "MLA"


def test_gemma_2_alternates_local_and_global_starting_local() -> None:
    spec = load_model("gemma-2-27b")
    assert [spec.is_local_layer(i) for i in range(4)] == [True, False, True, False]
    assert spec.sliding_window == 4096


def test_cohere_xl_is_the_anthropic_52b_architecture() -> None:
    identity = {"id", "name", "source", "published_params", "published_active_params", "params_source", "notes"}
    cohere = load_model("cohere-xl").model_dump(exclude=identity)
    anthropic = load_model("anthropic-52b").model_dump(exclude=identity)
    assert cohere == anthropic
    assert "Anthropic-52B" in load_model("cohere-xl").notes


def test_j1_grande_says_its_shape_is_an_assumption() -> None:
    spec = load_model("j1-grande")
    assert "ASSUM" in spec.notes and "ASSUM" in spec.source


# --- the loader ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hf_id", "model_id"),
    [
        ("meta-llama/Llama-3.1-70B", "llama-3.1-70b"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"),
        ("openai/gpt-oss-20b", "gpt-oss-20b"),
        ("mistralai/mixtral-8x7b-v0.1", "mixtral-8x7b"),  # case does not matter
    ],
)
def test_hugging_face_ids_name_catalog_models(hf_id: str, model_id: str) -> None:
    assert load_model(hf_id) is load_model(model_id)


def test_every_hf_id_names_a_catalog_model_once() -> None:
    table = yaml.safe_load((CATALOG_DIR.parent / "hf_ids.yaml").read_text())
    assert set(table) <= set(model_ids())
    flat = [hf_id.lower() for hf_ids in table.values() for hf_id in hf_ids]
    assert len(flat) == len(set(flat))


def test_an_unknown_hf_id_is_one_line_suggesting_the_closest() -> None:
    message = one_line_error("meta-llama/Llama-3.1-70C")
    assert "neither a file nor a Hugging Face id" in message and "'meta-llama/Llama-3.1-70B'" in message


def test_a_file_wins_over_an_hf_id_of_the_same_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "meta-llama" / "Llama-3.1-70B"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text((Path(__file__).parent / "data" / "hf_configs" / "mistral.json").read_text())
    monkeypatch.chdir(tmp_path)
    assert load_model("meta-llama/Llama-3.1-70B").sliding_window == 4096  # the local mistral config, not the catalog


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(UserError, match="unknown model 'lama-3.1-70b'; did you mean 'llama-3.1-70b'"):
        load_model("lama-3.1-70b")


def test_loads_are_cached() -> None:
    assert load_model("llama-2-7b") is load_model("llama-2-7b")


def catalog_data(model_id: str) -> dict:
    return yaml.safe_load((CATALOG_DIR / f"{model_id}.yaml").read_text())


def test_a_spec_yaml_path_loads(tmp_path: Path) -> None:
    path = tmp_path / "my-model.yaml"
    path.write_text(yaml.safe_dump(catalog_data("llama-2-7b") | {"id": "my-model"}))
    assert load_model(str(path)).id == "my-model"


def test_a_spec_json_path_loads(tmp_path: Path) -> None:
    path = tmp_path / "my-model.json"
    path.write_text(json.dumps(catalog_data("mixtral-8x7b") | {"id": "my-moe"}))
    spec = load_model(str(path))
    assert spec.id == "my-moe" and spec.moe is not None


def test_an_hf_config_path_is_detected_by_its_content(tmp_path: Path) -> None:
    hf_config = Path(__file__).parent / "data" / "hf_configs" / "llama.json"
    path = tmp_path / "Llama-3.1-70B" / "config.json"
    path.parent.mkdir()
    path.write_text(hf_config.read_text())
    spec = load_model(str(path))
    assert spec.id == "llama-3.1-70b"
    assert parameter_counts(spec).total == 70_553_706_496


def test_a_model_folder_loads_its_config_json(tmp_path: Path) -> None:
    hf_config = Path(__file__).parent / "data" / "hf_configs" / "mistral.json"
    (tmp_path / "Mistral-7B-v0.1").mkdir()
    (tmp_path / "Mistral-7B-v0.1" / "config.json").write_text(hf_config.read_text())
    assert load_model(str(tmp_path / "Mistral-7B-v0.1")).id == "mistral-7b-v0.1"


def one_line_error(path_or_id: str) -> str:
    with pytest.raises(UserError) as caught:
        load_model(path_or_id)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert str(missing) in one_line_error(str(missing))


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\nname: x\n")
    message = one_line_error(str(path))
    assert str(path) in message and "not valid YAML" in message


def test_malformed_json_names_the_file_and_the_place(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": "x",\n "num_layers": }')
    message = one_line_error(str(path))
    assert str(path) in message and "not valid JSON" in message and "line 2" in message


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    assert "expected a mapping" in one_line_error(str(path))


def test_an_invalid_spec_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(catalog_data("llama-2-7b") | {"num_layers": 0}))
    message = one_line_error(str(path))
    assert str(path) in message and "num_layers" in message


def test_an_inconsistent_spec_says_what_is_inconsistent(tmp_path: Path) -> None:
    path = tmp_path / "bad-heads.yaml"
    path.write_text(yaml.safe_dump(catalog_data("llama-2-70b") | {"num_kv_heads": 7}))
    assert "multiple of num_kv_heads" in one_line_error(str(path))
