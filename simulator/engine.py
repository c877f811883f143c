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
from simulator.evaluate import arguments, evaluate_many, model_bindings
from simulator.graph import (
    BuildOptions,
    LayerKind,
    Phase,
    epilogue_graph,
    layer_graph,
    layer_kinds,
    prologue_graph,
    stream_order,
)
from simulator.model.spec import ModelSpec
from simulator.ops import collectives
from simulator.ops import symbols as sym
from simulator.ops.cost import Collective, OpClass, OpCost
from simulator.timing import (
    GemmGeometry,
    OpTime,
    Segment,
    attention_time,
    collective_time,
    compose,
    elementwise_time,
    gemm_time,
    repeat,
    segment,
)

COUNT_FIELDS = (
    "flops",
    "bytes_read",
    "bytes_written",
    "weight_bytes",
    "gemm_m",
    "gemm_n",
    "gemm_k",
    "wire_bytes",
    "group",
)


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


CLASS_CODES = {OpClass.GEMM: 0, OpClass.ATTENTION: 1, OpClass.ELEMENTWISE: 2, OpClass.COLLECTIVE: 3}
# Stacked counts need a value for every op; these are neutral for the ops a field does not apply to.
NEUTRAL = {"gemm_m": 1.0, "gemm_n": 1.0, "gemm_k": 1.0, "wire_bytes": 0.0, "group": 1.0}


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
class Piece:
    """The ops of one piece of a pass (prologue, a kind of layer, epilogue), their counts stacked on axis 0."""

    ops: tuple[OpCost, ...]
    classes: tuple[int, ...]  # CLASS_CODES of each op
    counts: dict[str, np.ndarray]  # each (n_ops, *case_shape)
    peak_flops: np.ndarray  # (n_ops,)
    bandwidth: np.ndarray  # (n_ops,)
    point_to_point: np.ndarray  # (n_ops,) bool: a send/recv rather than a group collective
    crosses_nodes: np.ndarray  # (n_ops,) bool: a collective whose traffic leaves the server
    new_tokens: np.ndarray  # case_shape
    context: np.ndarray  # case_shape

    def op_counts(self) -> list[OpCounts]:
        return [
            OpCounts(
                op,
                {name: values[i] for name, values in self.counts.items()},
                self.new_tokens,
                self.context,
                float(self.peak_flops[i]),
                float(self.bandwidth[i]),
            )
            for i, op in enumerate(self.ops)
        ]


@dataclass(frozen=True)
class PassCounts:
    phase: Phase
    prologue: Piece
    layers: dict[LayerKind, Piece]
    epilogue: Piece
    stages: tuple[tuple[LayerKind, ...], ...]  # the layer kinds each pipeline stage runs, in order
    stage_transfer: Piece | None  # the activations sent from one pipeline stage to the next
    sequences_per_group: np.ndarray  # the batch share of each expert-parallel group: ceil(batch / ep)
    devices_per_op: int  # devices that each run every op (tp · ep): multiplies per-device counts into totals
    gemm_geometry: GemmGeometry | None = None  # the hardware's GEMM tiling (None: the smooth GEMM curve alone)

    def pieces(self) -> list[tuple[Piece, int]]:
        """Every piece with the number of times it runs in the pass (on each device of a stage)."""
        kind_counts = {kind: sum(stage.count(kind) for stage in self.stages) for kind in self.layers}
        rows = [(self.prologue, 1), *((piece, kind_counts[kind]) for kind, piece in self.layers.items())]
        rows.append((self.epilogue, 1))
        if self.stage_transfer is not None:
            rows.append((self.stage_transfer, len(self.stages) - 1))
        return rows

    def all_ops(self) -> list[tuple[OpCounts, int]]:
        """Every op with the number of times it runs in the pass."""
        return [(op, runs) for piece, runs in self.pieces() for op in piece.op_counts()]


