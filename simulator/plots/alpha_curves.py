"""α_p against prompt size for several models: the paper's prompt-encoding-plus-first-token time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from idealrt.simulator.planner.idealized import PAPER_NAMES, IdealizedRuntime
from idealrt.simulator.plots.figure import new_figure, save_png


def plot_alpha_curves(runtimes: Sequence[IdealizedRuntime], path: str | Path, title_note: str = "") -> Path:
    """One line per model (legend: name, devices, β); log-scaled seconds against prompt tokens."""
    figure = new_figure()
    axes = figure.add_subplot()
    for runtime in runtimes:
        d = runtime.deployment
        name = PAPER_NAMES.get(d.model.id, d.model.id)
        label = f"{name}: {d.n_accelerators}× (tp {d.tp}, pp {d.pp}), β = {runtime.beta_s * 1e3:.3g} ms/token"
        axes.plot(runtime.prompt_sizes, runtime.alpha_s, marker=".", label=label)
    axes.set_yscale("log")
    axes.set_xlabel("prompt tokens p")
    axes.set_ylabel("α_p: prompt encoding + first token (seconds, log scale)")
    hardware = runtimes[0].deployment.hardware.id if runtimes else "?"
    profile = runtimes[0].profile.name if runtimes else "?"
    title = f"Idealized α_p at batch 1 on {hardware}, profile '{profile}'"
    axes.set_title(title + (f"\n{title_note}" if title_note else ""))
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    return save_png(figure, path)
