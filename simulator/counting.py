"""Count every op of a forward pass for many cases at once: the compiled formulas, evaluated with numpy.

The stack's behaviours that change the counts (naive attention, the LM head on every prompt position) are
resolved once, by `counting_options`, and every caller — simulate, memory, the planner, the ideal → calibrated
breakdown, calibration's fit targets — counts through `count_pass` with those options.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, Any

import numpy as np

from idealrt.simulator.compiled import CompiledPiece, compiled_pass
from idealrt.simulator.compiled.fields import COUNT_FIELDS, NEUTRAL, STATIC_FIELDS
from idealrt.simulator.deployment import Deployment, in_network_reduction_factor
from idealrt.simulator.dtypes import bytes_per_element
from idealrt.simulator.formula_inputs import (
    arguments,
    busiest_group_quantile,
    expected_destination_groups,
    model_bindings,
)
from idealrt.simulator.op_kinds import Collective, OpClass, OpInfo
from idealrt.simulator.profile import Behaviours
from idealrt.simulator.structure import (
    BuildOptions,
    LayerKind,
    PassKey,
    Phase,
    layer_kinds,
    layer_piece,
    model_structure,
)
from idealrt.simulator.timing import CacheLevel, GemmGeometry

if TYPE_CHECKING:
    from idealrt.simulator.profile import Profile

CLASS_CODES = {OpClass.GEMM: 0, OpClass.ATTENTION: 1, OpClass.ELEMENTWISE: 2, OpClass.COLLECTIVE: 3}


@dataclass(frozen=True)
class CountingOptions:
    """What the software stack does that changes the counts themselves."""

    naive_attention: bool = False  # attention materializes the score matrix (pre-FlashAttention kernels)
    lm_head_all_positions: bool = False  # prefill applies the LM head to every prompt position
    fewest_experts: bool = False  # MoE layers read the fewest experts a batch can touch, not uniform routing's
    collective_dtype: str | None = None  # None: the deployment's (`Deployment.collective_dtype`)


def counting_options(
    stack: Profile | Behaviours, naive_attention: bool = False, lm_head_all_positions: bool | None = None
) -> CountingOptions:
    """The one place the stack's behaviours are resolved: the profile's (what its stack was fitted as; or candidate
    behaviours, when fitting), a request for naive attention, and an explicit choice of where the LM head runs
    (None: as the stack does)."""
    behaviours = stack if isinstance(stack, Behaviours) else stack.behaviours
    return CountingOptions(
        naive_attention=naive_attention or behaviours.naive_attention,
        lm_head_all_positions=(
            behaviours.lm_head_all_prompt_positions if lm_head_all_positions is None else lm_head_all_positions
        ),
        fewest_experts=behaviours.expert_routing == "fewest",
        collective_dtype=behaviours.collective_dtype,
    )


# The counts each op class's time formula reads (`timing`); the others are neutral for that class.
CLASS_FIELDS: dict[int, tuple[str, ...]] = {
    0: ("flops", "bytes_read", "bytes_written", "gemm_m", "gemm_n", "gemm_k"),
    1: ("flops", "bytes_read", "bytes_written"),
    2: ("flops", "bytes_read", "bytes_written"),
    3: ("wire_bytes", "group"),
}


# Fields that are usually the same for every case (a GEMM's N and K, a collective's group): kept as one column
# (n, 1, …) when they are, so that what is computed from them alone is computed once per op.
PER_OP_FIELDS = frozenset({"gemm_n", "gemm_k", "group"})


@dataclass(frozen=True)
class ClassGroup:
    """The ops of one class within a run, their counts stacked on axis 0 (each class is timed by its formula)."""

    code: int  # CLASS_CODES
    rows: tuple[int, ...]  # their positions within the run
    counts: dict[str, np.ndarray]  # CLASS_FIELDS[code], each (n, *shape) or, for PER_OP_FIELDS, maybe (n, 1, …)
    peak_flops: np.ndarray  # (n,) FLOP/s of each op's math
    bandwidth: np.ndarray  # (n,) HBM bytes/s, or link bytes/s for collectives
    point_to_point: np.ndarray  # (n,) bool: a send/recv rather than a group collective
    crosses_nodes: np.ndarray  # (n,) bool: a collective whose traffic leaves the server
    eager_kinds: tuple[str | None, ...] = ()  # (n,) each op's eager implementation (elementwise ops)


@dataclass(frozen=True)
class OpRun:
    """Consecutive ops of one piece whose counts share one array shape: in decode, the context-dependent ops
    (attention) are evaluated at every context point and the others once per case."""

    start: int  # index of the run's first op in its piece
    size: int
    groups: tuple[ClassGroup, ...]
    new_tokens: np.ndarray  # the run's shape
    context: np.ndarray  # the run's shape

    def __len__(self) -> int:
        return self.size

    def op_counts(self) -> list[dict[str, np.ndarray]]:
        """Every field of every op of the run, in op order (fields a class does not use are neutral)."""
        rows: list[dict[str, Any]] = [{} for _ in range(self.size)]
        for group in self.groups:
            for index, row in enumerate(group.rows):
                rows[row] = {
                    field: group.counts[field][index] if field in group.counts else NEUTRAL.get(field, 0.0)
                    for field in COUNT_FIELDS
                }
        shape = self.new_tokens.shape
        return [{field: _full(value, field, shape) for field, value in row.items()} for row in rows]


def _full(value: Any, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """A count at its run's shape (a per-op column broadcast back over the cases)."""
    if field in PER_OP_FIELDS and np.ndim(value) > 0:
        return np.broadcast_to(value, shape)
    return np.asarray(value)


