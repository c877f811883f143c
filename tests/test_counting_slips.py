"""Counting slips of issue 8 §3: each test states the physical count and checks the counted one against it."""

from __future__ import annotations

from math import isclose

import numpy as np

from idealrt.simulator.counting import CountingOptions, PassCounts, count_pass, counting_options
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.pass_timing import run_time
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.structure import Phase

FEWEST = counting_options(IDEAL)


def _op(counts: PassCounts, name: str) -> dict[str, float]:
    """The counts of the first op called `name` (in the first layer piece that has it), as floats."""
    for piece, _runs in counts.pieces():
        for index, (op, values) in enumerate(piece.op_counts()):
            if op.name == name:
                static = {field: float(column[index]) for field, column in piece.static.items()}
                return {field: float(value.reshape(-1)[0]) for field, value in values.items()} | static
    raise KeyError(name)


def _decode(deployment: Deployment, batch: int, options: CountingOptions = FEWEST) -> PassCounts:
    return count_pass(deployment, Phase.DECODE, batch, 1, 512, options)


def _deepseek_ep8() -> Deployment:
    return Deployment(load_model("deepseek-v3"), load_hardware("h200-sxm"), ep=8, weights_dtype="fp8")


def test_an_expert_group_reads_the_experts_of_the_tokens_it_really_holds() -> None:
    """DeepSeek-V3 (256 experts, top-8) over 8 expert groups: at batch 1 the single token's 8 experts can lie on 8
    groups, so the busiest group reads one expert matrix per projection (the fewest, `ideal`); at batch 8 the 64
    assignments touch more. Batch 1 and batch 8 must not cost the same expert bytes."""
    deployment = _deepseek_ep8()
    moe = deployment.model.moe
    assert moe is not None
    one_expert_up = 2 * moe.expert_ffn_dim * deployment.model.hidden_size * (1 + 4 / 128**2)  # fp8 + block scales
    at_one = _op(_decode(deployment, 1), "expert_up_proj")["bytes_read"]
    assert one_expert_up <= at_one < 1.01 * one_expert_up
    uniform = CountingOptions(fewest_experts=False)
    assert _op(_decode(deployment, 8, uniform), "expert_up_proj")["bytes_read"] > 4 * at_one


