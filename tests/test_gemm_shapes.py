"""GEMM shapes are not smooth: tile and wave quantization over the SMs, split-K for few tiles, and the slower path
of shapes whose K or N is not a multiple of the tensor-core alignment — all from the hardware spec."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from idealrt.calibration.fit.kernels import fit_op_class
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.deployment import gemm_geometry
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.profile import IDEAL, load_profile
from idealrt.simulator.timing import GemmGeometry, _best_tile_by_rows, gemm_time, tile_efficiency

A100 = load_hardware("a100-sxm-80gb")
A100_PEAK, A100_BANDWIDTH = 312e12, 2039e9


def compute_time(m: float, n: float, k: float, params: dict[str, float], geometry: GemmGeometry | None) -> float:
    """Compute-bound time (no bytes) of an fp16 GEMM on the A100."""
    return float(gemm_time(2 * m * n * k, 0.0, m, n, k, A100_PEAK, A100_BANDWIDTH, params, np, geometry).compute)


def test_the_spec_gives_the_tiling_in_elements_of_the_math_dtype() -> None:
    fp16 = gemm_geometry(A100, 2.0)
    assert fp16 is not None
    assert fp16.processors == 108 and fp16.alignment_elements == 8  # 16 bytes = 8 fp16 elements
    fp8 = gemm_geometry(load_hardware("h100-sxm"), 1.0)
    assert fp8 is not None and fp8.alignment_elements == 16 and fp8.processors == 132
    assert gemm_geometry(load_hardware("mi300x"), 2.0) is None  # no tiling in that spec: the smooth curve alone


def test_the_ideal_profile_ignores_the_discrete_effects() -> None:
    """Quantization costs nothing in `ideal`, so it stays a lower bound."""
    geometry = gemm_geometry(A100, 2.0)
    params = IDEAL.params()
    for m, n, k in ((1, 4095, 4096), (129, 4096, 4096), (8192, 27308 // 4, 8192)):
        assert compute_time(m, n, k, params, geometry) == pytest.approx(compute_time(m, n, k, params, None))


def test_tile_quantization_charges_a_padded_tile() -> None:
    """With the padding fully charged, M = 129 costs what M = 256 costs: two rows of 128-row tiles."""
    geometry = GemmGeometry(processors=1, tiles=((128, 128),), alignment_elements=8)
    params = IDEAL.with_params({"gemm.padding_exponent": 1.0}).params()
    assert compute_time(129, 4096, 4096, params, geometry) == pytest.approx(compute_time(256, 4096, 4096, params, None))


def test_wave_quantization_charges_a_partial_wave() -> None:
    """109 output tiles on 108 SMs run in two waves: the efficiency of 109 / 216 of the SM-time used."""
    geometry = GemmGeometry(processors=108, tiles=((128, 128),), alignment_elements=8)
    params = IDEAL.with_params({"gemm.padding_exponent": 1.0, "gemm.split_k_min_depth": 1e9}).params()
    m, n = 128.0, 109 * 128.0
    efficiency = float(tile_efficiency(np.float64(m), np.float64(n), np.float64(4096.0), geometry, params, np))
    assert efficiency == pytest.approx(109 / 216)


def test_split_k_fills_idle_sms_when_m_and_n_make_few_tiles() -> None:
    """8 tiles on 108 SMs: K = 8192 is cut in floor(108 / 8) = 13 slices of ≥ 256, using 104 of 108 SMs."""
    geometry = GemmGeometry(processors=108, tiles=((128, 128),), alignment_elements=8)
    params = IDEAL.with_params({"gemm.padding_exponent": 1.0}).params()
    m, n, k = np.float64(128.0), np.float64(8 * 128.0), np.float64(8192.0)
    assert float(tile_efficiency(m, n, k, geometry, params, np)) == pytest.approx(104 / 108)
    no_split = IDEAL.with_params({"gemm.padding_exponent": 1.0, "gemm.split_k_min_depth": 1e9}).params()
    assert float(tile_efficiency(m, n, k, geometry, no_split, np)) == pytest.approx(8 / 108)


def test_shipped_kernel_profiles_charge_quantization() -> None:
    """Fitted on Vidur's GEMMs: one token more than a whole tile costs more than its share of FLOPs."""
    for hardware in ("a100-sxm-80gb", "h100-sxm"):
        params = load_profile(f"{hardware}-kernels").params()
        geometry = gemm_geometry(load_hardware(hardware), 2.0)
        per_row = [compute_time(m, 8192, 8192, params, geometry) / m for m in (256, 257)]
        assert per_row[1] > per_row[0] * 1.002, hardware


