"""Where each phase's time goes: stacked bars of op classes plus the time the device waits for the host."""

from __future__ import annotations

from pathlib import Path

from idealrt.simulator.plots.figure import new_figure, save_png, simulation_title, stacked_bars
from idealrt.simulator.report import host_overhead_s, op_rows
from idealrt.simulator.simulation import Simulation

OP_CLASSES = ("gemm", "attention", "elementwise", "collective")
PHASES = ("prefill", "decode")


def phase_times_by_class(sim: Simulation, case: int = 0) -> dict[str, dict[str, float]]:
    """{phase: {op class…, 'host overhead': seconds}}; each phase's entries add up to its time."""
    rows = op_rows(sim, case)
    idle = {
        "prefill": host_overhead_s(sim.prefill, case),
        "decode": host_overhead_s(sim.decode, case, sim.decode_step_weights[case]),
    }
    times: dict[str, dict[str, float]] = {}
    for phase in PHASES:
        by_class = {name: 0.0 for name in OP_CLASSES}
        for row in rows:
            if row["phase"] == phase:
                by_class[row["op_class"]] += row["time_s"]
        times[phase] = by_class | {"host overhead": idle[phase]}
    return times


def plot_time_breakdown(sim: Simulation, path: str | Path, case: int = 0) -> Path:
    times = phase_times_by_class(sim, case)
    figure = new_figure(8.0, 6.0)
    steps = int(sim.output[case]) - 1
    labels = ["prefill (one pass)", f"decode ({steps} steps)"]
    parts = {part: [times[phase][part] for phase in PHASES] for part in (*OP_CLASSES, "host overhead")}
    stacked_bars(figure, labels, parts, f"Time by op class — {simulation_title(sim, case)}")
    return save_png(figure, path)