def _busiest_group_by_simulation(experts: int, top_k: int, groups: int, tokens: int) -> tuple[float, float]:
    """(distinct experts, assignments) of the busiest of `groups` expert groups, averaged over seeded draws of
    uniform routing: each token picks top_k distinct experts."""
    rng = np.random.default_rng(0)
    per_group = experts // groups
    touched, assigned = [], []
    for _ in range(2000):
        chosen = np.array([rng.choice(experts, top_k, replace=False) for _ in range(tokens)]).ravel()
        assigned.append(np.bincount(chosen // per_group, minlength=groups).max())
        distinct = np.unique(chosen)
        touched.append(np.bincount(distinct // per_group, minlength=groups).max())
    return float(np.mean(touched)), float(np.mean(assigned))


def test_under_uniform_routing_each_expert_group_is_charged_the_busiest_groups_load() -> None:
    """The MoE layer waits for the busiest group. DeepSeek-V3 over 8 groups at decode batch 1 and 4: the experts a
    group reads and the assignments it computes are the expected maximum over the groups (within 10 % of a
    simulation of uniform routing), not the mean (1 expert at batch 1)."""
    deployment = _deepseek_ep8()
    moe = deployment.model.moe
    assert moe is not None
    spec = deployment.model
    one_expert_up = 2 * moe.expert_ffn_dim * spec.hidden_size * (1 + 4 / 128**2)
    one_assignment_flops = 2 * 2 * moe.expert_ffn_dim * spec.hidden_size
    activation_bytes = deployment.bindings()["a_bytes"]
    for batch in (1, 4):
        up = _op(_decode(deployment, batch, CountingOptions(fewest_experts=False)), "expert_up_proj")
        assignments = up["flops"] / one_assignment_flops
        touched = (up["bytes_read"] - assignments * spec.hidden_size * activation_bytes) / one_expert_up
        simulated_touched, simulated_assignments = _busiest_group_by_simulation(
            moe.num_experts, moe.top_k, deployment.ep, batch
        )
        assert isclose(touched, simulated_touched, rel_tol=0.1), batch
        assert isclose(assignments, simulated_assignments, rel_tol=0.1), batch
        assert touched > 1.5 * moe.top_k * batch / deployment.ep  # well above the mean (≤ k·batch/ep experts)


def test_ideal_charges_the_fewest_experts_a_batch_can_touch() -> None:
    """Every token may choose the same k experts, so no batch need read more than k experts per MoE layer: Mixtral
    (8 experts, top-2) at batch 32 reads 2 expert matrices per projection under `ideal` (a lower bound), and all 8
    under uniform routing (the expected value a calibrated profile charges)."""
    deployment = Deployment(load_model("mixtral-8x7b"), load_hardware("h100-sxm"), tp=2)
    spec = deployment.model
    assert spec.moe is not None
    matrix = 2 * spec.moe.expert_ffn_dim / 2 * spec.hidden_size * 2  # gate+up, tp 2, bf16
    activations = 32 * 2 * spec.hidden_size * 2  # 32 tokens × 2 assignments, bf16 inputs
    assert isclose(_op(_decode(deployment, 32), "expert_up_proj")["bytes_read"], 2 * matrix + activations)
    uniform = _op(_decode(deployment, 32, CountingOptions()), "expert_up_proj")["bytes_read"]
    assert isclose(uniform, 8 * matrix * (1 - (1 - 2 / 8) ** 32) + activations)


def test_the_expert_all_to_all_sends_a_token_once_per_destination_group() -> None:
    """A token whose 8 experts lie on fewer than 8 groups is sent once to each group, not once per expert. With
    256 experts over 8 groups (32 each) a group holds none of a token's 8 distinct experts with probability
    ∏_{i<8} (224 − i)/(256 − i), so a token goes to 8·(1 − that) ≈ 5.3 groups on average."""
    deployment = _deepseek_ep8()
    missed = 1.0
    for i in range(8):
        missed *= (224 - i) / (256 - i)
    groups = 8 * (1 - missed)
    hidden = deployment.model.hidden_size
    dispatch = _op(_decode(deployment, 8), "moe_dispatch")
    assert isclose(dispatch["wire_bytes"], 7 / 8 * 1 * groups * hidden * 2)  # one token per group, 16-bit wire


def test_tensor_parallel_all_reduce_of_fp8_weights_moves_16_bit_activations() -> None:
    """fp8 GEMMs requantize their inputs, but the all-reduce sums partial outputs in 16 bits (TensorRT-LLM, vLLM):
    an all-reduce over 2 devices sends 2·1/2 of tokens × hidden × 2 bytes. A profile may say otherwise."""
    deployment = Deployment(load_model("llama-2-70b"), load_hardware("h100-sxm"), tp=2, weights_dtype="fp8")
    hidden = deployment.model.hidden_size
    wire = _op(_decode(deployment, 4), "attn_all_reduce")["wire_bytes"]
    assert isclose(wire, 2 * 1 / 2 * 4 * hidden * 2)
    fp8_wire = _op(_decode(deployment, 4, CountingOptions(collective_dtype="fp8")), "attn_all_reduce")["wire_bytes"]
    assert isclose(fp8_wire, wire / 2)


def test_four_bit_weights_carry_their_group_scales() -> None:
    """int4 group quantization keeps an fp16 scale and a 4-bit zero point per 128 weights (AWQ, GPTQ): 0.5 + 2.5/128
    bytes per weight, both in memory and in what a GEMM reads."""
    deployment = Deployment(load_model("llama-2-70b"), load_hardware("h100-sxm"), weights_dtype="int4")
    spec = deployment.model
    gate_up = 2 * spec.ffn_dim * spec.hidden_size
    up = _op(_decode(deployment, 1), "mlp_up_proj")
    assert isclose(up["weight_bytes"], gate_up * (0.5 + 2.5 / 128))
    assert up["bytes_read"] > gate_up * (0.5 + 2.5 / 128)


def test_the_kv_cache_write_only_writes() -> None:
    """Appending K and V stores the new tokens' keys and values into the cache; nothing is read for it."""
    deployment = Deployment(load_model("llama-2-70b"), load_hardware("h100-sxm"), tp=8)
    spec = deployment.model
    write = _op(_decode(deployment, 4), "kv_cache_write")
    assert write["bytes_read"] == 0
    assert isclose(write["bytes_written"], 4 * 2 * spec.kv_heads / 8 * spec.attention_head_dim * 2)


def test_a_cross_node_pipeline_send_scatters_over_every_nic_and_gathers_inside_the_node() -> None:
    """Llama-3.1-70B at tp 8, pp 2 on H100 servers of 8: the two stages sit in different nodes. Each of a stage's 8
    GPUs holds the whole activation tensor; Megatron-LM sends a different 1/8 from each GPU over its own NIC and
    the next stage all-gathers them over NVLink, so the inter-node link carries 1/tp of the tensor per device."""
    deployment = Deployment(load_model("llama-3.1-70b"), load_hardware("h100-sxm"), tp=8, pp=2)
    hardware = deployment.hardware
    tokens = 4 * 512
    activations = tokens * deployment.model.hidden_size * 2  # bf16
    counts = count_pass(deployment, Phase.PREFILL, 4, 512, 512)
    transfer = counts.stage_transfer
    assert transfer is not None
    sent = {op.name: float(values["wire_bytes"].reshape(-1)[0]) for op, values in transfer.op_counts()}
    assert isclose(sent["stage_send_recv"], activations / 8)
    assert isclose(sent["stage_all_gather"], activations * 7 / 8)
    seconds = sum(float(np.sum(run_time(run, Phase.PREFILL, IDEAL.params()).total)) for run in transfer.runs)
    inter, intra = hardware.inter_node_bytes_per_s, hardware.intra_node_bytes_per_s
    assert inter is not None and intra is not None
    assert isclose(float(seconds), activations / 8 / inter + activations * 7 / 8 / intra, rel_tol=1e-9)


def test_estimate_reports_the_fused_bound_beside_the_per_op_roofline() -> None:
    """`ideal` is the per-op roofline of unfused kernels, Σ max(FLOPs / peak, bytes / bandwidth); a perfectly fused
    pass is bounded by max(Σ FLOPs / peak, Σ bytes / bandwidth), never more. A batch-1 decode step on one device is
    memory-bound as a whole: its fused bound is all its bytes at HBM bandwidth."""
    from idealrt.simulator.estimate import EstimateInputs, estimate_record, run_estimate

    inputs = EstimateInputs(model="llama-3.1-8b", hardware="h100-sxm", prompt_tokens=512, output_tokens=33)
    sim, note = run_estimate(inputs)
    record = estimate_record(sim, note)
    fused = record["fused_bound"]
    assert 0 < fused["ttft_s"] <= record["ttft_s"] and 0 < fused["tpot_s"] <= record["tpot_s"]
    bandwidth = sim.deployment.hardware.hbm_bytes_per_s
    assert isclose(fused["tpot_s"], record["decode_bytes"] / 32 / bandwidth, rel_tol=1e-9)


def test_only_ideal_reads_the_fewest_experts_every_calibrated_profile_the_expected_number() -> None:
    """The fewest experts is a lower bound, not a prediction: profiles fitted to or derived from measurements
    charge what uniform routing expects."""
    from idealrt.simulator.profile import load_profile, shipped_profile_names

    assert IDEAL.behaviours.expert_routing == "fewest"
    for name in shipped_profile_names():
        if name != "ideal":
            assert load_profile(name).behaviours.expert_routing == "uniform", name
