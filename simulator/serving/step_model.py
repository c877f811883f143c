"""The time of one serving-engine step, from the simulator's own per-op counts and timing functions.

This is the only module of `simulator.serving` that touches simulator internals (`simulator.counting`,
`simulator.pass_timing`, `simulator.timing`, the op formulas); the rest of the package sees `StepModel`:

    model = StepModel.for_deployment(deployment, profile)
    model.step_seconds(decode_sequences, decode_context_sum, chunks, sampled)

A step is one forward pass over `decode_sequences` sequences decoding one token each (their KV contexts after
the step summing to `decode_context_sum`) plus prefill `chunks`, each (new_tokens, context_after): a whole
prompt is (p, p), a later chunk of a prompt attends over its prefix, (chunk, prefix + chunk). `sampled` sequences
produce a token (the LM head and sampling run on them).

Exactness. Apart from attention and the LM head, every op of a pass depends on the step's token count T alone
(`for_deployment` checks it: b sequences of s tokens cost what b·s one-token sequences do, at a dozen points).
Those ops are evaluated by the simulator itself for every T at once — `count_pass` of a T-sequence decode pass,
`pass_timing.run_time`, `timing.segment` — in tables grown on demand (MoE layers included: the experts a step
touches grow with T). Attention's counts are affine in T, sequences B, Σ causal (query, key) pairs P and Σ KV
tokens read K (per attention window), the epilogue's in T and B (LM-head rows): coefficients solved from
`count_pass` at the same points and checked to reproduce them. Attention is timed per step with
`timing.attention_time`: the decode sequences with the decode formula at their mean context, the chunks with the
prefill formula at their mean length (two kernels when a step mixes both, as engines launch them). Steps compose
by the host/device (max, +) algebra as `time_pass` does; with no per-kernel host cost that is the per-step host
time plus the sum of device times. A uniform batch reproduces `simulate()` exactly (tests/test_serve.py).
Pipeline stages run one after another within a step, as in `time_pass` (consecutive steps do not overlap
across stages). Refused: MLA (its prefill and decode run different ops) and expert parallelism.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import numpy as np
import sympy as sp

from idealrt.simulator.compiled.fields import COUNT_FIELDS
from idealrt.simulator.counting import (
    CLASS_CODES,
    CountingOptions,
    PassCounts,
    PieceCounts,
    count_pass,
    counting_options,
)
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.op_kinds import OpClass, OpInfo
from idealrt.simulator.ops import attention as attention_ops
from idealrt.simulator.pass_timing import run_time, step_host_s
from idealrt.simulator.profile import Profile
from idealrt.simulator.structure import LayerKind, Phase
from idealrt.simulator.timing import (
    CacheLevel,
    GemmGeometry,
    attention_time,
    collective_time,
    composite_extra_s,
    elementwise_time,
    gemm_time,
    segment,
)

# (batch, new tokens, context after the pass): chunks with and without a prefix, windows crossed and not
SAMPLE_POINTS = np.array(
    [
        (1, 1, 1),
        (2, 1, 7),
        (3, 5, 5),
        (1, 17, 40),
        (4, 9, 30),
        (7, 3, 100),
        (2, 64, 64),
        (5, 33, 200),
        (1, 100, 4000),
        (3, 2, 5000),
        (6, 128, 300),
        (2, 256, 9000),
        (1, 3000, 12000),
        (9, 1, 20000),
    ],
    dtype=np.float64,
)
FIELDS = ("flops", "moved", "cache", "gemm_m", "gemm_n", "gemm_k", "wire_bytes", "group")
AFFINE_TOLERANCE = 1e-7  # relative residual of the affine fit at the sample points (float rounding only)
GEMM, ATTENTION, ELEMENTWISE, COLLECTIVE = (CLASS_CODES[c] for c in OpClass)
Seg = tuple[float, float, float]  # (host, device, critical) of timing.Segment, as Python floats


class _Scalar:
    """The array namespace the timing functions need, for Python floats."""

    maximum = staticmethod(max)

    @staticmethod
    def where(condition: Any, yes: Any, no: Any) -> Any:
        return yes if condition else no


def _compose(first: Seg, second: Seg) -> Seg:
    """timing.compose on floats."""
    return (
        first[0] + second[0],
        first[1] + second[1],
        max(first[2] + second[1], first[0] + second[2]),
    )


def _repeat(one: Seg, times: int) -> Seg:
    """timing.repeat on floats."""
    return (one[0] * times, one[1] * times, one[2] + (times - 1) * max(one[0], one[1]))


@dataclass(frozen=True)
class Piece:
    """A piece of a pass as this module reads it: its ops in order, every count field stacked over them."""

    ops: tuple[OpInfo, ...]
    counts: dict[str, np.ndarray]  # COUNT_FIELDS, each (n_ops, *cases)
    classes: tuple[int, ...]
    peak_flops: np.ndarray
    bandwidth: np.ndarray
    point_to_point: np.ndarray
    crosses_nodes: np.ndarray
    source: PieceCounts


def _flat(piece: PieceCounts) -> Piece:
    """The piece counted at one shape (every sample point of a pass is one case)."""
    rows = [counts for _, counts in piece.op_counts()]
    shape = np.broadcast_shapes(*(np.shape(value) for row in rows for value in row.values()))
    n = len(piece.ops)
    constants = {name: np.zeros(n) for name in ("peak_flops", "bandwidth")}
    flags = {name: np.zeros(n, dtype=bool) for name in ("point_to_point", "crosses_nodes")}
    classes = [0] * n
    for run in piece.runs:
        for group in run.groups:
            for index, row in enumerate(group.rows):
                position = run.start + row
                classes[position] = group.code
                for name in constants:
                    constants[name][position] = getattr(group, name)[index]
                for name in flags:
                    flags[name][position] = getattr(group, name)[index]
    return Piece(
        ops=piece.ops,
        counts={field: np.stack([np.broadcast_to(row[field], shape) for row in rows]) for field in COUNT_FIELDS},
        classes=tuple(classes),
        source=piece,
        **constants,
        **flags,
    )


def piece_time(
    piece: Piece,
    phase: Phase,
    params: dict[str, float],
    geometry: GemmGeometry | None = None,
    cache: CacheLevel | None = None,
) -> np.ndarray:
    """Every op's device time, in op order, by the simulator's own timing of the piece."""
    runs = piece.source.runs
    return np.concatenate(
        [np.asarray(run_time(run, phase, params, geometry=geometry, cache=cache).total) for run in runs]
    )


@dataclass(frozen=True)
class _Op:
    """One op: its class, peak rates, and each count field as coefficients over the aggregates."""

    code: int
    peak: float
    bandwidth: float
    point_to_point: bool
    crosses_nodes: bool
    coefficients: dict[str, np.ndarray]  # field → coefficients over the piece's aggregate columns
    eager_kind: str | None = None

    def value(self, field: str, aggregates: Sequence[float]) -> float:
        return sum(c * x for c, x in zip(self.coefficients[field].tolist(), aggregates, strict=True))


class _TokenTable:
    """(host, device, critical) of a run of ops that depend on the step's token count T alone, for every T up to
    a size the shared `_TokenTables` grows on demand."""

    def __init__(self, owner: _TokenTables) -> None:
        self.owner = owner
        self.host: list[float] = []
        self.device: list[float] = []
        self.critical: list[float] = []

    def __call__(self, tokens: int) -> Seg:
        if tokens >= len(self.host):
            self.owner.build(max(2 * tokens, 1024))
        return self.host[tokens], self.device[tokens], self.critical[tokens]


@dataclass(frozen=True)
class _Run:
    piece: Callable[[PassCounts], Piece]  # which piece of a pass
    ops: list[int]  # the run's op indices in it
    first_extra_s: float  # host time the run's first op adds (a layer's per-layer overhead)
    table: _TokenTable


class _TokenTables:
    """Every token-only run, evaluated by the simulator itself: `count_pass` of a decode pass of T sequences
    (T new tokens) for T = 0 … size − 1 in one vectorized call, `piece_time` for each op's time, `segment` for
    the run's host/device critical path."""

    def __init__(self, deployment: Deployment, params: dict[str, float], options: CountingOptions) -> None:
        self.deployment, self.params, self.options = deployment, params, options
        self.runs: list[_Run] = []

    def add(self, piece: Callable[[PassCounts], Piece], ops: list[int], first_extra_s: float = 0.0) -> _TokenTable:
        table = _TokenTable(self)
        self.runs.append(_Run(piece, ops, first_extra_s, table))
        return table

    def build(self, size: int) -> None:
        tokens = np.arange(size, dtype=np.float64)
        tokens[0] = 1.0  # T = 0 is never a step; keeps the row finite
        ones = np.ones_like(tokens)
        counts = count_pass(self.deployment, Phase.DECODE, tokens, ones, ones, self.options)
        for run in self.runs:
            table = run.table
            if not run.ops:
                table.host, table.device, table.critical = [0.0] * size, [0.0] * size, [0.0] * size
                continue
            device = piece_time(
                run.piece(counts), Phase.DECODE, self.params, counts.gemm_geometry, counts.elementwise_cache
            )[run.ops]
            host = np.full_like(device, self.params["host.launch_s"])
            host[0] += run.first_extra_s
            seg = segment(host, device, np)
            table.host, table.device, table.critical = (
                np.asarray(x).tolist() for x in (seg.host, seg.device, seg.critical)
            )


