"""The simulator's counts against closed forms anyone can check by hand."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import deployment, ideal

from idealrt.simulator.memory import model_sizes
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.parameters import parameter_counts
from idealrt.simulator.profile import IDEAL, Behaviours
from idealrt.simulator.simulation import simulate


def decode_step_flops(model: str, context: int = 1, **kwargs: object) -> float:
    """FLOPs of one decode step at batch 1 (prompt of `context` − 1 tokens, output 2: exactly one step)."""
    sim = ideal(model, prompt=context - 1 if context > 1 else 1, output=2, **kwargs)
    return float(sim.phase_totals("flops")[1][0])


@pytest.mark.parametrize("model", ["llama-2-7b", "llama-3.1-70b", "gpt3-175b", "mistral-7b"])
def test_a_decode_token_costs_two_flops_per_weight_it_multiplies(model: str) -> None:
    spec = load_model(model)
    counts = parameter_counts(spec)
    multiplied = counts.total - _lookup_only_params(model)  # embedding lookups do no multiplications
    flops = decode_step_flops(model)
    assert flops == pytest.approx(2 * multiplied, rel=0.01)
    assert flops > 2 * multiplied  # plus attention, norms and activations, never less


def _lookup_only_params(model: str) -> float:
    spec = load_model(model)
    vocab_rows = spec.vocab_size * spec.hidden_size
    positions = spec.max_context * spec.hidden_size if spec.position == "learned" else 0
    return positions + (0 if spec.tied_embeddings else vocab_rows)


def test_llama_3_1_70b_kv_cache_is_327680_bytes_per_token_in_bf16() -> None:
    _, kv_per_token = model_sizes(deployment("llama-3.1-70b"))
    assert kv_per_token == 80 * 2 * 8 * 128 * 2 == 327_680


def test_gqa_kv_cache_counts_kv_heads_not_query_heads() -> None:
    # LLM-Viewer's slip: sizing the cache with 64 query heads would give 8× this.
    _, kv = model_sizes(deployment("llama-2-70b"))
    spec = load_model("llama-2-70b")
    assert kv == spec.num_layers * 2 * spec.kv_heads * spec.attention_head_dim * 2
    assert kv * 8 == spec.num_layers * 2 * spec.num_heads * spec.attention_head_dim * 2


def test_deepseek_v3_mla_caches_only_the_latent_and_rotary_key() -> None:
    _, kv_per_token = model_sizes(deployment("deepseek-v3"))
    assert kv_per_token == (512 + 64) * 2 * 61


def test_fp8_kv_cache_halves_the_cache() -> None:
    _, bf16 = model_sizes(deployment("llama-3.1-8b"))
    _, fp8 = model_sizes(deployment("llama-3.1-8b", kv_dtype="fp8"))
    assert fp8 * 2 == bf16


def test_weights_bytes_follow_the_weights_dtype_but_embeddings_stay_16_bit() -> None:
    """int4 block weights take half a byte plus their group scales (an fp16 scale and a 4-bit zero per 128)."""
    spec = load_model("llama-3.1-8b")
    counts = parameter_counts(spec)
    bf16, _ = model_sizes(deployment("llama-3.1-8b"))
    int4, _ = model_sizes(deployment("llama-3.1-8b", weights_dtype="int4"))
    assert bf16 == pytest.approx(2 * counts.total)
    block_params = counts.total - counts.embedding
    assert int4 == pytest.approx((0.5 + 2.5 / 128) * block_params + 2 * counts.embedding, rel=1e-3)


def test_moe_decode_at_batch_1_reads_active_experts_not_all_of_them() -> None:
    # A peer slip: streaming all 8 experts' weights per token would make Mixtral decode ~3.6× too slow.
    spec = load_model("mixtral-8x7b")
    counts = parameter_counts(spec)
    sim = ideal("mixtral-8x7b", prompt=1, output=2)
    decode_bytes = float(sim.phase_totals("bytes")[1][0])
    assert decode_bytes == pytest.approx(2 * counts.active, rel=0.02)
    assert decode_bytes < 0.35 * 2 * counts.total


def test_moe_decode_at_large_batch_touches_nearly_every_expert_under_uniform_routing() -> None:
    """64 tokens routed uniformly (what a calibrated profile charges) miss a given expert with probability
    (3/4)^64: every expert is read. `ideal` is a lower bound: all 64 tokens may choose the same 2 experts."""
    spec = load_model("mixtral-8x7b")
    counts = parameter_counts(spec)
    uniform = IDEAL.model_copy(update={"behaviours": Behaviours(expert_routing="uniform")})
    sim = simulate(deployment("mixtral-8x7b"), uniform, 64, 1, 2)
    assert float(sim.phase_totals("bytes")[1][0]) > 0.98 * 2 * counts.total
    fewest = float(ideal("mixtral-8x7b", batch=64, prompt=1, output=2).phase_totals("bytes")[1][0])
    assert fewest == pytest.approx(2 * counts.active, rel=0.05)


def test_prefill_attention_flops_are_the_causal_half() -> None:
    spec = load_model("llama-2-7b")
    prompt, batch = 512, 2
    sim = ideal("llama-2-7b", batch=batch, prompt=prompt, output=1)
    attention = next(row for row in _rows(sim) if row["phase"] == "prefill" and row["name"] == "attention")
    pairs = prompt * (prompt + 1) / 2
    assert attention["flops"] == 4 * batch * spec.num_heads * spec.attention_head_dim * pairs * spec.num_layers


def test_naive_attention_computes_the_masked_half_too_and_moves_the_score_matrix() -> None:
    flash = ideal("llama-2-7b", prompt=512, output=1)
    naive = ideal("llama-2-7b", prompt=512, output=1, naive_attention=True)
    flash_row, naive_row = (next(r for r in _rows(sim) if r["name"] == "attention") for sim in (flash, naive))
    assert naive_row["flops"] == pytest.approx(flash_row["flops"] * 512 / (513 / 2) / 2 * 2, rel=1e-9)
    scores_bytes = 4 * 32 * 512 * 512 * 2 * 32  # write+read scores and probabilities, 32 heads, 32 layers
    assert naive_row["bytes"] - flash_row["bytes"] == pytest.approx(scores_bytes)


def test_sliding_window_caps_decode_attention_and_the_cache() -> None:
    spec = load_model("mistral-7b")
    window = spec.sliding_window
    assert window is not None
    inside = ideal("mistral-7b", prompt=window // 2, output=2)
    beyond = ideal("mistral-7b", prompt=4 * window, output=2)
    inside_row, beyond_row = (
        next(r for r in _rows(sim) if r["phase"] == "decode" and r["name"] == "attention") for sim in (inside, beyond)
    )
    kv_row_bytes = 2 * spec.kv_heads * spec.attention_head_dim * 2
    per_head_pair = 4 * spec.num_heads * spec.attention_head_dim * spec.num_layers
    assert inside_row["flops"] == per_head_pair * (window // 2 + 1)
    assert beyond_row["flops"] == per_head_pair * window
    assert float(inside.memory.kv_cache_bytes[0]) == (window // 2 + 2) * kv_row_bytes * spec.num_layers
    assert float(beyond.memory.kv_cache_bytes[0]) == window * kv_row_bytes * spec.num_layers


def test_tensor_parallelism_splits_the_weights() -> None:
    single = ideal("llama-2-70b", prompt=16, output=2)
    sharded = ideal("llama-2-70b", prompt=16, output=2, tp=8)
    ratio = float(single.memory.weights_bytes[0] / sharded.memory.weights_bytes[0])
    assert 7.9 < ratio <= 8  # norms are replicated on every rank


def test_batch_1_decode_on_the_ideal_roofline_is_streaming_the_weights() -> None:
    sim = ideal("llama-2-7b", "a100-sxm-80gb", prompt=1, output=2)
    weights, _ = model_sizes(sim.deployment)
    spec = sim.deployment.model
    embedding_table = spec.vocab_size * spec.hidden_size * 2  # a decode step looks up one row of it
    assert float(sim.tpot_s[0]) == pytest.approx((weights - embedding_table) / 2.039e12, rel=0.005)


def test_pipeline_stages_run_one_after_another_for_a_single_request() -> None:
    # Twice the devices, each stage half the layers: one request's latency does not improve, it gains a transfer.
    one = ideal("llama-2-70b", prompt=128, output=8, tp=8)
    two = ideal("llama-2-70b", prompt=128, output=8, tp=8, pp=2)
    for phase in ("ttft_s", "tpot_s"):
        single, staged = float(getattr(one, phase)[0]), float(getattr(two, phase)[0])
        assert single < staged < single * 1.01


def _rows(sim):  # type: ignore[no-untyped-def]
    from idealrt.simulator.report import op_rows

    return op_rows(sim)


@pytest.mark.parametrize("window", [None, 1024.0])
def test_decode_points_sum_linear_costs_exactly(rng: np.random.Generator, window: float | None) -> None:
    from idealrt.simulator.simulation import decode_points

    prompt = rng.integers(1, 3000, 50).astype(float)
    output = rng.integers(1, 700, 50).astype(float)
    context, steps = decode_points(prompt, output, window)
    assert np.array_equal(steps.sum(axis=1), output - 1)
    for i in range(50):
        exact = sum(3.0 + 0.5 * (prompt[i] + k) for k in range(1, int(output[i])))
        assert float(np.sum(steps[i] * (3.0 + 0.5 * context[i]))) == pytest.approx(exact, rel=1e-12, abs=1e-9)