def count_pass(
    deployment: Deployment,
    phase: Phase,
    batch: np.ndarray,
    new_tokens: np.ndarray,
    context: np.ndarray,
    lm_head_all_positions: bool,
) -> PassCounts:
    """Counts of every op of one forward pass. `batch` is the whole batch; each expert-parallel group of
    tp devices takes ceil(batch / ep) of its sequences."""
    opts = BuildOptions(
        phase=phase,
        tp=deployment.tp,
        ep=deployment.ep,
        naive_attention=deployment.naive_attention,
        lm_head_all_positions=lm_head_all_positions,
    )
    pieces = pass_pieces(deployment.model, opts)
    values: dict[Any, Any] = model_bindings(deployment.model) | deployment.bindings()
    sequences_per_group = np.ceil(np.asarray(batch, dtype=np.float64) / deployment.ep)
    values |= {sym.b: sequences_per_group, sym.s: new_tokens, sym.c: context}
    shape = np.broadcast_shapes(*(np.shape(v) for v in (sequences_per_group, new_tokens, context)))

    def stacked(ops: list[OpCost]) -> Piece:
        return _stack(ops, values, deployment, shape)

    kinds = layer_kinds(deployment.model)
    transfer = None
    if deployment.pp > 1:
        transfer = stacked(
            [
                collectives.send_recv(
                    "stage_send_recv", "activations to the next pipeline stage", sym.tokens * sym.h * sym.a_bytes
                )
            ]
        )
    return PassCounts(
        phase=phase,
        prologue=stacked(pieces.prologue),
        layers={kind: stacked(ops) for kind, ops in pieces.layers.items()},
        epilogue=stacked(pieces.epilogue),
        stages=tuple(tuple(kinds[i] for i in layers) for layers in deployment.stage_layers),
        stage_transfer=transfer,
        sequences_per_group=sequences_per_group,
        devices_per_op=deployment.tp * deployment.ep,
        gemm_geometry=deployment.gemm_geometry(),
    )


def _stack(ops: list[OpCost], values: Mapping[Any, Any], deployment: Deployment, shape: tuple[int, ...]) -> Piece:
    args = arguments(values)
    rows = [_evaluate_op(op, args) for op in ops]
    spans = [_devices_spanned(op, deployment) for op in ops]
    for op, row, span in zip(ops, rows, spans, strict=True):
        if op.collective is Collective.ALL_REDUCE and deployment.in_network_reduction(span):
            row["wire_bytes"] = row["wire_bytes"] * collectives.in_network_reduction_factor(span)
    names = sorted({name for row in rows for name in row} | set(NEUTRAL))
    counts = {
        name: np.stack([np.broadcast_to(row.get(name, NEUTRAL.get(name, 0.0)), shape) for row in rows])
        for name in names
    }
    return Piece(
        ops=tuple(ops),
        classes=tuple(CLASS_CODES[op.op_class] for op in ops),
        counts=counts,
        peak_flops=np.array([deployment.peak_flops(op.precision) for op in ops]),
        bandwidth=np.array(
            [deployment.link_bandwidth(span) if span else deployment.hardware.hbm_bytes_per_s for span in spans]
        ),
        point_to_point=np.array([op.collective is Collective.SEND_RECV for op in ops]),
        crosses_nodes=np.array([bool(span) and deployment.crosses_nodes(span) for span in spans]),
        new_tokens=np.broadcast_to(np.asarray(values[sym.s], dtype=np.float64), shape),
        context=np.broadcast_to(np.asarray(values[sym.c], dtype=np.float64), shape),
    )


def _evaluate_op(op: OpCost, args: list[Any]) -> dict[str, Any]:
    exprs = op.expressions()
    names = [name for name in COUNT_FIELDS if name in exprs]
    return dict(zip(names, evaluate_many(tuple(exprs[name] for name in names), args), strict=True))


def _devices_spanned(op: OpCost, deployment: Deployment) -> int:
    """Devices a collective's traffic spans (0 for ops that are not collectives)."""
    if op.op_class is not OpClass.COLLECTIVE:
        return 0
    spans = {Collective.ALL_TO_ALL: deployment.ep_span, Collective.SEND_RECV: deployment.pp_span}
    return spans.get(op.collective, deployment.tp_span)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# Timing (array-namespace generic: numpy or jax.numpy), vectorized over the ops of a piece
# ---------------------------------------------------------------------------------------------------------------


