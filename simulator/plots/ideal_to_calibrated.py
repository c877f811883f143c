"""From the datasheet roofline to the calibrated prediction: stacked bars of the four parts, per phase."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.simulator.plots.figure import new_figure, save_png, stacked_bars

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
    parts = {label: [float(breakdown.loc[part, column]) for column in COLUMNS] for part, label in PART_LABELS.items()}
    stacked_bars(figure, list(COLUMNS.values()), parts, f"Ideal → calibrated — {title}")
    return save_png(figure, path)
