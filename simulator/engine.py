"""Evaluate a deployment's forward passes: per-op counts (numpy), then per-op times and the pass's critical path.

Counting and timing are separate so that the fitter can count once and time many times with jax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import Any

import numpy as np

from simulator.deployment import Deployment
from simulator.evaluate import evaluate_many, model_bindings
from simulator.graph import (
    BuildOptions, LayerKind, Phase, epilogue_graph, layer_graph, layer_kinds, prologue_graph, stream_order,
)  # fmt: skip
from simulator.model.spec import ModelSpec
from simulator.ops import collectives
from simulator.ops import symbols as sym
from simulator.ops.cost import Collective, OpClass, OpCost
from simulator.timing import (
    OpTime, Segment, attention_time, collective_time, compose, elementwise_time, gemm_time, repeat, segment,
)  # fmt: skip

COUNT_FIELDS = ("flops", "bytes_read", "bytes_written", "weight_bytes", "gemm_m", "gemm_n", "gemm_k", "wire_bytes",
                "group")  # fmt: skip


@dataclass(frozen=True)
class PassPieces:
    """The op sequences of one pass: what runs before the layers, each kind of layer, and after."""

    prologue: list[OpCost]
    layers: dict[LayerKind, list[OpCost]]
    epilogue: list[OpCost]


@cache
def pass_pieces(spec: ModelSpec, opts: BuildOptions) -> PassPieces:
    kinds = dict.fromkeys(layer_kinds(spec))
    return PassPieces(
        prologue=stream_order(prologue_graph(spec, opts)),
        layers={kind: stream_order(layer_graph(spec, kind, opts)) for kind in kinds},
        epilogue=stream_order(epilogue_graph(spec, opts)),
    )


@dataclass(frozen=True)
class OpCounts:
    """One op evaluated for a batch of cases (arrays broadcast over the cases)."""

    op: OpCost
    counts: dict[str, np.ndarray]
    new_tokens: np.ndarray
    context: np.ndarray
    peak_flops: float
    bandwidth: float  # HBM bytes/s, or link bytes/s for collectives


@dataclass(frozen=True)
class PassCounts:
    phase: Phase
    prologue: list[OpCounts]
    layers: dict[LayerKind, list[OpCounts]]
    epilogue: list[OpCounts]
    stages: list[list[LayerKind]]  # the layer kinds each pipeline stage runs, in order
    stage_transfer: OpCounts | None  # the activations sent from one pipeline stage to the next
    sequences_per_group: np.ndarray  # the batch share of each expert-parallel group: ceil(batch / ep)
    devices_per_op: int  # devices that each run every op (tp · ep): multiplies per-device counts into totals

    def all_ops(self) -> list[tuple[OpCounts, int]]:
        """Every op with the number of times it runs in the pass (on each device of a stage)."""
        kind_counts = {kind: sum(stage.count(kind) for stage in self.stages) for kind in self.layers}
        rows = [(op, 1) for op in self.prologue]
        rows += [(op, kind_counts[kind]) for kind, ops in self.layers.items() for op in ops]
        rows += [(op, 1) for op in self.epilogue]
        if self.stage_transfer is not None:
            rows.append((self.stage_transfer, len(self.stages) - 1))
        return rows


def count_pass(deployment: Deployment, phase: Phase, batch: np.ndarray, new_tokens: np.ndarray,
               context: np.ndarray, lm_head_all_positions: bool) -> PassCounts:  # fmt: skip
    """Counts of every op of one forward pass. `batch` is the whole batch; each expert-parallel group of
    tp devices takes ceil(batch / ep) of its sequences."""
    opts = BuildOptions(
        phase=phase, tp=deployment.tp, ep=deployment.ep, naive_attention=deployment.naive_attention,
        lm_head_all_positions=lm_head_all_positions,
    )  # fmt: skip
    pieces = pass_pieces(deployment.model, opts)
    values: dict[Any, Any] = model_bindings(deployment.model) | deployment.bindings()
    sequences_per_group = np.ceil(np.asarray(batch, dtype=np.float64) / deployment.ep)
    values |= {sym.b: sequences_per_group, sym.s: new_tokens, sym.c: context}

    def counted(ops: list[OpCost]) -> list[OpCounts]:
        return [_count_op(op, values, deployment) for op in ops]

    kinds = layer_kinds(deployment.model)
    transfer = None
    if deployment.pp > 1:
        transfer_op = collectives.send_recv("stage_send_recv", "activations to the next pipeline stage",
                                            sym.tokens * sym.h * sym.a_bytes)  # fmt: skip
        transfer = _count_op(transfer_op, values, deployment)
    return PassCounts(
        phase=phase,
        prologue=counted(pieces.prologue),
        layers={kind: counted(ops) for kind, ops in pieces.layers.items()},
        epilogue=counted(pieces.epilogue),
        stages=[[kinds[i] for i in layers] for layers in deployment.stage_layers],
        stage_transfer=transfer,
        sequences_per_group=sequences_per_group,
        devices_per_op=deployment.tp * deployment.ep,
    )


def _count_op(op: OpCost, values: Mapping[Any, Any], deployment: Deployment) -> OpCounts:
    exprs = op.expressions()
    names = [name for name in COUNT_FIELDS if name in exprs]
    counts = dict(zip(names, evaluate_many(tuple(exprs[name] for name in names), values), strict=True))
    if op.op_class is OpClass.COLLECTIVE:
        spans = {Collective.ALL_TO_ALL: deployment.ep_span, Collective.SEND_RECV: deployment.pp_span}
        bandwidth = deployment.link_bandwidth(spans.get(op.collective, deployment.tp_span))  # type: ignore[arg-type]
    else:
        bandwidth = deployment.hardware.hbm_bytes_per_s
    return OpCounts(
        op=op,
        counts=counts,
        new_tokens=np.asarray(values[sym.s], dtype=np.float64),
        context=np.asarray(values[sym.c], dtype=np.float64),
        peak_flops=deployment.peak_flops(op.precision),
        bandwidth=bandwidth,
    )


# ---------------------------------------------------------------------------------------------------------------
# Timing (array-namespace generic: numpy or jax.numpy)
# ---------------------------------------------------------------------------------------------------------------


def op_time(op: OpCounts, phase: Phase, params: Mapping[str, Any], xp: Any) -> OpTime:
    counts = op.counts
    flops = counts["flops"]
    moved = counts["bytes_read"] + counts["bytes_written"]
    match op.op.op_class:
        case OpClass.GEMM:
            return gemm_time(flops, moved, counts["gemm_m"], counts["gemm_n"], counts["gemm_k"], op.peak_flops,
                             op.bandwidth, params, xp)  # fmt: skip
        case OpClass.ATTENTION:
            return attention_time(flops, moved, op.new_tokens, op.context, phase is Phase.DECODE, op.peak_flops,
                                  op.bandwidth, params, xp)  # fmt: skip
        case OpClass.ELEMENTWISE:
            return elementwise_time(flops, moved, op.peak_flops, op.bandwidth, params, xp)
        case OpClass.COLLECTIVE:
            return collective_time(counts["wire_bytes"], float(np.max(counts["group"])), op.bandwidth, params, xp)
    raise AssertionError(op.op.op_class)


@dataclass(frozen=True)
class PassTime:
    total: Any  # seconds from the host starting the pass to the device finishing it (critical path)
    device_busy: Any  # seconds the devices on the pipeline path are busy: the sum of op times
    op_times: list[tuple[OpCounts, int, OpTime]]  # every op, how many times it runs, its time per run


def time_pass(counts: PassCounts, params: Mapping[str, Any], xp: Any = np) -> PassTime:
    """Critical path of the pass through host launches and device execution, stage after stage."""
    launch = params["host.launch_s"]
    op_times: list[tuple[OpCounts, int, OpTime]] = []

    def summarize(ops: list[OpCounts], times_run: int, first_host_extra: Any = 0.0) -> Segment:
        times = [op_time(op, counts.phase, params, xp) for op in ops]
        op_times.extend((op, times_run, t) for op, t in zip(ops, times, strict=True))
        host = [launch + (first_host_extra if i == 0 else 0.0) for i in range(len(ops))]
        return segment(host, [t.total for t in times], xp)

    prologue = summarize(counts.prologue, 1)
    kind_runs = {kind: sum(stage.count(kind) for stage in counts.stages) for kind in counts.layers}
    layer_segments = {
        kind: summarize(ops, kind_runs[kind], params["host.per_layer_s"]) for kind, ops in counts.layers.items()
    }
    epilogue = summarize(counts.epilogue, 1)
    transfer = summarize([counts.stage_transfer], len(counts.stages) - 1) if counts.stage_transfer else None

    step = params["host.per_step_s"]
    total: Any = 0.0
    last = len(counts.stages) - 1
    for index, stage_kinds in enumerate(counts.stages):
        path = Segment(step, 0.0, step) if index == 0 else None
        pieces = ([prologue] if index == 0 else []) + [
            repeat(layer_segments[kind], len(list(run)), xp) for kind, run in groupby(stage_kinds)
        ]
        pieces += [epilogue] if index == last else [transfer]  # type: ignore[list-item]
        for piece in pieces:
            path = piece if path is None else compose(path, piece, xp)
        assert path is not None
        total = total + path.critical  # the next stage's host waits for the activations to arrive
    device_busy = sum((runs * t.total for _, runs, t in op_times[1:]), op_times[0][1] * op_times[0][2].total)
    return PassTime(total=total, device_busy=device_busy, op_times=op_times)