def synthetic_gemms(true_factor: float) -> list[OpMeasurement]:
    """Compute-bound A100 GEMMs, a third of them with N or K one below a multiple of 8, timed by a profile whose
    unaligned path runs at `true_factor` of the aligned efficiency."""
    truth = IDEAL.with_params(
        {"gemm.peak_fraction": 0.8, "gemm.unaligned_fraction": true_factor, "gemm.kernel_latency_s": 5e-6}
    ).params()
    geometry = gemm_geometry(A100, 2.0)
    records = []
    for m in (512, 2048, 8192):
        for n, k in ((4096, 4096), (4095, 4096), (8192, 8192), (8192, 8191), (12288, 4096), (11007, 4096)):
            flops, moved = 2.0 * m * n * k, 2.0 * (m * k + k * n + m * n)
            time = gemm_time(flops, moved, m, n, k, A100_PEAK, A100_BANDWIDTH, truth, np, geometry).total
            records.append(OpMeasurement(dataset="synthetic", op="gemm", dtype="fp16", m=m, n=n, k=k, time_s=time))
    return records


def test_an_unaligned_shape_is_predicted_slower_than_its_aligned_neighbour_by_the_fitted_factor() -> None:
    pytest.importorskip("jax")
    provenance = {"synthetic": Provenance(dataset="synthetic", citation="test", device="A100", hardware=A100.id)}
    records = synthetic_gemms(true_factor=0.55)
    names = ["gemm.peak_fraction", "gemm.unaligned_fraction", "gemm.kernel_latency_s"]
    fit = fit_op_class(records, provenance, Path("."), IDEAL.params(), "gemm", names)
    factor = fit.constants["gemm.unaligned_fraction"]
    assert factor == pytest.approx(0.55, rel=0.02)
    params = IDEAL.params() | fit.constants
    geometry = gemm_geometry(A100, 2.0)
    aligned = compute_time(4096, 4096, 4096, params, geometry)
    unaligned = compute_time(4096, 4095, 4096, params, geometry)
    # One column fewer, yet slower: the whole GEMM takes the slower path.
    assert unaligned / aligned == pytest.approx((4095 / 4096) / factor, rel=1e-9)
    assert math.isclose(compute_time(4096, 4096, 4088, params, geometry) / aligned, 4088 / 4096, rel_tol=1e-9)


def test_a_cpu_gemm_whose_n_is_not_a_whole_number_of_vectors_takes_the_slower_path() -> None:
    """A CPU spec gives only its SIMD width (AVX2: 32 bytes, 8 fp32 elements): no tiles or waves, and only N must
    be aligned (an unaligned K costs nothing on the measured AVX2 machine)."""
    cpu = A100.model_copy(
        update={"sm_count": None, "gemm_tiles": None, "tensor_core_alignment_bytes": None, "vector_alignment_bytes": 32}
    )
    geometry = gemm_geometry(cpu, 4.0)
    assert geometry is not None and geometry.tiles == () and geometry.alignment_elements == 8
    params = IDEAL.params() | {"gemm.unaligned_fraction": 0.7}
    aligned = compute_time(256, 4088, 1024, params, geometry)
    assert compute_time(256, 4095, 1024, params, geometry) / aligned == pytest.approx(4095 / 4088 / 0.7)
    assert compute_time(256, 4088, 1023, params, geometry) / aligned == pytest.approx(1023 / 1024)
    assert compute_time(256, 4095, 1024, IDEAL.params(), geometry) == pytest.approx(
        compute_time(256, 4095, 1024, IDEAL.params(), None)
    )  # the ideal profile charges no edge path


