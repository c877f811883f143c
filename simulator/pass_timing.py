"""Time a counted pass under a profile: each op's time by its class's formula (`timing`), then the critical path
of the host launching kernels and the devices running them, stage after stage.

Generic over the array namespace `xp` (numpy for estimates, jax.numpy when the fitter differentiates through it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import numpy as np

from idealrt.simulator.counting import ClassGroup, OpRun, PassCounts, PieceCounts
from idealrt.simulator.op_kinds import OpInfo
from idealrt.simulator.structure import Phase
from idealrt.simulator.timing import (
    Array,
    CacheLevel,
    GemmGeometry,
    OpTime,
    Segment,
    attention_time,
    collective_time,
    compose,
    composite_latency,
    elementwise_time,
    gemm_time,
    known_zero,
    repeat,
    segment,
)

TERMS = ("total", "compute", "memory", "comm", "latency")


def _group_time(
    group: ClassGroup,
    run: OpRun,
    phase: Phase,
    params: Mapping[str, Any],
    xp: Any,
    geometry: GemmGeometry | None = None,
    cache: CacheLevel | None = None,
) -> OpTime:
    """The time terms of one class's ops in a run, by that class's formula."""
    counts = group.counts
    first = next(iter(counts.values()))
    per_op = (-1,) + (1,) * (first.ndim - 1)
    # per-op columns that broadcast against the counts (timing.py annotates peak and bandwidth as scalars)
    peak: Array = group.peak_flops.reshape(per_op)
    bandwidth: Array = group.bandwidth.reshape(per_op)
    if group.code == 3:
        point_to_point, crosses = group.point_to_point.reshape(per_op), group.crosses_nodes.reshape(per_op)
        return collective_time(counts["wire_bytes"], counts["group"], bandwidth, point_to_point, crosses, params, xp)
    flops = counts["flops"]
    moved = counts["bytes_read"] + counts["bytes_written"]
    if group.code == 0:
        m, n, k = counts["gemm_m"], counts["gemm_n"], counts["gemm_k"]
        return gemm_time(flops, moved, m, n, k, peak, bandwidth, params, xp, geometry)
    if group.code == 1:
        decode = phase is Phase.DECODE
        # Attention reads Q and writes O of the same size (qk_dim = v_dim); the rest it reads is the KV cache.
        cache_bytes = xp.maximum(counts["bytes_read"] - counts["bytes_written"], 0.0)
        return attention_time(
            flops, moved, run.new_tokens, run.context, decode, peak, bandwidth, params, xp, cache_bytes=cache_bytes
        )
    composite = composite_latency(group.eager_kinds, params, xp)
    if not isinstance(composite, float):
        composite = composite.reshape(per_op)
    return elementwise_time(flops, moved, peak, bandwidth, params, xp, composite, cache)


def run_time(
    run: OpRun,
    phase: Phase,
    params: Mapping[str, Any],
    xp: Any = np,
    detail: bool = False,
    geometry: GemmGeometry | None = None,
    cache: CacheLevel | None = None,
) -> OpTime:
    """Every op's time, stacked in op order; with `detail`, also its compute, memory, comm and latency terms (the
    hot path needs only the totals)."""
    parts = [_group_time(group, run, phase, params, xp, geometry, cache) for group in run.groups]
    terms = TERMS if detail else TERMS[:1]
    if len(parts) == 1:
        values = [getattr(parts[0], term) for term in terms]
    else:
        inverse = np.argsort(np.concatenate([group.rows for group in run.groups]), kind="stable")
        values = [xp.concatenate([getattr(part, term) for part in parts])[inverse] for term in terms]
    return OpTime(*values, *([None] * (len(TERMS) - len(terms))))


def piece_segment(
    piece: PieceCounts, times: list[OpTime], host_first_extra: Any, params: Mapping[str, Any], xp: Any
) -> Segment:
    """The (max, +) summary of a piece: every op costs the host one launch, the first op also `host_first_extra`."""
    result: Segment | None = None
    for run, run_times in zip(piece.runs, times, strict=True):
        device = run_times.total
        per_op = (-1,) + (1,) * (device.ndim - 1)
        first = (np.arange(device.shape[0]) + run.start == 0).reshape(per_op)
        host = params["host.launch_s"] + host_first_extra * first  # per op: the same for every case
        part = segment(host, device, xp)
        result = part if result is None else compose(result, part, xp)
    assert result is not None
    return result


def framework_segment(seconds: Any) -> Segment:
    """Time on the device path that the host does not launch (eager framework calls on a CPU)."""
    return Segment(0.0 * seconds, seconds, seconds)


def _then_calls(ops: Segment, calls: Segment, xp: Any) -> Segment:
    """`ops` then framework calls; none (a stack that is not eager) leaves `ops` as it is, exactly (its critical
    path is never shorter than its host time)."""
    return ops if known_zero(calls.device) else compose(ops, calls, xp)


def step_host_s(params: Mapping[str, Any], tokens: Any) -> Any:
    """The host's work before a pass's first launch: per step, and per token the pass takes in (one number when
    the stack does no per-token work)."""
    per_token = params["host.per_token_s"]
    return params["host.per_step_s"] if known_zero(per_token) else params["host.per_step_s"] + per_token * tokens


def layer_host_s(params: Mapping[str, Any], phase: Phase) -> Any:
    """The host's work at the start of each layer: per layer, plus the first-pass work in a prefill."""
    if phase is Phase.PREFILL:
        return params["host.per_layer_s"] + params["host.first_pass_per_layer_s"]
    return params["host.per_layer_s"]