def _time(
    op: _Op,
    field: Callable[[str], Any],
    xp: Any,
    params: dict[str, float],
    geometry: GemmGeometry | None,
    cache: CacheLevel | None,
) -> Any:
    """The op's device time by its class's timing function (attention is timed separately)."""
    flops, moved = field("flops"), field("moved")
    if op.code == GEMM:
        result = gemm_time(
            flops, moved, field("gemm_m"), field("gemm_n"), field("gemm_k"), op.peak, op.bandwidth, params, xp, geometry
        )
    elif op.code == ELEMENTWISE:
        composite = composite_extra_s(op.eager_kind, params)
        result = elementwise_time(flops, moved, op.peak, op.bandwidth, params, xp, composite, cache)
    elif op.code == COLLECTIVE:
        result = collective_time(
            field("wire_bytes"), field("group"), op.bandwidth, op.point_to_point, op.crosses_nodes, params, xp
        )
    else:
        raise AssertionError("attention ops are timed per step")
    return result.total


@dataclass
class _Layer:
    before: _TokenTable  # the ops before attention
    attention: _Op  # coefficients over [1, T, B, P, K] of this layer's window
    window: float | None  # sliding window (None: global)
    after: _TokenTable

    def __post_init__(self) -> None:
        self.flops_coefficients: list[float] = self.attention.coefficients["flops"].tolist()
        self.moved_coefficients: list[float] = self.attention.coefficients["moved"].tolist()
        self.cache_coefficients: list[float] = self.attention.coefficients["cache"].tolist()
        self.peak, self.bandwidth = self.attention.peak, self.attention.bandwidth


