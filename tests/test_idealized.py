"""The paper's idealized runtime α_p + β·(o − 1), derived from the simulator (Narayanan et al., NeurIPS 2023)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import deployment

import idealrt.simulator.planner.idealized as idealized
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.planner.idealized import (
    OUTPUT_TOKENS,
    PAPER_MODELS,
    PROMPT_SIZES,
    IdealizedRuntime,
    decompose,
    fewest_deployment,
    idealized_for,
    paper_deployment,
)
from idealrt.simulator.planner.paper_models import (
    PAPER_LAYOUTS,
    VARIANTS_DIR,
    megatron_padded_vocab,
    paper_architecture,
    paper_variant,
)
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import simulate

A100 = "a100-sxm-80gb"
CALIBRATION_MODELS = Path(__file__).resolve().parent.parent / "calibration" / "data" / "models"
# Every kernel launch takes 1 ms on the host: a decode step is then host-bound and the same at any context.
HOST_BOUND = IDEAL.with_params({"host.launch_s": 1e-3})


def paper_runtime(model: str, profile=IDEAL, **options) -> IdealizedRuntime:  # type: ignore[no-untyped-def]
    return idealized_for(model, load_hardware(A100), profile, **options)


@pytest.fixture(scope="module")
def paper_runtimes() -> dict[str, IdealizedRuntime]:
    return {model: paper_runtime(model) for model in PAPER_MODELS}


def grid() -> tuple[np.ndarray, np.ndarray]:
    prompt, output = np.meshgrid(PROMPT_SIZES, OUTPUT_TOKENS, indexing="ij")
    return prompt.ravel().astype(float), output.ravel().astype(float)


def test_alpha_is_the_simulated_time_to_first_token() -> None:
    runtime = paper_runtime("gpt-j-6b")
    sim = simulate(runtime.deployment, IDEAL, 1, np.asarray(PROMPT_SIZES), 1)
    np.testing.assert_allclose(runtime.alpha_s, sim.ttft_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(runtime.alpha_s, sim.e2e_s, rtol=1e-12, atol=0)  # o = 1: e2e is the first token


def test_decomposition_is_exact_when_a_decode_step_does_not_depend_on_the_context() -> None:
    runtime = decompose(deployment("gpt3-125m", A100), HOST_BOUND)
    prompt, output = grid()
    sim = simulate(runtime.deployment, HOST_BOUND, 1, prompt, output)
    steps = sim.tpot_s[output > 1]
    assert np.ptp(steps) == pytest.approx(0, abs=1e-15)  # the premise: every decode step takes the same time
    assert runtime.beta_s == pytest.approx(steps[0], rel=1e-12)
    np.testing.assert_allclose(runtime.idealized_runtime(prompt, output), sim.e2e_s, rtol=1e-12)
    assert runtime.max_relative_error < 1e-12


@pytest.mark.parametrize("model", ["gpt-j-6b", "gpt3-175b", "mt-nlg-530b"])
def test_decomposition_error_is_bounded_by_how_much_a_decode_step_varies(
    model: str, paper_runtimes: dict[str, IdealizedRuntime]
) -> None:
    """β is the (o − 1)²-weighted mean of the simulated tpot, so its error is at most tpot's spread over the grid:
    the KV-cache read grows with the context, which a constant β cannot follow. Seen on a100-sxm-80gb, ideal, the
    paper's layouts and stand-ins: gpt-j-6b 3.6 %, gpt3-175b 1.25 %, mt-nlg-530b 0.8 %."""
    runtime = paper_runtimes[model]
    prompt, output = grid()
    sim = simulate(runtime.deployment, IDEAL, 1, prompt, output)
    tpot = sim.tpot_s[output > 1]
    assert tpot.min() <= runtime.beta_s <= tpot.max()
    error = np.abs(runtime.idealized_runtime(prompt, output) - sim.e2e_s) / sim.e2e_s  # on the grid: HELM = exact
    assert error.max() == pytest.approx(runtime.max_relative_error)
    assert error.max() <= (tpot.max() - tpot.min()) / tpot.min()
    assert error.max() < 0.04