def piece_time(
    piece: Piece, phase: Phase, params: Mapping[str, Any], xp: Any, gemm_geometry: GemmGeometry | None = None
) -> OpTime:
    """Every op's time terms, stacked like the counts: each op class's formula, picked by the op's class."""
    counts = piece.counts
    per_op = (-1,) + (1,) * (counts["flops"].ndim - 1)
    peak, bandwidth = piece.peak_flops.reshape(per_op), piece.bandwidth.reshape(per_op)
    flops = counts["flops"]
    moved = counts["bytes_read"] + counts["bytes_written"]
    by_class = (
        gemm_time(
            flops,
            moved,
            counts["gemm_m"],
            counts["gemm_n"],
            counts["gemm_k"],
            peak,
            bandwidth,
            params,
            xp,
            gemm_geometry,
        ),
        attention_time(
            flops,
            moved,
            piece.new_tokens,
            piece.context,
            phase is Phase.DECODE,
            peak,
            bandwidth,
            params,
            xp,
            # Attention reads Q and writes O of the same size (qk_dim = v_dim); the rest it reads is the KV cache.
            cache_bytes=xp.maximum(counts["bytes_read"] - counts["bytes_written"], 0.0),
        ),
        elementwise_time(flops, moved, peak, bandwidth, params, xp),
        collective_time(
            counts["wire_bytes"],
            counts["group"],
            bandwidth,
            piece.point_to_point.reshape(per_op),
            piece.crosses_nodes.reshape(per_op),
            params,
            xp,
        ),
    )
    classes = np.asarray(piece.classes).reshape(per_op)

    def pick(term: str) -> Any:
        chosen = getattr(by_class[3], term)
        for code in (2, 1, 0):
            chosen = xp.where(classes == code, getattr(by_class[code], term), chosen)
        return chosen

    return OpTime(*(pick(term) for term in ("total", "compute", "memory", "comm", "latency")))


def piece_segment(device: Any, host_first_extra: Any, params: Mapping[str, Any], xp: Any) -> Segment:
    """The (max, +) summary of a piece: every op costs the host one launch, the first op also `host_first_extra`."""
    per_op = (-1,) + (1,) * (device.ndim - 1)
    first = (np.arange(device.shape[0]) == 0).reshape(per_op)
    host = (params["host.launch_s"] + host_first_extra * first) * xp.ones_like(device)
    return segment(host, device, xp)


def framework_segment(seconds: Any) -> Segment:
    """Time on the device path that the host does not launch (eager framework calls on a CPU)."""
    return Segment(0.0 * seconds, seconds, seconds)


@dataclass(frozen=True)
class PassTime:
    total: Any  # seconds from the host starting the pass to the device finishing it (critical path)
    device_busy: Any  # seconds the devices on the pipeline path are busy: the sum of op times
    piece_times: list[tuple[Piece, int, OpTime]]  # every piece, how many times it runs, its ops' times

    @property
    def op_times(self) -> list[tuple[OpCounts, int, OpTime]]:
        """Per op: counts, runs per pass, time terms (numpy results only)."""
        rows = []
        for piece, runs, times in self.piece_times:
            for index, op in enumerate(piece.op_counts()):
                rows.append(
                    (
                        op,
                        runs,
                        OpTime(
                            *(
                                np.asarray(term)[index]
                                for term in (times.total, times.compute, times.memory, times.comm, times.latency)
                            )
                        ),
                    )
                )
        return rows


def time_pass(counts: PassCounts, params: Mapping[str, Any], xp: Any = np) -> PassTime:
    """Critical path of the pass through host launches and device execution, stage after stage."""
    piece_times: list[tuple[Piece, int, OpTime]] = []

    def summarize(piece: Piece, runs: int, host_first_extra: Any = 0.0) -> Segment:
        times = piece_time(piece, counts.phase, params, xp, counts.gemm_geometry)
        piece_times.append((piece, runs, times))
        return piece_segment(times.total, host_first_extra, params, xp)

    kind_runs = {kind: sum(stage.count(kind) for stage in counts.stages) for kind in counts.layers}
    # Eager framework calls run on the thread that runs the kernels: device-path time with no launch of its own.
    call = params["host.framework_call_s"]
    per_step_calls = framework_segment(call * params["host.framework_calls_per_step"])
    per_layer_calls = framework_segment(call * params["host.framework_calls_per_layer"])
    prologue = compose(summarize(counts.prologue, 1), per_step_calls, xp)
    layers = {
        kind: compose(summarize(piece, kind_runs[kind], params["host.per_layer_s"]), per_layer_calls, xp)
        for kind, piece in counts.layers.items()
    }
    epilogue = summarize(counts.epilogue, 1)
    transfer = summarize(counts.stage_transfer, len(counts.stages) - 1) if counts.stage_transfer else None

    step = params["host.per_step_s"]
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
    device_busy = sum(runs * xp.sum(times.total, axis=0) for _, runs, times in piece_times)
    return PassTime(total=total, device_busy=device_busy, piece_times=piece_times)
