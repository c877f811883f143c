"""A hardware spec for the measured device, from the sweeps' best rates: the measured peak GEMM rate per dtype
and the measured DRAM/HBM bandwidth stand in for datasheet figures (every source says which are measured)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import yaml

from idealrt.calibration.harness.system import DeviceFacts
from idealrt.calibration.records import OpMeasurement
from idealrt.hardware_specs.schema import CACHE_RESIDENT_SHARE, HardwareSpec

BANDWIDTH_OPS = ("copy", "add")  # preallocated outputs: no allocator or page-fault time in the figure


def measured_gemm_tflops(records: list[OpMeasurement]) -> dict[str, float]:
    """Best 2·M·N·K / median time over the GEMM sweep, per dtype, TFLOP/s."""
    best: dict[str, float] = defaultdict(float)
    for r in records:
        if r.op == "gemm" and r.m and r.n and r.k:
            best[r.dtype] = max(best[r.dtype], 2 * r.m * r.n * r.k * r.groups / r.time_s / 1e12)
    return dict(best)


def measured_bandwidth_gb_s(records: list[OpMeasurement], last_level_cache_bytes: float | None) -> tuple[float, float]:
    """(GB/s, smallest operand in bytes it was taken over): the best bytes_moved / median time of copy and add over
    operands at least 4× the last-level cache (DRAM/HBM rather than cache bandwidth), or over the largest operand
    measured when the sweep stopped short of that."""
    streams = [(moved / _operands(name), rate) for name, moved, rate in _copy_add_rates(records)]
    if not streams:
        raise ValueError("no copy/add measurements; cannot measure memory bandwidth")
    largest = max(size for size, _ in streams)
    floor = min(4 * last_level_cache_bytes, largest) if last_level_cache_bytes else largest
    return max(rate for size, rate in streams if size >= floor), floor


def measured_cache_bandwidth_gb_s(records: list[OpMeasurement], last_level_cache_bytes: float | None) -> float | None:
    """The best bytes_moved / median time of copy and add whose operands all fit in the resident share of the
    last-level cache (the sweep repeats one set of operands, so they stay there), GB/s; None without a known cache
    or such records."""
    if not last_level_cache_bytes:
        return None
    resident = last_level_cache_bytes * CACHE_RESIDENT_SHARE
    return max((rate for _, moved, rate in _copy_add_rates(records) if moved <= resident), default=None)


def _copy_add_rates(records: list[OpMeasurement]) -> list[tuple[str, float, float]]:
    """(name, bytes moved, GB/s) of every copy and add record."""
    return [
        (r.name, r.bytes_moved, r.bytes_moved / r.time_s / 1e9)
        for r in records
        if r.op == "elementwise" and r.name in BANDWIDTH_OPS and r.bytes_moved
    ]


def _operands(name: str) -> int:
    """Tensors of the operand size one op touches: copy reads one and writes one, add reads two and writes one."""
    return {"copy": 2, "add": 3}[name]


def hardware_spec(facts: DeviceFacts, records: list[OpMeasurement], command: str, date: str) -> HardwareSpec:
    measured = f"measured by idealrt calibrate measure on {date}, `{command}`"
    peaks = measured_gemm_tflops(records)
    bandwidth, smallest_operand = measured_bandwidth_gb_s(records, facts.last_level_cache_bytes)
    sources = {
        "memory_gb": facts.memory_source,
        "hbm_bandwidth_gb_s": f"{measured}: best copy/add rate over operands of at least "
        f"{smallest_operand / 1e6:g} MB (last-level cache: {_megabytes(facts.last_level_cache_bytes)})",
        "peak_tflops": f"{measured}: best GEMM rate per dtype (torch F.linear"
        + (", torch._scaled_mm for fp8" if "fp8" in peaks else "")
        + "), not a datasheet peak",
        "devices_per_node": "one device measured",
    }
    if facts.last_level_cache_bytes:
        sources["l2_mb"] = facts.cache_source
    # A CPU's elementwise ops run on activations still in its cache; the GPU profiles are fitted on published
    # kernel timings at the HBM rate.
    cache_bandwidth = (
        measured_cache_bandwidth_gb_s(records, facts.last_level_cache_bytes) if facts.kind == "cpu" else None
    )
    if cache_bandwidth is not None:
        sources["cache_bandwidth_gb_s"] = (
            f"{measured}: best copy/add rate over operands fitting in half the last-level cache"
        )
    if facts.vector_bytes:
        sources["vector_alignment_bytes"] = facts.vector_source
    return HardwareSpec(
        id=_spec_id(facts, date),
        name=facts.name,
        vendor=facts.vendor,
        kind="cpu" if facts.kind == "cpu" else "gpu",
        memory_gb=facts.memory_bytes / 1e9,
        hbm_bandwidth_gb_s=round(bandwidth, 3),
        peak_tflops={dtype: round(value, 6) for dtype, value in sorted(peaks.items())},  # type: ignore[misc]
        l2_mb=facts.last_level_cache_bytes / 1e6 if facts.last_level_cache_bytes else None,
        cache_bandwidth_gb_s=None if cache_bandwidth is None else round(cache_bandwidth, 3),
        devices_per_node=1,
        vector_alignment_bytes=facts.vector_bytes,
        sources=sources,
        notes="Measured figures: peak_tflops (best GEMM rate seen, per dtype), hbm_bandwidth_gb_s (best "
        "streaming copy/add rate) and, on a CPU, cache_bandwidth_gb_s (the same within half the last-level cache). "
        "Name, memory and cache size are read from the system. l2_mb holds the last-level cache."
        + (" On a CPU, fp32 is the FMA vector rate." if facts.kind == "cpu" else ""),
    )


def write_hardware_spec(spec: HardwareSpec, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))


def _megabytes(size: float | None) -> str:
    return "unknown" if size is None else f"{size / 1e6:g} MB"


def _spec_id(facts: DeviceFacts, date: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", facts.name.lower()).strip("-") or facts.kind
    return f"measured-{slug}-{date}"
