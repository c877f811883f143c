"""Predicted against measured, log-log, one colour per data group: the validation report's figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_scatter(points: list[tuple[np.ndarray, np.ndarray, str]], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 8), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    sections = sorted({label.split(":")[0] for _, _, label in points})
    colours = {section: f"C{i}" for i, section in enumerate(sections)}
    for section in sections:
        measured = np.concatenate([m for m, _, label in points if label.startswith(section + ":")])
        predicted = np.concatenate([p for _, p, label in points if label.startswith(section + ":")])
        axes.scatter(measured, predicted, s=4, alpha=0.35, color=colours[section], label=f"{section} ({measured.size})")
    every = np.concatenate([np.concatenate([m, p]) for m, p, _ in points])
    low, high = every.min() / 1.5, every.max() * 1.5
    axes.plot([low, high], [low, high], color="black", linewidth=1, label="predicted = measured")
    for factor in (0.5, 2.0):
        axes.plot([low, high], [low * factor, high * factor], color="grey", linewidth=0.7, linestyle="--")
    axes.set(
        xscale="log",
        yscale="log",
        xlim=(low, high),
        ylim=(low, high),
        xlabel="measured time (s)",
        ylabel="predicted time (s)",
        title="idealrt: held-out predictions vs measurements\n(dashed: ×2 and ×½)",
    )
    axes.legend(loc="upper left", markerscale=4)
    axes.grid(True, which="major", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
