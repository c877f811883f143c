"""From the datasheet roofline to the calibrated prediction: stacked bars of the four parts, per phase."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.plots.figure import duration_label, new_figure, save_png

PART_LABELS = {
    "roofline": "datasheet roofline (ideal profile)",
    "kernel_inefficiency": "kernel inefficiency",
    "launch_host_overhead": "kernel latency + host overhead",
    "communication": "communication",
}
COLUMNS = {"prefill_s": "prefill", "decode_s": "decode (all steps)", "e2e_s": "end to end"}


def plot_ideal_to_calibrated(breakdown: pd.DataFrame, path: str | Path, title: str) -> Path:
    """`breakdown`: the frame of `simulator.planner.breakdown.ideal_to_calibrated`."""
    figure = new_figure(8.0, 6.0)
    axes = figure.add_subplot()
    labels = list(COLUMNS.values())
    bottoms = [0.0] * len(COLUMNS)
    for part, label in PART_LABELS.items():
        heights = [float(breakdown.loc[part, column]) for column in COLUMNS]
        axes.bar(labels, heights, bottom=bottoms, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, total in enumerate(bottoms):
        axes.annotate(duration_label(total), (x, total), ha="center", va="bottom")
    axes.set_ylim(0, 1.35 * max(bottoms))  # room for the legend above the bars
    axes.set_ylabel("time (seconds)")
    axes.set_title(f"Ideal → calibrated — {title}")
    axes.legend(loc="upper left")
    return save_png(figure, path)