@dataclass(frozen=True)
class PieceCounts:
    """The ops of one piece of a pass (prologue, a kind of layer, epilogue, stage transfer) and their counts."""

    name: str
    ops: tuple[OpInfo, ...]
    runs: tuple[OpRun, ...]
    static: dict[str, np.ndarray]  # STATIC_FIELDS, each (n_ops,): parameters, weight bytes, KV bytes per token

    def op_counts(self) -> Iterator[tuple[OpInfo, dict[str, np.ndarray]]]:
        """Every op with its counts (arrays over the cases, at its run's shape)."""
        for run in self.runs:
            for offset, counts in enumerate(run.op_counts()):
                yield self.ops[run.start + offset], counts


@dataclass(frozen=True)
class PassCounts:
    phase: Phase
    prologue: PieceCounts
    layers: dict[LayerKind, PieceCounts]
    epilogue: PieceCounts
    stages: tuple[tuple[LayerKind, ...], ...]  # the layer kinds each pipeline stage runs, in order
    stage_transfer: PieceCounts | None  # the activations sent from one pipeline stage to the next
    sequences_per_group: np.ndarray  # the batch share of each expert-parallel group: ceil(batch / ep)
    devices_per_op: int  # devices that each run every op (tp · ep): multiplies per-device counts into totals
    gemm_geometry: GemmGeometry | None = None  # the hardware's GEMM tiling (None: the smooth GEMM curve alone)
    elementwise_cache: CacheLevel | None = None  # where in-cache elementwise operands stream (None: at HBM rate)
    tokens: Any = 0.0  # tokens the pass takes in over the whole batch (batch · new tokens): the host's per-token work

    def pieces(self) -> list[tuple[PieceCounts, int]]:
        """Every piece with the number of times it runs in the pass (on each device of a stage)."""
        kind_counts = {kind: sum(stage.count(kind) for stage in self.stages) for kind in self.layers}
        rows = [(self.prologue, 1), *((piece, kind_counts[kind]) for kind, piece in self.layers.items())]
        rows.append((self.epilogue, 1))
        if self.stage_transfer is not None:
            rows.append((self.stage_transfer, len(self.stages) - 1))
        return rows

    def all_ops(self) -> Iterator[tuple[OpInfo, dict[str, np.ndarray], int]]:
        """Every op with its counts and the number of times it runs in the pass."""
        for piece, runs in self.pieces():
            for op, counts in piece.op_counts():
                yield op, counts, runs


