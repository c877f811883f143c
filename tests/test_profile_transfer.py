"""A fitted profile of a software stack carried to other hardware: hardware-bound constants follow the datasheet,
software constants stay (simulator.profile_transfer)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import deployment

from idealrt.simulator.errors import UserError
from idealrt.simulator.estimate import EstimateInputs, estimate_record, run_estimate
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.profile import IDEAL, load_profile, resolve_profile
from idealrt.simulator.profile_transfer import RULES
from idealrt.simulator.simulation import simulate

MEGATRON = "megatron-a100-2022"
# Datasheet figures, typed from NVIDIA's A100 (312 TFLOPS fp16 dense, 2,039 GB/s) and V100 (125, 900) datasheets.
A100_RIDGE, V100_RIDGE = 312e12 / 2039e9, 125e12 / 900e9
V100_OVER_A100_BANDWIDTH = 900 / 2039


@pytest.fixture(scope="module")
def carried():  # type: ignore[no-untyped-def]
    return resolve_profile(MEGATRON, "v100-sxm-32gb")


def test_software_constants_are_kept(carried) -> None:  # type: ignore[no-untyped-def]
    fitted, (profile, _) = load_profile(MEGATRON), carried
    for key in ("host.launch_s", "host.per_layer_s", "host.per_step_s"):
        assert profile.params()[key] == fitted.params()[key], key
    assert profile.behaviours == fitted.behaviours and profile.memory_utilization == fitted.memory_utilization


def test_efficiencies_stay_fractions_of_the_new_datasheet(carried) -> None:  # type: ignore[no-untyped-def]
    fitted, (profile, _) = load_profile(MEGATRON), carried
    for key in ("gemm.peak_fraction", "gemm.bandwidth_fraction", "attention.decode_bandwidth_fraction"):
        assert profile.params()[key] == fitted.params()[key], key


def test_half_saturation_sizes_follow_the_ridge_point_and_the_bandwidth(carried) -> None:  # type: ignore[no-untyped-def]
    fitted, (profile, _) = load_profile(MEGATRON).params(), carried
    params = profile.params()
    ridge = V100_RIDGE / A100_RIDGE  # 0.908: V100 turns compute-bound at 139 FLOP/B, A100 at 153
    for key in ("gemm.m_half", "gemm.n_half", "gemm.k_half", "attention.prefill_seq_half"):
        assert params[key] == pytest.approx(fitted[key] * ridge, rel=1e-12), key
    assert params["attention.decode_context_half"] == pytest.approx(
        fitted["attention.decode_context_half"] * V100_OVER_A100_BANDWIDTH, rel=1e-12
    )


def test_latencies_without_a_datasheet_figure_are_carried_and_named(carried) -> None:  # type: ignore[no-untyped-def]
    fitted, (profile, note) = load_profile(MEGATRON).params(), carried
    for key in ("gemm.kernel_latency_s", "collective.latency_s", "collective.inter_node_latency_s"):
        assert profile.params()[key] == fitted[key]
        assert key in note
    assert "transferred from a100-sxm-80gb to v100-sxm-32gb" in note and "kept (software)" in note


def test_on_its_own_hardware_the_profile_is_untouched() -> None:
    profile, note = resolve_profile(MEGATRON, "a100-sxm-80gb")
    assert profile == load_profile(MEGATRON) and "transferred" not in note
    assert resolve_profile("ideal", "v100-sxm-32gb")[0] == IDEAL  # not fitted: nothing to carry
    assert resolve_profile("derated", "v100-sxm-32gb")[0] == load_profile("derated")


def test_every_profile_constant_is_classified() -> None:
    """A new profile constant must be declared hardware-bound (and how it scales) or software."""
    assert set(IDEAL.params()) == set(RULES)


def test_estimate_reports_the_transfer_as_an_extrapolation() -> None:
    inputs = EstimateInputs("gpt-j-6b", "v100-sxm-32gb", 512, 32, weights_dtype="fp16", profile=MEGATRON)
    record = estimate_record(*run_estimate(inputs))
    assert any("fitted on a100-sxm-80gb" in warning for warning in record["extrapolation"])
    assert "transferred from a100-sxm-80gb" in record["profile_note"]
    same = EstimateInputs("gpt-j-6b", "a100-sxm-80gb", 512, 32, weights_dtype="fp16", profile=MEGATRON)
    assert not any("fitted on" in warning for warning in estimate_record(*run_estimate(same))["extrapolation"])


def test_device_time_slows_by_at_most_the_datasheet_ratios() -> None:
    """With efficiencies kept as fractions, a GEMM-heavy prefill slows by at most the fp16 peak ratio 312/125 = 2.5
    and the decode steps' device time by at most the HBM ratio 2039/900 = 2.27 (bytes-bound at batch 1); the carried
    latencies do not scale, so both slow by less, but by most of it. (The batch-1 decode step itself is launch-bound
    under this profile, and the kept host constants barely change it.)"""
    profile = load_profile(MEGATRON)
    a100 = simulate(deployment("gpt-j-6b", "a100-sxm-80gb", weights_dtype="fp16"), profile, 1, 512, 64)
    v100_profile, _ = resolve_profile(MEGATRON, "v100-sxm-32gb")
    v100 = simulate(deployment("gpt-j-6b", "v100-sxm-32gb", weights_dtype="fp16"), v100_profile, 1, 512, 64)
    prefill = float(v100.ttft_s[0] / a100.ttft_s[0])
    decode_device = float(np.sum(v100.decode.device_busy) / np.sum(a100.decode.device_busy))
    assert 1.5 < prefill <= 312 / 125
    assert 1.5 < decode_device <= 1 / V100_OVER_A100_BANDWIDTH


def test_the_dgx2_runs_tensor_parallelism_16_inside_one_server() -> None:
    dgx2 = load_hardware("v100-sxm3-32gb-dgx2")
    assert dgx2.devices_per_node == 16 and dgx2.intra_node_bandwidth_gb_s == 150
    d = deployment("gpt3-175b", "v100-sxm3-32gb-dgx2", tp=16, weights_dtype="fp16")
    assert not d.crosses_nodes(16)
    profile, _ = resolve_profile(MEGATRON, dgx2)
    with pytest.raises(UserError, match="16 devices span more than one v100-sxm-32gb node"):
        deployment("gpt3-175b", "v100-sxm-32gb", tp=16, weights_dtype="fp16")  # the DGX-1-style server cannot
    sim = simulate(d, profile, 1, 512, 32)
    assert bool(sim.memory.fits[0]) and np.isfinite(sim.e2e_s[0]) and sim.e2e_s[0] > 0
    # 350 GB of fp16 weights do not fit on 8 of its 32 GB GPUs
    assert not bool(simulate(deployment("gpt3-175b", "v100-sxm3-32gb-dgx2", tp=8), profile, 1, 512, 32).memory.fits[0])
