"""Cost per 1M tokens against end-to-end latency of every planned configuration, the Pareto front highlighted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.simulator.plots.figure import new_figure, save_png


def plot_pareto(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """`frame`: the rows of `simulator.planner.plan.plan_frame` (e2e_s, usd_per_million_tokens, pareto, hardware)."""
    figure = new_figure()
    axes = figure.add_subplot()
    for hardware, rows in frame.groupby("hardware", sort=True):
        axes.scatter(rows["e2e_s"], rows["usd_per_million_tokens"], s=22, alpha=0.55, label=f"{hardware}")
    front = frame[frame["pareto"]].sort_values("e2e_s")
    axes.step(
        front["e2e_s"],
        front["usd_per_million_tokens"],
        where="post",
        color="black",
        linewidth=1.2,
        label=f"Pareto front ({len(front)} configurations)",
    )
    axes.scatter(
        front["e2e_s"], front["usd_per_million_tokens"], s=70, facecolors="none", edgecolors="black", linewidths=1.4
    )
    for _, row in front.iterrows():
        layout = f"tp{row['tp']}·pp{row['pp']}" + (f"·ep{row['ep']}" if row["ep"] > 1 else "")
        axes.annotate(
            f"{row['hardware']} {row['devices']}× {layout}, b={row['batch']}",
            (row["e2e_s"], row["usd_per_million_tokens"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize="x-small",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("end-to-end latency of a request (seconds, log scale)")
    axes.set_ylabel("cost (US$ per 1M input + output tokens, log scale)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    return save_png(figure, path)