class StepModel:
    """Seconds of one engine step on one replica of a deployment (see the module docstring)."""

    def __init__(
        self,
        params: dict[str, float],
        start: _TokenTable,
        layers: dict[LayerKind, _Layer],
        stages: list[list[tuple[LayerKind, int]]],
        epilogue: list[_Op],
        transfer: _TokenTable | None,
        naive_attention: bool,
        geometry: GemmGeometry | None = None,
        cache: CacheLevel | None = None,
    ) -> None:
        self.params = params
        self._geometry = geometry
        self._cache = cache
        self._start = start
        self._layers = layers
        self._stages = stages
        self._epilogue_ops = epilogue
        self._transfer = transfer
        self._naive = naive_attention
        self._epilogue_cache: dict[tuple[int, int], Seg] = {}
        # No host cost per kernel or layer: every segment's critical path is its device time, so a step is the
        # per-step host time plus the sum of device times (what the (max, +) algebra gives, in closed form).
        self._device_only = (
            params["host.launch_s"] == 0
            and params["host.per_layer_s"] == 0
            and params["host.first_pass_per_layer_s"] == 0
        )
        self._layer_runs = {kind: sum(count for stage in stages for k, count in stage if k == kind) for kind in layers}
        self._rest_cache: dict[tuple[int, int], float] = {}

    @classmethod
    def for_deployment(cls, deployment: Deployment, profile: Profile) -> StepModel:
        """Checks and coefficients from `count_pass` at SAMPLE_POINTS (module docstring); UserError when the
        model's counts do not have that shape."""
        options = counting_options(profile)  # the stack's kernels, as simulate() counts them
        if deployment.model.mla is not None or deployment.ep > 1:
            raise UserError(
                f"serve simulates attention that is the same op in prefill and decode, without expert parallelism; "
                f"{deployment.model.id} "
                + ("has multi-head latent attention" if deployment.model.mla is not None else f"at ep={deployment.ep}")
                + " is not supported"
            )
        params = profile.params()
        b, s, c = SAMPLE_POINTS.T
        counts = _flat_pass(count_pass(deployment, Phase.PREFILL, b, s, c, options))
        ones = np.ones_like(b)
        window = deployment.model.sliding_window
        pairs_of = np.vectorize(causal_pairs)

        def layer_columns(local: bool) -> np.ndarray:
            w = window if (local and window) else c
            kv = np.minimum(c, w + s - 1)
            pairs = s * kv if options.naive_attention else pairs_of(s, c, w)
            return np.stack([ones, b * s, b, b * pairs, b * kv], axis=1)

        epilogue_columns = np.stack([ones, b * s, b], axis=1)  # LM head rows: b, or b·s on every position

        def fitted(piece: Piece, columns: np.ndarray, where: str) -> list[_Op]:
            return [_fit_op(piece, i, columns, where) for i in range(len(piece.ops))]

        tables = _TokenTables(deployment, params, options)
        # the same tokens, one each
        by_tokens = _flat_pass(count_pass(deployment, Phase.DECODE, b * s, ones, ones, options))

        def token_only(piece: Piece, same: Piece, ops: Sequence[int], where: str) -> None:
            """Check that the ops depend on the step's tokens alone: b sequences of s tokens cost what b·s
            sequences of one token do."""
            for i in ops:
                if piece.ops[i].name != same.ops[i].name:
                    raise UserError(f"serve: {deployment.model.id}'s {where} runs different ops in prefill and decode")
                for name, values in piece.counts.items():
                    expected = np.broadcast_to(same.counts[name][i], values[i].shape)
                    if not np.allclose(values[i], expected, rtol=AFFINE_TOLERANCE, atol=0):
                        raise UserError(
                            f"serve: the {name} of op {piece.ops[i].name} ({where}) depends on more than the step's tokens"
                        )

        token_only(counts.prologue, by_tokens.prologue, range(len(counts.prologue.ops)), "prologue")
        start = tables.add(lambda pass_counts: _flat(pass_counts.prologue), list(range(len(counts.prologue.ops))))
        layers: dict[LayerKind, _Layer] = {}
        for kind, piece in counts.layers.items():
            if len(piece.ops) != len(by_tokens.layers[kind].ops):
                raise UserError(f"serve: {deployment.model.id}'s layers run different ops in prefill and decode")
            at = [i for i, code in enumerate(piece.classes) if code == ATTENTION]
            if len(at) != 1:
                raise UserError(f"serve: a {kind.label} layer of {deployment.model.id} has {len(at)} attention ops")
            i = at[0]
            if i == 0:
                raise UserError(f"serve: a {kind.label} layer of {deployment.model.id} starts with attention")
            others = [j for j in range(len(piece.ops)) if j != i]
            token_only(piece, by_tokens.layers[kind], others, f"{kind.label} layer")

            def layer_piece(pass_counts: PassCounts, kind: LayerKind = kind) -> Piece:
                return _flat(pass_counts.layers[kind])

            layers[kind] = _Layer(
                before=tables.add(layer_piece, list(range(i)), params["host.per_layer_s"]),  # a layer's first op
                attention=_fit_op(piece, i, layer_columns(kind.local_attention), f"{kind.label} layer"),
                window=float(window) if (kind.local_attention and window) else None,
                after=tables.add(layer_piece, list(range(i + 1, len(piece.ops)))),
            )
        epilogue = fitted(counts.epilogue, epilogue_columns, "epilogue")
        transfer = None
        if counts.stage_transfer is not None:
            assert by_tokens.stage_transfer is not None
            transfer_ops = list(range(len(counts.stage_transfer.ops)))
            token_only(counts.stage_transfer, by_tokens.stage_transfer, transfer_ops, "stage transfer")

            def transfer_piece(pass_counts: PassCounts) -> Piece:
                assert pass_counts.stage_transfer is not None
                return _flat(pass_counts.stage_transfer)

            transfer = tables.add(transfer_piece, transfer_ops)
        stages = [[(kind, len(list(run))) for kind, run in groupby(stage)] for stage in counts.stages]
        return cls(
            params,
            start,
            layers,
            stages,
            epilogue,
            transfer,
            options.naive_attention,
            deployment.gemm_geometry(),
            deployment.elementwise_cache(),
        )

    def step_seconds(
        self,
        decode_sequences: int,
        decode_context_sum: float,
        chunks: Sequence[tuple[int, int]] = (),
        sampled: int | None = None,
    ) -> float:
        """Seconds of one step (host starting it to the device finishing it); see the module docstring."""
        prefill_tokens = 0
        for new, _ in chunks:
            prefill_tokens += new
        tokens = decode_sequences + prefill_tokens
        sequences = decode_sequences + len(chunks)
        if sampled is None:
            sampled = sequences
        params = self.params
        launch = params["host.launch_s"]
        # a chunk that is a whole prompt so far (context = new) is its request's first pass (`HostModel`)
        first_pass = params["host.first_pass_per_layer_s"] if any(new == context for new, context in chunks) else 0.0
        layer_segments: dict[LayerKind, Seg] = {}
        attention_device = 0.0
        for kind, layer in self._layers.items():
            fc, mc, cc = layer.flops_coefficients, layer.moved_coefficients, layer.cache_coefficients
            host, device, critical = layer.before(tokens)
            host, critical = host + first_pass, critical + first_pass  # host work before the layer's first launch
            if decode_sequences:
                context = decode_context_sum / decode_sequences
                kv = decode_sequences * min(context, layer.window) if layer.window else decode_context_sum
                # aggregates (1, T, B, P, K) = (1, n, n, kv, kv): one token per sequence, pairs = KV read
                flops = fc[0] + (fc[1] + fc[2]) * decode_sequences + (fc[3] + fc[4]) * kv
                moved = mc[0] + (mc[1] + mc[2]) * decode_sequences + (mc[3] + mc[4]) * kv
                cache = cc[0] + (cc[1] + cc[2]) * decode_sequences + (cc[3] + cc[4]) * kv
                kernel = attention_time(
                    flops, moved, 1.0, context, True, layer.peak, layer.bandwidth, params, _Scalar, cache_bytes=cache
                ).total
                critical = max(critical + kernel, host + launch + kernel)
                host, device = host + launch, device + kernel
            if chunks:
                pairs, kv = 0.0, 0.0
                for new, context in chunks:
                    window = layer.window or context
                    kv_tokens = min(context, window + new - 1)
                    kv += kv_tokens
                    pairs += new * kv_tokens if self._naive else causal_pairs(new, context, window)
                n = len(chunks)
                flops = fc[0] + fc[1] * prefill_tokens + fc[2] * n + fc[3] * pairs + fc[4] * kv
                moved = mc[0] + mc[1] * prefill_tokens + mc[2] * n + mc[3] * pairs + mc[4] * kv
                cache = cc[0] + cc[1] * prefill_tokens + cc[2] * n + cc[3] * pairs + cc[4] * kv
                kernel = attention_time(
                    flops,
                    moved,
                    prefill_tokens / n,
                    0.0,
                    False,
                    layer.peak,
                    layer.bandwidth,
                    params,
                    _Scalar,
                    cache_bytes=cache,
                ).total
                critical = max(critical + kernel, host + launch + kernel)
                host, device = host + launch, device + kernel
            if self._device_only:
                attention_device += self._layer_runs[kind] * (device - layer.before(tokens)[1])
                continue
            layer_segments[kind] = _compose((host, device, critical), layer.after(tokens))
        step = step_host_s(params, tokens)
        if self._device_only:
            return step + self._rest_device(tokens, sampled) + attention_device
        total = 0.0
        last = len(self._stages) - 1
        for index, stage in enumerate(self._stages):
            path: Seg = _compose((step, 0.0, step), self._start(tokens)) if index == 0 else (0.0, 0.0, 0.0)
            for kind, count in stage:
                path = _compose(path, _repeat(layer_segments[kind], count))
            if index == last:
                tail = self._epilogue(tokens, sampled)
            else:
                assert self._transfer is not None
                tail = self._transfer(tokens)
            total += _compose(path, tail)[2]
        return total

    def _rest_device(self, tokens: int, sampled: int) -> float:
        """Device seconds of every op but attention in a step (the no-host-cost case)."""
        key = (tokens, sampled)
        cached = self._rest_cache.get(key)
        if cached is None:
            cached = self._start(tokens)[1] + self._epilogue(tokens, sampled)[1]
            for kind, layer in self._layers.items():
                cached += self._layer_runs[kind] * (layer.before(tokens)[1] + layer.after(tokens)[1])
            if self._transfer is not None:
                cached += (len(self._stages) - 1) * self._transfer(tokens)[1]
            self._rest_cache[key] = cached
        return cached

    def _epilogue(self, tokens: int, sampled: int) -> Seg:
        key = (tokens, sampled)
        cached = self._epilogue_cache.get(key)
        if cached is not None:
            return cached
        aggregates = (1.0, float(tokens), float(sampled))
        launch = self.params["host.launch_s"]
        seg: Seg = (0.0, 0.0, 0.0)
        for op in self._epilogue_ops:
            if sampled == 0 and any(coefficients[2] for coefficients in op.coefficients.values()):
                continue  # no sequence takes a token this step (only partial chunks): no logits, no sampling

            def field(name: str, op: _Op = op) -> float:
                return op.value(name, aggregates)

            device = float(_time(op, field, np, self.params, self._geometry, self._cache))
            seg = _compose(seg, (launch, device, launch + device))
        self._epilogue_cache[key] = seg
        return seg


