"""`serve --plot`: each request's latency against its arrival time, and the batch and KV cache over time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from idealrt.simulator.plots.figure import new_figure, save_png

if TYPE_CHECKING:
    from idealrt.simulator.serving.serve import ServeResult


def plot_serve(result: ServeResult, path: str | Path) -> Path:
    record = result.record
    figure = new_figure(10.0, 8.0)
    latency, batch, cache = figure.subplots(3, 1, sharex=True)
    for workload, trace in zip(result.workloads, result.traces, strict=True):
        arrival = workload.arrival_s
        latency.scatter(arrival, trace.first_token_s - arrival, s=4, alpha=0.4, color="tab:blue")
        latency.scatter(arrival, trace.finish_s - arrival, s=4, alpha=0.4, color="tab:orange")
    latency.scatter([], [], s=12, color="tab:blue", label="time to first token")
    latency.scatter([], [], s=12, color="tab:orange", label="end to end")
    latency.set_yscale("log")
    latency.set_ylabel("latency (s)")
    latency.legend(loc="upper left", fontsize="small")
    trace = result.traces[0]
    start = np.asarray(trace.step_start_s)
    batch.step(start, trace.step_running, where="post", linewidth=0.8, label="requests running")
    batch.step(start, trace.step_waiting, where="post", linewidth=0.8, label="requests waiting")
    batch.set_ylabel("replica 1")
    batch.legend(loc="upper left", fontsize="small")
    cache.step(start, 100 * np.asarray(trace.step_kv_tokens) / trace.kv_capacity_tokens, where="post", linewidth=0.8)
    cache.set_ylabel("KV cache used (%)")
    cache.set_ylim(0, 105)
    cache.set_xlabel("time (s)")
    figure.suptitle(
        f"{record['model']} on {record['replicas']} × {record['devices_per_replica']} {record['hardware']}, "
        f"engine {record['engine']}\n{record['workload']}",
        fontsize="medium",
    )
    return save_png(figure, path)


def plot_rate_sweep(curves: dict[str, list[tuple[float, float]]], path: str | Path, title: str) -> Path:
    """One line per layout: (output tokens/s per device, TTFT p99 in s) at increasing arrival rates."""
    figure = new_figure(9.0, 6.0)
    axes = figure.add_subplot()
    for label, points in curves.items():
        throughput, ttft = zip(*points, strict=True)
        axes.plot(throughput, ttft, marker="o", markersize=3.5, linewidth=1.2, label=label)
    axes.set_yscale("log")
    axes.set_xlabel("output tokens/s per device")
    axes.set_ylabel("TTFT p99 (s)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    axes.set_title(title, fontsize="medium")
    return save_png(figure, path)