@dataclass(frozen=True)
class PassTime:
    total: Any  # seconds from the host starting the pass to the device finishing it (critical path)
    device_busy: Any  # seconds the devices on the pipeline path are busy: the sum of op times
    piece_times: list[tuple[PieceCounts, int, list[OpTime]]]  # every piece, its runs per pass, its runs' op times

    def op_times(self) -> Iterator[tuple[OpInfo, dict[str, np.ndarray], int, OpTime]]:
        """Per op: its counts, runs per pass and time terms (numpy results only)."""
        for piece, runs, times in self.piece_times:
            for run, run_times in zip(piece.runs, times, strict=True):
                if run_times.compute is None:
                    raise ValueError("op_times needs a pass timed with detail=True")
                for offset, op_counts in enumerate(run.op_counts()):
                    yield (
                        piece.ops[run.start + offset],
                        op_counts,
                        runs,
                        OpTime(*(np.asarray(getattr(run_times, term))[offset] for term in TERMS)),
                    )


def time_pass(counts: PassCounts, params: Mapping[str, Any], xp: Any = np, detail: bool = True) -> PassTime:
    """Critical path of the pass through host launches and device execution, stage after stage. Without
    `detail`, only op totals are kept (`PassTime.op_times` then has no terms to report)."""
    piece_times: list[tuple[PieceCounts, int, list[OpTime]]] = []

    def summarize(piece: PieceCounts, runs: int, host_first_extra: Any = 0.0) -> Segment:
        times = [
            run_time(run, counts.phase, params, xp, detail, counts.gemm_geometry, counts.elementwise_cache)
            for run in piece.runs
        ]
        piece_times.append((piece, runs, times))
        return piece_segment(piece, times, host_first_extra, params, xp)

    kind_runs = {kind: sum(stage.count(kind) for stage in counts.stages) for kind in counts.layers}
    # Eager framework calls run on the thread that runs the kernels: device-path time with no launch of its own.
    call = params["host.framework_call_s"]
    per_step_calls = framework_segment(call * params["host.framework_calls_per_step"])
    per_layer_calls = framework_segment(call * params["host.framework_calls_per_layer"])
    prologue = _then_calls(summarize(counts.prologue, 1), per_step_calls, xp)
    layer_host = layer_host_s(params, counts.phase)
    layers = {
        kind: _then_calls(summarize(piece, kind_runs[kind], layer_host), per_layer_calls, xp)
        for kind, piece in counts.layers.items()
    }
    epilogue = summarize(counts.epilogue, 1)
    transfer = summarize(counts.stage_transfer, len(counts.stages) - 1) if counts.stage_transfer else None

    step = step_host_s(params, counts.tokens)
    total: Any = 0.0
    last = len(counts.stages) - 1
    for index, stage_kinds in enumerate(counts.stages):
        path = compose(Segment(step, 0.0, step), prologue, xp) if index == 0 else None
        for kind, run in groupby(stage_kinds):
            block = repeat(layers[kind], len(list(run)), xp)
            path = block if path is None else compose(path, block, xp)
        assert path is not None
        tail = epilogue if index == last else transfer
        assert tail is not None
        total = total + compose(path, tail, xp).critical  # the next stage's host waits for the activations
    device_busy = sum(runs * sum(xp.sum(t.total, axis=0) for t in times) for _, runs, times in piece_times)
    return PassTime(total=total, device_busy=device_busy, piece_times=piece_times)