def pass_key(deployment: Deployment, phase: Phase, options: CountingOptions) -> PassKey:
    return PassKey(
        model_structure(deployment.model),
        BuildOptions(
            phase=phase,
            tensor_parallel=deployment.tp > 1,
            expert_parallel=deployment.ep > 1,
            naive_attention=options.naive_attention,
            lm_head_all_positions=phase is Phase.PREFILL and options.lm_head_all_positions,
        ),
    )


def count_pass(
    deployment: Deployment,
    phase: Phase,
    batch: Any,
    new_tokens: Any,
    context: Any,
    options: CountingOptions = CountingOptions(),
) -> PassCounts:
    """Counts of every op of one forward pass, broadcast over the arrays given. `batch` is the whole batch; each
    expert-parallel group of tp devices takes ceil(batch / ep) of its sequences."""
    compiled = compiled_pass(pass_key(deployment, phase, options))
    sequences_per_group = np.ceil(np.asarray(batch, dtype=np.float64) / deployment.ep)
    values = _bindings(deployment) | {
        "b": sequences_per_group,
        "s": new_tokens,
        "c": context,
        "b_all": np.asarray(batch, dtype=np.float64),
        "u_route": 0.0 if options.fewest_experts else 1.0,
    }
    if options.collective_dtype is not None:
        values["a_wire"] = bytes_per_element(options.collective_dtype)
    args = arguments(values)
    base_shape = np.broadcast_shapes(np.shape(sequences_per_group), np.shape(new_tokens))
    full_shape = np.broadcast_shapes(base_shape, np.shape(context))
    new_tokens = np.asarray(new_tokens, dtype=np.float64)
    context = np.asarray(context, dtype=np.float64)

    def counted(piece: str) -> PieceCounts:
        return _count_piece(deployment, compiled.pieces[piece], args, base_shape, full_shape, new_tokens, context)

    kinds = layer_kinds(deployment.model)
    return PassCounts(
        phase=phase,
        prologue=counted("prologue"),
        layers={kind: counted(layer_piece(kind)) for kind in dict.fromkeys(kinds)},
        epilogue=counted("epilogue"),
        stages=tuple(tuple(kinds[i] for i in layers) for layers in deployment.stage_layers),
        stage_transfer=counted("stage_transfer") if deployment.pp > 1 else None,
        sequences_per_group=sequences_per_group,
        devices_per_op=deployment.tp * deployment.ep,
        gemm_geometry=deployment.gemm_geometry(),
        elementwise_cache=deployment.elementwise_cache(),
        tokens=np.broadcast_to(values["b_all"] * new_tokens, base_shape),
    )


@cache
def _bindings(deployment: Deployment) -> dict[str, Any]:
    values = model_bindings(deployment.model) | deployment.bindings()
    moe = deployment.model.moe
    if moe is not None:
        values["g_dest"] = expected_destination_groups(moe.num_experts, moe.top_k, deployment.ep)
        values["z_busy"] = busiest_group_quantile(deployment.ep)
    return values


@dataclass(frozen=True)
class _PieceConstants:
    """What one piece's ops need from the hardware, per op: the same for every case."""

    codes: tuple[int, ...]
    peak_flops: np.ndarray
    bandwidth: np.ndarray
    point_to_point: np.ndarray
    crosses_nodes: np.ndarray
    wire_factor: np.ndarray  # all-reduces with in-network reduction send less than the ring
    static: dict[str, np.ndarray]