_causal_pairs = sp.lambdify(
    sp.symbols("s c w"), attention_ops.causal_pairs(*sp.symbols("s c w")), modules=[{"Min": min, "Max": max}, "math"]
)


def causal_pairs(new_tokens: float, context: float, window: float) -> float:
    """Causal (query, key) pairs of one sequence: the formula of `simulator.ops.attention`, on floats."""
    return float(_causal_pairs(new_tokens, context, window))


@dataclass(frozen=True)
class _FlatPass:
    """A counted pass with its pieces as `Piece`s."""

    prologue: Piece
    layers: dict[LayerKind, Piece]
    epilogue: Piece
    stage_transfer: Piece | None
    stages: tuple[tuple[LayerKind, ...], ...]


def _flat_pass(counts: PassCounts) -> _FlatPass:
    return _FlatPass(
        prologue=_flat(counts.prologue),
        layers={kind: _flat(piece) for kind, piece in counts.layers.items()},
        epilogue=_flat(counts.epilogue),
        stage_transfer=None if counts.stage_transfer is None else _flat(counts.stage_transfer),
        stages=counts.stages,
    )


def _fit_op(piece: Piece, index: int, columns: np.ndarray, where: str) -> _Op:
    """Coefficients of one op's count fields over the aggregate columns, checked to reproduce every point."""
    counts = piece.counts
    values = {
        "flops": counts["flops"][index],
        "moved": counts["bytes_read"][index] + counts["bytes_written"][index],
        # attention's KV-cache read, as pass_timing derives it (Q in and O out are the same size)
        "cache": np.maximum(counts["bytes_read"][index] - counts["bytes_written"][index], 0.0),
        **{name: counts[name][index] for name in FIELDS[3:]},
    }
    coefficients = {}
    for name, target in values.items():
        target = np.broadcast_to(target, columns[:, 0].shape).astype(np.float64)
        scale = np.max(np.abs(columns), axis=0)
        solution = np.linalg.lstsq(columns / scale, target, rcond=None)[0] / scale
        solution[np.abs(solution) < 1e-9 * max(1.0, float(np.max(np.abs(solution))))] = 0.0
        error = np.max(np.abs(columns @ solution - target)) / max(1.0, float(np.max(np.abs(target))))
        if error > AFFINE_TOLERANCE:
            raise UserError(
                f"serve: the {name} of op {piece.ops[index].name} ({where}) is not affine in the step's aggregates"
            )
        coefficients[name] = solution
    return _Op(
        code=piece.classes[index],
        peak=float(piece.peak_flops[index]),
        bandwidth=float(piece.bandwidth[index]),
        point_to_point=bool(piece.point_to_point[index]),
        crosses_nodes=bool(piece.crosses_nodes[index]),
        coefficients=coefficients,
        eager_kind=piece.ops[index].eager_kind,
    )