def test_the_largest_models_are_within_about_one_percent(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    assert paper_runtimes["gpt3-175b"].max_relative_error < 0.013
    assert paper_runtimes["mt-nlg-530b"].max_relative_error < 0.01


def test_the_whole_grid_is_one_vectorized_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = idealized.simulate

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(np.size(args[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(idealized, "simulate", counting)
    decompose(deployment("gpt3-125m", A100), IDEAL)
    assert calls == [len(PROMPT_SIZES) * len(OUTPUT_TOKENS)]


def test_alpha_never_decreases_with_the_prompt(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    for model, runtime in paper_runtimes.items():
        assert np.all(np.diff(runtime.alpha_s) >= 0), model
    host_bound = decompose(deployment("gpt3-125m", A100), HOST_BOUND)
    assert np.all(np.diff(host_bound.alpha_s) >= 0)


def test_alpha_between_the_paper_sizes_is_helms_next_size_scaled_down(
    paper_runtimes: dict[str, IdealizedRuntime],
) -> None:
    """HELM: the smallest tabulated size k ≥ p, times p / k; above 1920, α_1920 · p / 1920 (no error)."""
    runtime = paper_runtimes["gpt-j-6b"]
    assert runtime.interpolation == "helm"
    table = runtime.alpha_by_size()
    assert runtime.alpha(1) == pytest.approx(table["1"], rel=1e-15)
    assert runtime.alpha(2) == pytest.approx(table["16"] * 2 / 16)
    assert runtime.alpha(450) == pytest.approx(table["472"] * 450 / 472)
    assert runtime.alpha(472) == pytest.approx(table["472"], rel=1e-15)
    assert runtime.alpha(473) == pytest.approx(table["512"] * 473 / 512)
    assert runtime.alpha(1100) == pytest.approx(table["1152"] * 1100 / 1152)
    assert runtime.alpha(4000) == pytest.approx(table["1920"] * 4000 / 1920)
    np.testing.assert_allclose(runtime.alpha([100, 2000]), [table["128"] * 100 / 128, table["1920"] * 2000 / 1920])
    assert runtime.idealized_runtime(450, 33) == pytest.approx(table["472"] * 450 / 472 + 32 * runtime.beta_s)
    # HELM's rule under-states α between sizes (α has a fixed part that p / k scales down too)
    assert runtime.alpha(2) < replace(runtime, interpolation="linear").alpha(2)


def test_alpha_is_linear_between_the_paper_sizes_as_an_option(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    runtime = replace(paper_runtimes["gpt-j-6b"], interpolation="linear")
    table = runtime.alpha_by_size()
    assert runtime.alpha(512) == pytest.approx(table["512"], rel=1e-15)
    assert runtime.alpha(450) == pytest.approx((table["428"] + table["472"]) / 2)
    assert runtime.alpha(1100) == pytest.approx(table["1024"] + (table["1152"] - table["1024"]) * 76 / 128)
    assert runtime.idealized_runtime(450, 33) == pytest.approx(runtime.alpha(450) + 32 * runtime.beta_s)
    np.testing.assert_allclose(runtime.alpha([1, 16]), [table["1"], table["16"]])


def test_linear_outside_the_paper_sizes_is_an_error_unless_extrapolating_explicitly(
    paper_runtimes: dict[str, IdealizedRuntime],
) -> None:
    runtime = replace(paper_runtimes["gpt-j-6b"], interpolation="linear")
    with pytest.raises(UserError, match=r"outside the paper's prompt sizes \[1, 1920\].*extrapolate"):
        runtime.alpha(2000)
    with pytest.raises(UserError, match="prompt must be"):
        runtime.alpha(0)
    with pytest.raises(UserError, match="output must be"):
        runtime.idealized_runtime(10, 0)
    table = runtime.alpha_by_size()
    slope = (table["1920"] - table["1792"]) / 128
    assert runtime.alpha(2048, extrapolate=True) == pytest.approx(table["1920"] + 128 * slope)
    assert runtime.alpha(4096, extrapolate=True) > runtime.alpha(2048, extrapolate=True) > table["1920"]


def test_alpha_table_has_every_paper_size_as_a_string_key(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    assert list(paper_runtimes["gpt3-175b"].alpha_by_size()) == [str(p) for p in PROMPT_SIZES]


@pytest.mark.parametrize(
    ("model", "devices", "tp", "pp"),
    [
        ("gpt3-175b", 8, 8, 1),  # the helm-efficiency logs: davinci at tp 8
        ("anthropic-52b", 4, 4, 1),  # the logs and the paper: 4 A100s at tp 4 (2 would hold it)
        ("cohere-xl", 4, 4, 1),
        ("mt-nlg-530b", 24, 8, 3),  # TNLG v2: 3 pipeline stages of tp 8 (16 would hold it)
        ("gpt-j-6b", 1, 1, 1),
        ("yalm-100b", 4, 4, 1),
    ],
)
def test_devices_are_the_papers_by_default(
    model: str, devices: int, tp: int, pp: int, paper_runtimes: dict[str, IdealizedRuntime]
) -> None:
    d = paper_runtimes[model].deployment
    assert (d.n_accelerators, d.tp, d.pp, d.weights_dtype) == (devices, tp, pp, "fp16")


@pytest.mark.parametrize(
    ("model", "devices", "tp", "pp"),
    [
        ("gpt3-175b", 8, 8, 1),  # 350 GB of fp16 weights: one 8-GPU server
        ("anthropic-52b", 2, 2, 1),  # 104 GB: two 80 GB GPUs
        ("gpt-j-6b", 1, 1, 1),
        ("mt-nlg-530b", 16, 8, 2),  # 1.06 TB: pipeline stages of full 8-GPU servers
    ],
)
def test_layout_fewest_is_the_fewest_devices_holding_a_2048_token_request(
    model: str, devices: int, tp: int, pp: int
) -> None:
    d = paper_deployment(model, load_hardware(A100), IDEAL, layout="fewest").deployment
    assert (d.n_accelerators, d.tp, d.pp) == (devices, tp, pp)


def test_fewest_tensor_parallelism_is_a_power_of_two_inside_a_server() -> None:
    """gpt3-175b would fit on 6 GPUs (96 heads allow tp 6), but a Megatron server is split in powers of two."""
    hardware = load_hardware(A100)
    for model in PAPER_MODELS:
        d = paper_deployment(model, hardware, IDEAL, layout="fewest").deployment
        assert d.tp & (d.tp - 1) == 0 and d.tp <= d.hardware.devices_per_node
        assert d.pp == 1 or d.tp == max(
            t for t in (1, 2, 4, 8) if d.model.num_heads % t == 0 and d.model.ffn_dim % t == 0
        )


def test_a_model_that_fits_nowhere_is_a_user_error() -> None:
    one_server = load_hardware(A100).model_copy(update={"inter_node_bandwidth_gb_s": None})
    with pytest.raises(UserError, match="mt-nlg-530b does not fit on any layout of a100-sxm-80gb"):
        fewest_deployment(load_model("mt-nlg-530b"), one_server, IDEAL)


def test_the_papers_layout_where_it_does_not_fit_says_to_use_fewest() -> None:
    dgx2 = load_hardware("v100-sxm3-32gb-dgx2")  # davinci's 350 GB over 8 × 32 GB does not fit
    with pytest.raises(UserError, match=r"paper's layout of gpt3-175b \(8 × v100-sxm3-32gb-dgx2.*--layout fewest"):
        paper_deployment("gpt3-175b", dgx2, IDEAL)
    fewest = paper_deployment("gpt3-175b", dgx2, IDEAL, layout="fewest").deployment
    assert (fewest.tp, fewest.pp) == (16, 1)  # the NVSwitch server takes tp 16
    four_per_server = load_hardware(A100).model_copy(update={"devices_per_node": 4})
    with pytest.raises(UserError, match="tp 8.*has 4: use --layout fewest"):
        paper_deployment("bloom-176b", four_per_server, IDEAL)
    with pytest.raises(UserError, match="not a model of the paper"):
        paper_deployment("llama-3.1-8b", load_hardware(A100), IDEAL)


# --- the paper's stand-in architectures ------------------------------------------------------------------------


@pytest.mark.parametrize(("tp", "rows"), [(1, 50304), (4, 50688), (8, 51200)])
def test_megatron_vocab_padding_matches_the_logged_tables(tp: int, rows: int) -> None:
    """The padded GPT-2 vocabularies the helm-efficiency logs print (gptj_6b tp 1, anthropic tp 4, davinci tp 8)."""
    assert megatron_padded_vocab(50257, tp) == rows
    assert megatron_padded_vocab(50257, 2) == 50432  # 197 × 256


def test_j1_models_run_with_the_gpt2_vocabulary_padded_for_their_tp(
    paper_runtimes: dict[str, IdealizedRuntime],
) -> None:
    assert paper_runtimes["j1-large"].deployment.model.vocab_size == 50304  # tp 1
    assert paper_runtimes["j1-jumbo"].deployment.model.vocab_size == 51200  # tp 8
    assert load_model("j1-large").vocab_size == 256000  # the catalog keeps the published 256K vocabulary
    spec, _ = paper_architecture("j1-large", 2)
    assert spec.vocab_size == 50432


def test_j1_grande_is_the_papers_50_by_5120_with_40_heads(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    model = paper_runtimes["j1-grande"].deployment.model
    assert (model.num_layers, model.hidden_size, model.num_heads, model.ffn_dim) == (50, 5120, 40, 20480)
    published = load_model("j1-grande")
    assert (published.num_layers, published.hidden_size, published.num_heads) == (43, 5504, 43)


def test_yalm_is_a_two_matrix_gelu_mlp_of_width_27308_at_tp_4(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    d = paper_runtimes["yalm-100b"].deployment
    assert (d.model.mlp, d.model.ffn_dim, d.tp) == ("gelu", 27308, 4)
    assert d.model.ffn_dim // d.tp == 6827 and (d.model.ffn_dim // d.tp) % 8 != 0  # not a multiple of 8 per device
    published = load_model("yalm-100b")
    assert (published.mlp, published.ffn_dim) == ("geglu", 27312)


def test_gpt_j_is_the_megatron_gpt_the_logs_ran() -> None:
    spec, source = paper_architecture("gpt-j-6b", 1)
    logged = yaml.safe_load((CALIBRATION_MODELS / "megatron-gptj-6b.yaml").read_text())
    for field in ("num_layers", "hidden_size", "num_heads", "ffn_dim", "norms_per_layer", "position", "vocab_size"):
        assert getattr(spec, field) == logged[field], field
    assert spec.parallel_attention_mlp is logged["parallel_attention_mlp"] is False
    assert spec.tied_embeddings is logged["tied_embeddings"] is True
    assert "helm-efficiency" in source


def test_every_variant_names_its_source_and_a_catalog_model() -> None:
    files = sorted(VARIANTS_DIR.glob("*.yaml"))
    assert {path.stem for path in files} <= set(PAPER_MODELS) and len(files) == 9
    for path in files:
        variant = paper_variant(path.stem)
        assert variant is not None and variant.source.strip() and variant.base == path.stem
        spec, source = paper_architecture(path.stem, PAPER_LAYOUTS[path.stem].tp)
        assert source.startswith("paper variant") and "PAPER VARIANT" in spec.notes
    assert paper_variant("bloom-176b") is None  # ran as published
    assert paper_architecture("bloom-176b", 8)[1].startswith("published")


def test_published_architectures_use_the_catalog_entries() -> None:
    runtime = paper_runtime("j1-grande", architecture="published")
    assert runtime.deployment.model == load_model("j1-grande")


def test_the_stand_in_changes_the_runtime_the_way_its_shape_says(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    """J1-Large's paper variant drops 206K embedding rows of 4096: the published 256K vocabulary's LM head is
    206K × 4096 × 2 B = 1.7 GB more to read per decode step (ideal profile: more weight bytes, larger β)."""
    paper, published = paper_runtimes["j1-large"], paper_runtime("j1-large", architecture="published")
    extra_bytes = (256000 - 50304) * 4096 * 2
    bandwidth = load_hardware(A100).hbm_bytes_per_s
    assert published.beta_s - paper.beta_s == pytest.approx(extra_bytes / bandwidth, rel=0.05)
