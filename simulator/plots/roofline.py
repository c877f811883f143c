"""A roofline chart of the hardware with the model's ops placed on it, one marker per op per phase.

x = arithmetic intensity (FLOP per byte moved to or from HBM), y = attained FLOP/s per device (the op's FLOPs on
one device over its time). Roofs: each distinct math peak the ops use (tensor and vector rates) and the HBM
bandwidth line. Collectives have no FLOPs and are left out (they show in the time breakdown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from idealrt.simulator.op_kinds import MathPrecision
from idealrt.simulator.plots.figure import new_figure, save_png, simulation_title
from idealrt.simulator.report import op_rows
from idealrt.simulator.simulation import Simulation

PHASE_MARKERS = {"prefill": "o", "decode": "^"}
CLASS_COLORS = {"gemm": "tab:blue", "attention": "tab:red", "elementwise": "tab:green"}
PRECISION_LABELS = {
    MathPrecision.COMPUTE: "compute dtype",
    MathPrecision.HIGH: "16-bit",
    MathPrecision.VECTOR: "fp32 vector",
}


def compute_roofs(sim: Simulation) -> dict[str, float]:
    """{label: FLOP/s} for each distinct peak the deployment's ops can run at."""
    roofs: dict[str, float] = {}
    for precision, label in PRECISION_LABELS.items():
        peak = sim.deployment.peak_flops(precision)
        if peak not in roofs.values():
            roofs[f"{label} peak {peak / 1e12:.4g} TFLOP/s"] = peak
    return roofs


def placed_ops(sim: Simulation, case: int = 0) -> list[dict[str, Any]]:
    """The op rows that have FLOPs, bytes and time, with their attained FLOP/s per device."""
    devices = sim.prefill_counts.devices_per_op
    placed = []
    for row in op_rows(sim, case):
        if row["flops"] > 0 and row["bytes"] > 0 and row["time_s"] > 0:
            placed.append(row | {"attained_flops_per_s": row["flops"] / devices / row["time_s"]})
    return placed


def plot_roofline(sim: Simulation, path: str | Path, case: int = 0) -> Path:
    ops = placed_ops(sim, case)
    bandwidth = sim.deployment.hardware.hbm_bytes_per_s
    roofs = compute_roofs(sim)
    intensities = [float(op["arithmetic_intensity"]) for op in ops] or [1.0]
    x = np.logspace(np.log10(min(intensities) / 4), np.log10(max(max(intensities) * 4, 1e4)), 200)
    figure = new_figure(10.0, 7.0)
    axes = figure.add_subplot()
    top = max(roofs.values())
    axes.plot(x, np.minimum(top, x * bandwidth), color="black", label=f"HBM bandwidth {bandwidth / 1e12:.3g} TB/s")
    for (label, peak), style in zip(roofs.items(), ("-", "-.", ":"), strict=False):
        ridge = x[x * bandwidth >= peak]  # right of the ridge point peak / bandwidth
        axes.plot(ridge, np.full_like(ridge, peak), color="dimgray", linestyle=style, linewidth=1.5, label=label)
    seen: set[tuple[str, str]] = set()
    for op in ops:
        key = (str(op["phase"]), str(op["op_class"]))
        axes.scatter(
            op["arithmetic_intensity"],
            op["attained_flops_per_s"],
            marker=PHASE_MARKERS[key[0]],
            color=CLASS_COLORS.get(key[1], "tab:gray"),
            s=40,
            zorder=3,
            label=None if key in seen else f"{key[0]} {key[1]}",
        )
        seen.add(key)
    for (x_at, y_at), names in _labels(ops).items():
        axes.annotate(", ".join(names), (x_at, y_at), fontsize=6, xytext=(4, -3), textcoords="offset points")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("arithmetic intensity (FLOP/byte of HBM traffic)")
    axes.set_ylabel("attained FLOP/s per device")
    axes.set_title(f"Roofline — {simulation_title(sim, case)}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    return save_png(figure, path)


def _labels(ops: list[dict[str, Any]]) -> dict[tuple[float, float], list[str]]:
    """One label per spot: ops that land within ~10 % of each other share it ('name (p)' prefill, '(d)' decode)."""
    spots: dict[tuple[float, float], list[str]] = {}
    where: dict[tuple[float, float], tuple[float, float]] = {}
    for op in ops:
        x, y = float(op["arithmetic_intensity"]), float(op["attained_flops_per_s"])
        spot = (round(float(np.log10(x)), 1), round(float(np.log10(y)), 1))
        where.setdefault(spot, (x, y))
        spots.setdefault(spot, []).append(f"{op['name']} ({str(op['phase'])[0]})")
    return {where[spot]: names for spot, names in spots.items()}
