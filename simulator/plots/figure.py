"""A new figure and writing it as PNG: the two steps every plot module shares."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError, shown
from idealrt.simulator.simulation import Simulation

DPI = 120


def new_figure(width_in: float = 9.0, height_in: float = 6.0) -> Figure:
    """Fixed margins with room for a two-line title (a layout engine costs seconds on log axes)."""
    figure = Figure(figsize=(width_in, height_in))
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.09, top=0.88)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write the figure to `path` (parent folders created) and return the path."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png", dpi=DPI)
    except OSError as exc:
        raise UserError(f"cannot write the plot '{shown(str(target))}': {exc.strerror or exc}") from None
    return target


def duration_label(seconds: float) -> str:
    """1.234 → '1.23 s', 0.0123 → '12.3 ms'."""
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"


def case_title(deployment: Deployment, profile_name: str, batch: int, prompt: int, output: int) -> str:
    """Two title lines naming the configuration, so a figure reads without the terminal."""
    d = deployment
    return (
        f"{d.model.id} on {d.n_accelerators}× {d.hardware.id} (tp {d.tp}, pp {d.pp})\n"
        f"batch {batch}, prompt {prompt}, output {output}, profile '{profile_name}'"
    )


def simulation_title(sim: Simulation, case: int = 0) -> str:
    return case_title(
        sim.deployment, sim.profile.name, int(sim.batch[case]), int(sim.prompt[case]), int(sim.output[case])
    )


def stacked_bars(figure: Figure, labels: list[str], parts: dict[str, list[float]], title: str) -> None:
    """One bar per label, stacked by part (legend: the part names), totals annotated on top, in seconds."""
    axes = figure.add_subplot()
    bottoms = [0.0] * len(labels)
    for part, heights in parts.items():
        axes.bar(labels, heights, bottom=bottoms, label=part)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, total in enumerate(bottoms):
        axes.annotate(duration_label(total), (x, total), ha="center", va="bottom")
    axes.set_ylim(0, 1.35 * max(bottoms))  # room for the legend above the bars
    axes.set_ylabel("time (seconds)")
    axes.set_title(title)
    axes.legend(loc="upper left")