def fp16_gemm_times(m: np.ndarray, n: np.ndarray, k: np.ndarray, hardware: str, params: dict[str, float]) -> np.ndarray:
    """Total time (latency + max of compute and fp16 operand traffic) of each GEMM on `hardware`."""
    spec = load_hardware(hardware)
    peak = {"a100-sxm-80gb": A100_PEAK, "h100-sxm": 989e12}[hardware]
    bandwidth = {"a100-sxm-80gb": A100_BANDWIDTH, "h100-sxm": 3.35e12}[hardware]
    flops, bytes_moved = 2 * m * n * k, 2.0 * (m * k + k * n + m * n)
    geometry = gemm_geometry(spec, 2.0)
    return np.asarray(gemm_time(flops, bytes_moved, m, n, k, peak, bandwidth, params, np, geometry).total)


def without_divisibility_factors(params: dict[str, float]) -> dict[str, float]:
    """N and K's divisibility (alignment, partition camping) is a measured non-monotone effect; set it aside."""
    return dict(params) | {"gemm.unaligned_fraction": 1.0, "gemm.power_of_two_k_fraction": 1.0}


@pytest.mark.parametrize("hardware", ["a100-sxm-80gb", "h100-sxm"])
def test_gemm_time_never_falls_as_m_grows_across_tile_and_wave_boundaries(hardware: str) -> None:
    """One token more never makes a GEMM faster: M = 1 … 1100 crosses every tile height and, at N = 1024, the
    split-K regime (few tiles) into one and then two full waves; K from a shallow 64 to a deep 8192."""
    params = dict(load_profile(f"{hardware}-kernels").params())
    m = np.arange(1.0, 1101.0)
    for n, k in ((1024.0, 8192.0), (4096.0, 4096.0), (12288.0, 64.0), (50304.0, 768.0)):
        times = fp16_gemm_times(m, np.full_like(m, n), np.full_like(m, k), hardware, params)
        falls = np.flatnonzero(np.diff(times) < -1e-15 * times[1:])
        assert falls.size == 0, f"{hardware} N={n:g} K={k:g}: faster at M={m[falls[0] + 1]:g} than M={m[falls[0]]:g}"


@pytest.mark.parametrize("hardware", ["a100-sxm-80gb", "h100-sxm"])
def test_gemm_time_never_falls_as_n_or_k_grows(hardware: str) -> None:
    """The same in N (across tile widths) and in K (across the split-K slice depth), divisibility aside."""
    params = without_divisibility_factors(load_profile(f"{hardware}-kernels").params())
    sizes = np.arange(8.0, 4104.0, 8.0)
    for m, other in ((1.0, 4096.0), (16.0, 1024.0), (128.0, 256.0), (2048.0, 4096.0)):
        across_n = fp16_gemm_times(np.full_like(sizes, m), sizes, np.full_like(sizes, other), hardware, params)
        across_k = fp16_gemm_times(np.full_like(sizes, m), np.full_like(sizes, other), sizes, hardware, params)
        for name, times in (("N", across_n), ("K", across_k)):
            falls = np.flatnonzero(np.diff(times) < -1e-15 * times[1:])
            assert falls.size == 0, f"{hardware} M={m:g}: faster at {name}={sizes[falls[0] + 1]:g}"


@pytest.mark.parametrize("hardware", ["a100-sxm-80gb", "h100-sxm"])
def test_the_tabulated_tile_search_gives_the_direct_search_bit_for_bit(hardware: str) -> None:
    """A decode step's GEMMs (M a batch, N and K one column per op) take the tabulated path: same numbers."""
    geometry = gemm_geometry(load_hardware(hardware), 2.0)
    assert geometry is not None
    params = load_profile(f"{hardware}-kernels").params()
    m = np.broadcast_to(np.arange(1.0, 2049.0), (3, 2048))
    n = np.array([1024.0, 28672.0, 8200.0]).reshape(3, 1)
    k = np.array([8192.0, 8192.0, 4096.0]).reshape(3, 1)
    assert _best_tile_by_rows(m, n, k, geometry, params) is not None
    tabulated = tile_efficiency(m, n, k, geometry, params, np)
    full_n, full_k = np.broadcast_to(n, m.shape), np.broadcast_to(k, m.shape)
    assert _best_tile_by_rows(m, full_n, full_k, geometry, params) is None
    assert np.array_equal(tabulated, tile_efficiency(m, full_n, full_k, geometry, params, np))
    assert _best_tile_by_rows(m - 0.5, n, k, geometry, params) is None  # M not whole numbers: the direct search
