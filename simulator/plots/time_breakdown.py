"""Where each phase's time goes: stacked bars of op classes plus the time the device waits for the host."""

from __future__ import annotations

from pathlib import Path

from simulator.plots.figure import duration_label, new_figure, save_png, simulation_title
from simulator.report import host_overhead_s, op_rows
from simulator.simulation import Simulation

OP_CLASSES = ("gemm", "attention", "elementwise", "collective")
PHASES = ("prefill", "decode")


def phase_times_by_class(sim: Simulation, case: int = 0) -> dict[str, dict[str, float]]:
    """{phase: {op class…, 'host overhead': seconds}}; each phase's entries add up to its time."""
    rows = op_rows(sim, case)
    idle = {
        "prefill": host_overhead_s(sim.prefill, case),
        "decode": host_overhead_s(sim.decode, case, sim.decode_steps_per_node[case]),
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
    axes = figure.add_subplot()
    steps = int(sim.output[case]) - 1
    labels = ["prefill (one pass)", f"decode ({steps} steps)"]
    bottoms = [0.0, 0.0]
    for part in (*OP_CLASSES, "host overhead"):
        heights = [times[phase][part] for phase in PHASES]
        axes.bar(labels, heights, bottom=bottoms, label=part)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, total in enumerate(bottoms):
        axes.annotate(duration_label(total), (x, total), ha="center", va="bottom")
    axes.set_ylim(0, 1.35 * max(bottoms))  # room for the legend above the bars
    axes.set_ylabel("time (seconds)")
    axes.set_title(f"Time by op class — {simulation_title(sim, case)}")
    axes.legend(loc="upper left")
    return save_png(figure, path)

