"""Serving statistics from the replicas' traces: throughput, latency percentiles, batch and KV-cache occupancy.

Definitions (per request): TTFT = first token − arrival (queueing included); TPOT = (finish − first token) /
(output − 1), requests with one output token excluded; E2E = finish − arrival; ITL = the gap between
consecutive tokens of a request, over every token after the first. Throughput = totals over the makespan (first
arrival to last finish). Mean batch (sequences in a step), mean running (requests admitted) and KV occupancy are averages
over time while a replica runs steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from idealrt.simulator.serving.scheduler import ReplicaTrace
from idealrt.simulator.serving.workload import Workload

PERCENTILES = (50, 90, 99)


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value with at least q % of the weight at or below it."""
    if len(values) == 0:
        return 0.0
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q / 100 * cumulative[-1], side="left"))
    return float(values[order][min(index, len(values) - 1)])


def summarize(workloads: list[Workload], traces: list[ReplicaTrace], devices_per_replica: int) -> dict[str, Any]:
    arrival = np.concatenate([w.arrival_s for w in workloads])
    prompt = np.concatenate([w.prompt_tokens for w in workloads]).astype(np.float64)
    output = np.concatenate([w.output_tokens for w in workloads]).astype(np.float64)
    first = np.concatenate([t.first_token_s for t in traces])
    finish = np.concatenate([t.finish_s for t in traces])
    ttft, e2e = first - arrival, finish - arrival
    decoding = output > 1
    tpot = (finish - first)[decoding] / (output[decoding] - 1)
    itl = np.concatenate([np.asarray(t.itl_s) for t in traces])
    itl_weight = np.concatenate([np.asarray(t.itl_weight, dtype=np.float64) for t in traces])
    makespan = float(np.max(finish) - np.min(arrival))
    duration = np.concatenate([np.asarray(t.step_duration_s) for t in traces])
    batch = np.concatenate([np.asarray(t.step_batch, dtype=np.float64) for t in traces])
    kv = np.concatenate([np.asarray(t.step_kv_tokens) / t.kv_capacity_tokens for t in traces])
    busy = float(np.sum(duration))
    devices = devices_per_replica * len(traces)
    record: dict[str, Any] = {
        "requests": len(arrival),
        "replicas": len(traces),
        "devices": devices,
        "makespan_s": makespan,
        "requests_per_s": len(arrival) / makespan,
        "input_tokens_per_s": float(np.sum(prompt)) / makespan,
        "output_tokens_per_s": float(np.sum(output)) / makespan,
    }
    record["output_tokens_per_s_per_device"] = record["output_tokens_per_s"] / devices
    record["input_tokens_per_s_per_device"] = record["input_tokens_per_s"] / devices
    for name, values in (("ttft_s", ttft), ("tpot_s", tpot), ("e2e_s", e2e)):
        record[f"{name}_mean"] = float(np.mean(values)) if len(values) else 0.0
        for q in PERCENTILES:
            record[f"{name}_p{q}"] = float(np.percentile(values, q)) if len(values) else 0.0
    record["itl_s_mean"] = float(np.sum(itl * itl_weight) / np.sum(itl_weight)) if len(itl) else 0.0
    for q in PERCENTILES:
        record[f"itl_s_p{q}"] = weighted_percentile(itl, itl_weight, q)
    running = np.concatenate([np.asarray(t.step_running, dtype=np.float64) for t in traces])
    record["mean_batch"] = float(np.sum(batch * duration) / busy) if busy else 0.0
    record["mean_running"] = float(np.sum(running * duration) / busy) if busy else 0.0
    record["kv_occupancy"] = float(np.sum(kv * duration) / busy) if busy else 0.0
    record["max_kv_occupancy"] = max(t.max_kv_tokens / t.kv_capacity_tokens for t in traces)
    record["preemptions"] = int(sum(t.preemptions for t in traces))
    record["steps"] = int(sum(sum(t.step_count) for t in traces))
    record["busy_fraction"] = busy / (makespan * len(traces))
    return record