@cache
def _piece_constants(deployment: Deployment, piece: CompiledPiece) -> _PieceConstants:
    spans = [_devices_spanned(op, deployment) for op in piece.ops]
    factors = [
        in_network_reduction_factor(span)
        if op.collective is Collective.ALL_REDUCE and deployment.in_network_reduction(span)
        else 1.0
        for op, span in zip(piece.ops, spans, strict=True)
    ]
    flat = piece.static(*arguments(_bindings(deployment)))
    n = len(piece.ops)
    return _PieceConstants(
        codes=tuple(CLASS_CODES[op.op_class] for op in piece.ops),
        peak_flops=np.array([deployment.peak_flops(op.precision) for op in piece.ops]),
        bandwidth=np.array(
            [deployment.link_bandwidth(span) if span else deployment.hardware.hbm_bytes_per_s for span in spans]
        ),
        point_to_point=np.array([op.collective is Collective.SEND_RECV for op in piece.ops]),
        crosses_nodes=np.array([bool(span) and deployment.crosses_nodes(span) for span in spans]),
        wire_factor=np.array(factors),
        static={
            field: np.array([float(v) for v in flat[i * n : (i + 1) * n]]) for i, field in enumerate(STATIC_FIELDS)
        },
    )


def _count_piece(
    deployment: Deployment,
    piece: CompiledPiece,
    args: list[Any],
    base_shape: tuple[int, ...],
    full_shape: tuple[int, ...],
    new_tokens: np.ndarray,
    context: np.ndarray,
) -> PieceCounts:
    constants = _piece_constants(deployment, piece)
    flat = piece.counts(*args)
    n = len(piece.ops)
    if base_shape == full_shape:  # every op at one shape (prefill): one run
        groups = [(0, n, full_shape)]
    else:
        groups, start = [], 0
        for depends, members in groupby(op.context_dependent for op in piece.ops):
            size = len(list(members))
            groups.append((start, start + size, full_shape if depends else base_shape))
            start += size
    runs = []
    for start, stop, shape in groups:
        by_class: dict[int, list[int]] = {}
        for index in range(start, stop):
            by_class.setdefault(constants.codes[index], []).append(index)
        class_groups = []
        for code, indices in by_class.items():
            counts = {}
            for field in CLASS_FIELDS[code]:
                offset = COUNT_FIELDS.index(field) * n
                values = [flat[offset + index] for index in indices]
                if field in PER_OP_FIELDS and all(np.ndim(value) == 0 for value in values):
                    counts[field] = np.array(values, dtype=np.float64).reshape(-1, *(1,) * len(shape))
                    continue
                stacked = np.empty((len(indices), *shape))
                for row, value in enumerate(values):
                    stacked[row] = value
                counts[field] = stacked
            if code == 3:
                for row, index in enumerate(indices):
                    if constants.wire_factor[index] != 1.0:
                        counts["wire_bytes"][row] = counts["wire_bytes"][row] * constants.wire_factor[index]
            chosen = np.array(indices)
            class_groups.append(
                ClassGroup(
                    code=code,
                    rows=tuple(index - start for index in indices),
                    counts=counts,
                    peak_flops=constants.peak_flops[chosen],
                    bandwidth=constants.bandwidth[chosen],
                    point_to_point=constants.point_to_point[chosen],
                    crosses_nodes=constants.crosses_nodes[chosen],
                    eager_kinds=tuple(piece.ops[index].eager_kind for index in indices),
                )
            )
        runs.append(
            OpRun(
                start=start,
                size=stop - start,
                groups=tuple(class_groups),
                new_tokens=np.broadcast_to(new_tokens, shape),
                context=np.broadcast_to(context, shape) if shape == full_shape else np.ones(shape),
            )
        )
    return PieceCounts(piece.name, piece.ops, tuple(runs), constants.static)


def _devices_spanned(op: OpInfo, deployment: Deployment) -> int:
    """Devices a collective's traffic spans (0 for ops that are not collectives)."""
    if op.op_class is not OpClass.COLLECTIVE:
        return 0
    if op.collective is Collective.ALL_TO_ALL:
        return deployment.ep_span
    if op.collective is Collective.SEND_RECV:
        return deployment.pp_span
    return deployment.tp_span
