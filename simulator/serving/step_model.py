"""The time of one serving-engine step, from the simulator's own per-op counts and timing functions.

This is the only module of `simulator.serving` that touches simulator internals (`simulator.engine`,
`simulator.timing`, the op formulas); the rest of the package sees `StepModel`:

    model = StepModel.for_deployment(deployment, profile)
    model.step_seconds(decode_sequences, decode_context_sum, chunks, sampled)

A step is one forward pass over `decode_sequences` sequences decoding one token each (their KV contexts after
the step summing to `decode_context_sum`) plus prefill `chunks`, each (new_tokens, context_after): a whole
prompt is (p, p), a later chunk of a prompt attends over its prefix, (chunk, prefix + chunk). `sampled` sequences
produce a token (the LM head and sampling run on them).

Exactness. Every op count of a pass is affine in a few aggregates of the step: tokens T, sequences B, LM-head rows
L, and per attention window Σ causal (query, key) pairs P and Σ KV tokens read K. `for_deployment` evaluates
`count_pass` at a dozen (batch, new tokens, context) points, solves for each op's coefficients and checks that
they reproduce every point (models whose counts are not affine — MoE routing, MLA's phase-specific ops — are
refused). Times then come from `simulator.timing`'s per-op functions and its host/device (max, +) algebra, as
`time_pass` composes them: the ops that depend on T alone are timed once for every T (numpy, tables grown on
demand); attention is timed per step, the decode sequences with the decode formula at their mean context and the
chunks with the prefill formula at their mean length (two kernels when a step mixes both, as engines launch).
A uniform batch reproduces `simulate()` exactly (tests/test_serve.py). Pipeline stages run one after another
within a step, as `time_pass` has them (consecutive steps are not overlapped across stages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Any

import numpy as np
import sympy as sp  # type: ignore[import-untyped]

from simulator.deployment import Deployment
from simulator.engine import CLASS_CODES, Piece, count_pass
from simulator.errors import UserError
from simulator.graph import LayerKind, Phase
from simulator.ops import attention as attention_ops
from simulator.ops.cost import OpClass
from simulator.profile import Profile
from simulator.timing import attention_time, collective_time, elementwise_time, gemm_time, segment

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
FIELDS = ("flops", "moved", "gemm_m", "gemm_n", "gemm_k", "wire_bytes", "group")
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
class _Op:
    """One op: its class, peak rates, and each count field as coefficients over the aggregates."""

    code: int
    peak: float
    bandwidth: float
    point_to_point: bool
    crosses_nodes: bool
    coefficients: dict[str, np.ndarray]  # field → coefficients over the piece's aggregate columns

    def value(self, field: str, aggregates: Sequence[float]) -> float:
        return sum(c * x for c, x in zip(self.coefficients[field].tolist(), aggregates, strict=True))


class _TokenTable:
    """Segments of a run of ops that depend on the step's token count T only, for T = 0 … size − 1 (grown on
    demand), from the timing functions evaluated over all T at once."""

    def __init__(self, ops: list[_Op], first_extra_s: float, params: dict[str, float]) -> None:
        self.ops, self.first_extra_s, self.params = ops, first_extra_s, params
        self.host: list[float] = []
        self.device: list[float] = []
        self.critical: list[float] = []

    def __call__(self, tokens: int) -> Seg:
        if tokens >= len(self.host):
            self._build(max(2 * tokens, 1024))
        return self.host[tokens], self.device[tokens], self.critical[tokens]

    def _build(self, size: int) -> None:
        if not self.ops:
            self.host, self.device, self.critical = [0.0] * size, [0.0] * size, [0.0] * size
            return
        tokens = np.arange(size, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):  # T = 0 is never a step
            device = np.stack([_op_times(op, tokens, self.params) for op in self.ops])
        host = np.full_like(device, self.params["host.launch_s"])
        host[0] += self.first_extra_s
        seg = segment(host, device, np)
        self.host, self.device, self.critical = (np.asarray(x).tolist() for x in (seg.host, seg.device, seg.critical))


def _op_times(op: _Op, tokens: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """Device time of a T-only op over an array of T (aggregate columns [1, T])."""
    ones = np.ones_like(tokens)

    def field(name: str) -> np.ndarray:
        c = op.coefficients[name]
        return c[0] * ones + c[1] * tokens

    return np.asarray(_time(op, field, np, params))


def _time(op: _Op, field: Callable[[str], Any], xp: Any, params: dict[str, float]) -> Any:
    """The op's device time by its class's timing function (attention is timed separately)."""
    flops, moved = field("flops"), field("moved")
    if op.code == GEMM:
        result = gemm_time(
            flops, moved, field("gemm_m"), field("gemm_n"), field("gemm_k"), op.peak, op.bandwidth, params, xp
        )
    elif op.code == ELEMENTWISE:
        result = elementwise_time(flops, moved, op.peak, op.bandwidth, params, xp)
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
    ) -> None:
        self.params = params
        self._start = start
        self._layers = layers
        self._stages = stages
        self._epilogue_ops = epilogue
        self._transfer = transfer
        self._naive = naive_attention
        self._epilogue_cache: dict[tuple[int, int], Seg] = {}
        # No host cost per kernel or layer: every segment's critical path is its device time, so a step is the
        # per-step host time plus the sum of device times (what the (max, +) algebra gives, in closed form).
        self._device_only = params["host.launch_s"] == 0 and params["host.per_layer_s"] == 0
        self._layer_runs = {kind: sum(count for stage in stages for k, count in stage if k == kind) for kind in layers}
        self._rest_cache: dict[tuple[int, int], float] = {}

    @classmethod
    def for_deployment(cls, deployment: Deployment, profile: Profile) -> StepModel:
        """Coefficients from `count_pass` at SAMPLE_POINTS; UserError when the model's counts are not affine."""
        if profile.behaviours.naive_attention and not deployment.naive_attention:
            deployment = replace(deployment, naive_attention=True)  # the stack's kernels, as simulate() does
        if deployment.model.moe is not None or deployment.model.mla is not None or deployment.ep > 1:
            raise UserError(
                f"serve models dense transformers with standard attention; {deployment.model.id} has "
                + ("MoE layers" if deployment.model.moe is not None else "multi-head latent attention")
                + " (expert routing / MLA counts are not affine in a step's aggregates)"
            )
        params = profile.params()
        all_positions = profile.behaviours.lm_head_all_prompt_positions
        b, s, c = SAMPLE_POINTS.T
        counts = count_pass(deployment, Phase.PREFILL, b, s, c, all_positions)
        decode = count_pass(deployment, Phase.DECODE, b[:1], s[:1], c[:1], False)
        ones = np.ones_like(b)
        window = deployment.model.sliding_window
        pairs_of = np.vectorize(causal_pairs)

        def layer_columns(local: bool) -> np.ndarray:
            w = window if (local and window) else c
            kv = np.minimum(c, w + s - 1)
            pairs = s * kv if deployment.naive_attention else pairs_of(s, c, w)
            return np.stack([ones, b * s, b, b * pairs, b * kv], axis=1)

        epilogue_columns = np.stack([ones, b * s, b], axis=1)  # LM head rows: b, or b·s on every position

        def fitted(piece: Piece, columns: np.ndarray, where: str) -> list[_Op]:
            return [_fit_op(piece, i, columns, where) for i in range(len(piece.ops))]

        def token_only(ops: list[_Op], piece: Piece, where: str) -> list[_Op]:
            for op, cost in zip(ops, piece.ops, strict=True):
                if any(np.any(coef[2:] != 0) for coef in op.coefficients.values()):
                    raise UserError(f"serve: op {cost.name} of the {where} depends on more than the step's tokens")
            return [replace(op, coefficients={k: v[:2] for k, v in op.coefficients.items()}) for op in ops]

        prologue = token_only(fitted(counts.prologue, layer_columns(False), "prologue"), counts.prologue, "prologue")
        start = _TokenTable(prologue, 0.0, params)
        layers: dict[LayerKind, _Layer] = {}
        for kind, piece in counts.layers.items():
            names = [op.name for op in piece.ops]
            if names != [op.name for op in decode.layers[kind].ops]:
                raise UserError(f"serve: {deployment.model.id}'s layers run different ops in prefill and decode")
            ops = fitted(piece, layer_columns(kind.local_attention), f"{kind.label} layer")
            at = [i for i, code in enumerate(piece.classes) if code == ATTENTION]
            if len(at) != 1:
                raise UserError(f"serve: a {kind.label} layer of {deployment.model.id} has {len(at)} attention ops")
            i = at[0]
            if i == 0:
                raise UserError(f"serve: a {kind.label} layer of {deployment.model.id} starts with attention")
            before = token_only(ops[:i], replace(piece, ops=piece.ops[:i]), f"{kind.label} layer")
            after = token_only(ops[i + 1 :], replace(piece, ops=piece.ops[i + 1 :]), f"{kind.label} layer")
            layers[kind] = _Layer(
                before=_TokenTable(before, params["host.per_layer_s"], params),  # a layer's first op pays it
                attention=ops[i],
                window=float(window) if (kind.local_attention and window) else None,
                after=_TokenTable(after, 0.0, params),
            )
        epilogue = fitted(counts.epilogue, epilogue_columns, "epilogue")
        transfer = None
        if counts.stage_transfer is not None:
            moved = fitted(counts.stage_transfer, layer_columns(False), "stage transfer")
            transfer = _TokenTable(token_only(moved, counts.stage_transfer, "stage transfer"), 0.0, params)
        stages = [[(kind, len(list(run))) for kind, run in groupby(stage)] for stage in counts.stages]
        return cls(params, start, layers, stages, epilogue, transfer, deployment.naive_attention)

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
        layer_segments: dict[LayerKind, Seg] = {}
        attention_device = 0.0
        for kind, layer in self._layers.items():
            fc, mc = layer.flops_coefficients, layer.moved_coefficients
            host, device, critical = layer.before(tokens)
            if decode_sequences:
                context = decode_context_sum / decode_sequences
                kv = decode_sequences * min(context, layer.window) if layer.window else decode_context_sum
                # aggregates (1, T, B, P, K) = (1, n, n, kv, kv): one token per sequence, pairs = KV read
                flops = fc[0] + (fc[1] + fc[2]) * decode_sequences + (fc[3] + fc[4]) * kv
                moved = mc[0] + (mc[1] + mc[2]) * decode_sequences + (mc[3] + mc[4]) * kv
                kernel = attention_time(
                    flops, moved, 1.0, context, True, layer.peak, layer.bandwidth, params, _Scalar
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
                kernel = attention_time(
                    flops, moved, prefill_tokens / n, 0.0, False, layer.peak, layer.bandwidth, params, _Scalar
                ).total
                critical = max(critical + kernel, host + launch + kernel)
                host, device = host + launch, device + kernel
            if self._device_only:
                attention_device += self._layer_runs[kind] * (device - layer.before(tokens)[1])
                continue
            layer_segments[kind] = _compose((host, device, critical), layer.after(tokens))
        step = params["host.per_step_s"]
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

            device = float(_time(op, field, _Scalar, self.params))
            seg = _compose(seg, (launch, device, launch + device))
        self._epilogue_cache[key] = seg
        return seg


_causal_pairs = sp.lambdify(
    sp.symbols("s c w"), attention_ops.causal_pairs(*sp.symbols("s c w")), modules=[{"Min": min, "Max": max}, "math"]
)


def causal_pairs(new_tokens: float, context: float, window: float) -> float:
    """Causal (query, key) pairs of one sequence: the formula of `simulator.ops.attention`, on floats."""
    return float(_causal_pairs(new_tokens, context, window))


def _fit_op(piece: Piece, index: int, columns: np.ndarray, where: str) -> _Op:
    """Coefficients of one op's count fields over the aggregate columns, checked to reproduce every point."""
    counts = piece.counts
    values = {
        "flops": counts["flops"][index],
        "moved": counts["bytes_read"][index] + counts["bytes_written"][index],
        **{name: counts[name][index] for name in FIELDS[2:]},
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
    )
