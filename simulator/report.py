"""Per-op breakdown of a simulation: where the FLOPs, the bytes and the time go, and what bounds each op."""

from __future__ import annotations

from typing import Any

import numpy as np

from idealrt.simulator.counting import PassCounts
from idealrt.simulator.pass_timing import PassTime
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import Simulation, simulate

BOUND_TERMS = ("compute", "memory", "comm", "overhead")


def op_rows(sim: Simulation, case: int = 0) -> list[dict[str, Any]]:
    """One row per (phase, op name) for one case; decode rows sum over all output − 1 steps.

    `time_s` is device time along the pipeline path (per device, every layer); `flops`, `bytes` (memory traffic)
    and `wire_bytes` (sent over links by collectives) are summed over all devices. `bound` names the largest of the op's compute, memory, communication and fixed-latency
    terms."""
    decode_weights = sim.decode_step_weights[case]
    rows = _phase_rows("prefill", sim.prefill_counts, sim.prefill, case, None)
    rows += _phase_rows("decode", sim.decode_counts, sim.decode, case, decode_weights)
    return rows


def fused_bound(sim: Simulation, case: int = 0) -> dict[str, float]:
    """The bound of a perfectly fused pass: max(Σ FLOPs / peak, Σ bytes / HBM bandwidth) over the compute and memory
    ops, plus the collectives at link bandwidth, per phase. The `ideal` profile is the per-op roofline of unfused
    kernels, Σ max(FLOPs / peak, bytes / bandwidth), which is never below it; the gap is what fusion could save.
    Returns ttft_s, tpot_s (0 for a single output token) and e2e_s."""
    ideal = sim
    if sim.profile.kind != "ideal":
        ideal = simulate(
            sim.deployment, IDEAL, sim.batch[case], sim.prompt[case], sim.output[case], options=sim.options
        )
        case = 0
    all_rows = op_rows(ideal, case)
    phases = {}
    for phase in ("prefill", "decode"):
        rows = [row for row in all_rows if row["phase"] == phase]
        kernels = [row for row in rows if row["op_class"] != "collective"]
        fused = max(sum(row["compute_s"] for row in kernels), sum(row["memory_s"] for row in kernels))
        phases[phase] = fused + sum(row["time_s"] for row in rows if row["op_class"] == "collective")
    steps = float(ideal.output[case]) - 1
    return {
        "ttft_s": phases["prefill"],
        "tpot_s": phases["decode"] / steps if steps > 0 else 0.0,
        "e2e_s": phases["prefill"] + phases["decode"],
    }


def host_overhead_s(timing: PassTime, case: int, weights: np.ndarray | None = None) -> float:
    """Time the pass spends beyond its device work: the device idles waiting for the host."""
    idle = np.asarray(timing.total) - np.asarray(timing.device_busy)
    return max(_collapse(idle, case, weights), 0.0)  # a negative value here is floating-point rounding


def _collapse(values: Any, case: int, weights: np.ndarray | None) -> float:
    """The value of one case; decode node arrays are summed with their step counts as weights."""
    row = np.asarray(values)
    row = row[case] if row.ndim >= 1 and row.shape[0] > case else row
    if weights is None:
        return float(np.sum(row))
    return float(np.sum(weights * np.broadcast_to(row, weights.shape)))


def _phase_rows(
    phase: str, counts: PassCounts, timing: PassTime, case: int, weights: np.ndarray | None
) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for op, op_counts, runs, op_time in timing.op_times():
        name = op.name
        row = rows.setdefault(
            name,
            {
                "phase": phase,
                "name": name,
                "op_class": op.op_class.value,
                "description": op.description,
                "runs_per_pass": 0,
                "flops": 0.0,
                "bytes": 0.0,
                "wire_bytes": 0.0,
                "time_s": 0.0,
                "compute_s": 0.0,
                "memory_s": 0.0,
                "comm_s": 0.0,
                "overhead_s": 0.0,
            },
        )
        devices = counts.devices_per_op
        moved = op_counts["bytes_read"] + op_counts["bytes_written"]
        row["runs_per_pass"] += runs
        row["flops"] += runs * devices * _collapse(op_counts["flops"], case, weights)
        row["wire_bytes"] += runs * devices * _collapse(op_counts["wire_bytes"], case, weights)
        row["bytes"] += runs * devices * _collapse(moved, case, weights)
        row["time_s"] += runs * _collapse(op_time.total, case, weights)
        for term, value in zip(
            BOUND_TERMS, (op_time.compute, op_time.memory, op_time.comm, op_time.latency), strict=True
        ):
            row[f"{term}_s"] += runs * _collapse(value, case, weights)
    for row in rows.values():
        row["arithmetic_intensity"] = row["flops"] / row["bytes"] if row["bytes"] else None
        row["bound"] = max(BOUND_TERMS, key=lambda term: row[f"{term}_s"])
    return list(rows.values())
