"""The host/device critical-path algebra against an explicit networkx graph, and the profile's time terms."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from conftest import deployment

from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import simulate
from idealrt.simulator.timing import compose, repeat, segment


def longest_path(host: list[float], device: list[float], start_host: float = 0.0, start_device: float = 0.0) -> float:
    """Device finish time on an explicit DAG: host launches in a chain, device kernels in a chain, and kernel i
    waits for launch i. Edge weights are the duration of the node they enter."""
    graph = nx.DiGraph()
    graph.add_edge("start", "H0", weight=start_host + host[0])
    graph.add_edge("start", "D_prev", weight=start_device)
    for i, (h, d) in enumerate(zip(host, device, strict=True)):
        if i:
            graph.add_edge(f"H{i - 1}", f"H{i}", weight=h)
        graph.add_edge(f"H{i}", f"D{i}", weight=d)
        graph.add_edge(f"D{i - 1}" if i else "D_prev", f"D{i}", weight=d)
    return nx.dag_longest_path_length(graph, weight="weight") if len(host) else start_device


@pytest.mark.parametrize("seed", range(20))
def test_segment_critical_path_matches_the_explicit_graph(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    host, device = list(rng.exponential(1.0, n)), list(rng.exponential(1.0, n))
    assert segment(host, device, np).critical == pytest.approx(longest_path(host, device))


@pytest.mark.parametrize("seed", range(10))
def test_segments_compose_like_concatenated_op_lists(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    host_a, device_a = list(rng.exponential(1.0, 7)), list(rng.exponential(1.0, 7))
    host_b, device_b = list(rng.exponential(1.0, 5)), list(rng.exponential(1.0, 5))
    joined = compose(segment(host_a, device_a, np), segment(host_b, device_b, np), np)
    assert joined.critical == pytest.approx(longest_path(host_a + host_b, device_a + device_b))


@pytest.mark.parametrize("times", [1, 2, 5, 40])
def test_repeated_layers_collapse_in_closed_form(times: int) -> None:
    rng = np.random.default_rng(times)
    host, device = list(rng.exponential(1.0, 6)), list(rng.exponential(1.2, 6))
    collapsed = repeat(segment(host, device, np), times, np)
    assert collapsed.critical == pytest.approx(longest_path(host * times, device * times))


def test_without_host_costs_the_critical_path_is_the_sum_of_device_times() -> None:
    device = [0.5, 2.0, 1.5]
    assert segment([0.0, 0.0, 0.0], device, np).critical == pytest.approx(sum(device))


def test_launch_bound_steps_cost_the_host_path() -> None:
    # A tiny model at batch 1: kernels take less time than launching them, so the step costs the launches.
    d = deployment("gpt3-350m", "a100-sxm-80gb")
    launch = 20e-6
    profile = IDEAL.with_params({"host.launch_s": launch})
    sim = simulate(d, profile, 1, 8, 2)
    kernels = sum(runs for _, _, runs, _ in sim.decode.op_times())
    device_busy = float(np.asarray(sim.decode.device_busy)[0, 0])
    assert device_busy < kernels * launch
    assert float(sim.tpot_s[0]) == pytest.approx(kernels * launch, rel=0.02)


def test_host_overhead_adds_per_layer_and_per_step() -> None:
    d = deployment("gpt3-350m", "a100-sxm-80gb")
    base = simulate(d, IDEAL, 1, 8, 2)
    slow = simulate(d, IDEAL.with_params({"host.per_layer_s": 1e-3, "host.per_step_s": 2e-3}), 1, 8, 2)
    layers = d.model.num_layers
    assert float(slow.tpot_s[0]) == pytest.approx(layers * 1e-3 + 2e-3, rel=0.01)
    assert float(base.tpot_s[0]) < 1e-3


def test_host_per_token_work_scales_with_the_tokens_a_pass_takes_in() -> None:
    """A prefill pays it for every prompt token of every sequence, a decode step for one token per sequence; it
    comes before the first launch, so device work does not hide it."""
    d = deployment("gpt3-350m", "a100-sxm-80gb")
    per_token = 1e-5
    batch, prompt = np.array([1.0, 4.0]), np.array([512.0, 128.0])
    base = simulate(d, IDEAL, batch, prompt, 4)
    slow = simulate(d, IDEAL.with_params({"host.per_token_s": per_token}), batch, prompt, 4)
    np.testing.assert_allclose(slow.ttft_s - base.ttft_s, per_token * batch * prompt, rtol=1e-9)
    np.testing.assert_allclose(slow.tpot_s - base.tpot_s, per_token * batch, rtol=1e-9)


def test_host_first_pass_work_is_charged_in_every_layer_of_the_prefill_only() -> None:
    """A stack that allocates each layer's KV cache when a request's first pass reaches it pays that in the
    prefill, once per layer, and never in a decode step."""
    d = deployment("gpt3-350m", "a100-sxm-80gb")
    base = simulate(d, IDEAL, 1, 8, 2)
    slow = simulate(d, IDEAL.with_params({"host.first_pass_per_layer_s": 1e-3}), 1, 8, 2)
    assert float(slow.ttft_s[0]) == pytest.approx(d.model.num_layers * 1e-3, rel=0.01)  # the host path binds
    assert float(base.ttft_s[0]) < 1e-3
    assert float(slow.tpot_s[0]) == float(base.tpot_s[0])


def test_gemm_efficiency_curve_slows_small_token_counts() -> None:
    from idealrt.simulator.timing import gemm_time

    params = IDEAL.with_params({"gemm.m_half": 64.0}).params()
    small = gemm_time(2 * 8 * 4096 * 4096, 0.0, 8.0, 4096.0, 4096.0, 1e15, 1e12, params, np)
    large = gemm_time(2 * 8192 * 4096 * 4096, 0.0, 8192.0, 4096.0, 4096.0, 1e15, 1e12, params, np)
    assert small.compute / (2 * 8 * 4096 * 4096) == pytest.approx(9 / 1e15)  # 8/(8+64) efficiency
    assert large.compute / (2 * 8192 * 4096 * 4096) == pytest.approx((8192 + 64) / 8192 / 1e15)


def test_a_kernel_that_does_not_overlap_loads_with_math_pays_both() -> None:
    from idealrt.simulator.timing import gemm_time

    flops, moved = 2 * 16 * 2048 * 2048, 4 * 2048 * 2048  # fp32 weight, M = 16
    overlapped = gemm_time(flops, moved, 16.0, 2048.0, 2048.0, 6e10, 1.4e10, IDEAL.params(), np)
    serial = IDEAL.with_params({"gemm.overlap_fraction": 0.0}).params()
    one_after_the_other = gemm_time(flops, moved, 16.0, 2048.0, 2048.0, 6e10, 1.4e10, serial, np)
    assert overlapped.total == pytest.approx(max(flops / 6e10, moved / 1.4e10))
    assert one_after_the_other.total == pytest.approx(flops / 6e10 + moved / 1.4e10)


def test_a_matrix_vector_product_streams_its_weight_on_its_own_path() -> None:
    from idealrt.simulator.timing import gemm_time

    params = IDEAL.with_params({"gemm.matrix_vector_fraction": 0.5, "gemm.matrix_vector_k_half": 512.0}).params()
    moved = 4 * 2048 * 512

    def memory_s(m: float) -> float:
        return float(gemm_time(2 * m * 2048 * 512, moved, m, 2048.0, 512.0, 6e10, 1.4e10, params, np).memory)

    assert memory_s(1.0) == pytest.approx(moved / 1.4e10 * 0.5 * (512 + 512) / 512)  # the GEMV kernel
    assert memory_s(2.0) == pytest.approx(moved / 1.4e10)  # M > 1: the GEMM path, unchanged


def test_decode_attention_is_bound_by_its_math_where_the_kernel_runs_it_slowly() -> None:
    from idealrt.simulator.timing import attention_time

    # GQA decode, batch 8, 8 query heads over 2 K/V heads, context 1024, fp32: 16.8 MFLOP, 8.4 MB of cache
    flops, cache_bytes = 4 * 8 * 8 * 1024 * 64, 2 * 8 * 2 * 1024 * 64 * 4

    def decode_s(params: dict[str, float]) -> float:
        time = attention_time(
            flops, cache_bytes, 1.0, 1024.0, True, 5.9e10, 1.4e10, params, np, cache_bytes=cache_bytes
        )
        return float(time.total)

    assert decode_s(IDEAL.params()) == pytest.approx(cache_bytes / 1.4e10)  # at the full peak the read bounds it
    slow_math = IDEAL.with_params({"attention.decode_peak_fraction": 0.15}).params()
    assert decode_s(slow_math) == pytest.approx(flops / (5.9e10 * 0.15))


def test_elementwise_operands_that_fit_in_half_the_cache_stream_at_its_rate() -> None:
    from idealrt.simulator.timing import CacheLevel, elementwise_time

    params = IDEAL.params()
    cache = CacheLevel(resident_bytes=16e6, bandwidth=6e10)  # a 32 MB last-level cache at 60 GB/s

    def memory_s(moved: float, level: CacheLevel | None) -> float:
        return float(elementwise_time(0.0, moved, 6e10, 1.5e10, params, np, cache=level).memory)

    assert memory_s(8e6, cache) == pytest.approx(8e6 / 6e10)  # activations the previous op just wrote
    assert memory_s(64e6, cache) == pytest.approx(64e6 / 1.5e10)  # spilled: DRAM
    assert memory_s(8e6, None) == pytest.approx(8e6 / 1.5e10)  # a spec without a cache rate: DRAM throughout


def test_a_spec_gives_elementwise_ops_a_cache_only_with_both_its_size_and_rate() -> None:
    from idealrt.simulator.deployment import elementwise_cache
    from idealrt.simulator.hardware import load_hardware

    a100 = load_hardware("a100-sxm-80gb")
    assert a100.l2_mb is not None and elementwise_cache(a100) is None  # GPU profiles: the HBM rate, unchanged
    cpu = a100.model_copy(update={"cache_bandwidth_gb_s": 60.0})
    level = elementwise_cache(cpu)
    assert level is not None and level.resident_bytes == a100.l2_mb * 1e6 / 2 and level.bandwidth == 6e10
