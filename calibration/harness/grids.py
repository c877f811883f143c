"""What a `measure` run sweeps, per device kind and mode (quick or full): shapes, sizes, dtypes, time budgets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product

from idealrt.calibration.harness.timing import TimingPolicy

# (batch, heads, kv heads, head dim, context) of the eager framework-call sweep: decode steps of small models.
FRAMEWORK_SHAPES = ((1, 8, 2, 64, 128), (8, 8, 2, 64, 512))

KB, MB = 1024, 1024**2


@dataclass(frozen=True)
class AttentionShape:
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    new_tokens: int  # prefill: = context; decode: 1
    context: int


@dataclass(frozen=True)
class FrameworkShape:
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int


@dataclass(frozen=True)
class SweepPlan:
    policy: TimingPolicy
    gemm_shapes: tuple[tuple[int, int, int], ...]  # (M, N, K)
    gemm_dtypes: tuple[str, ...]
    gemm_max_flops: dict[str, float]  # per dtype: skip shapes above this many FLOPs (slow formats on CPUs)
    bandwidth_bytes: tuple[int, ...]  # size of one operand
    attention: tuple[AttentionShape, ...]
    elementwise_shapes: tuple[tuple[int, int], ...]  # (rows, width)
    activation_dtype: str  # attention, elementwise and bandwidth sweeps
    all_reduce_bytes: tuple[int, ...]
    e2e_points: tuple[tuple[int, int, int], ...]  # (batch, prompt, output)
    e2e_policy: TimingPolicy  # warm-ups per model; timed requests per point and visit within the budget
    e2e_dtype: str
    framework: tuple[FrameworkShape, ...] = ()  # decode-step shapes for the eager framework-call sweep
    # > 0: each GEMM reads its weight, each decode attention its KV cache, from beyond a cache this large (a decode
    # step streams both from DRAM)
    cold_bytes: int = 0
    # Each end-to-end point is measured in this many visits spread through the run, its time the median over all of
    # them: a shared machine's memory bandwidth drifts by tens of percent within a minute, and the microbenchmarks
    # that predict a point are spread through the run too.
    e2e_visits: int = 1


def sweep_plan(device_kind: str, quick: bool, last_level_cache_bytes: float | None) -> SweepPlan:
    if device_kind == "cuda":
        return _cuda_plan(quick, last_level_cache_bytes)
    return _cpu_plan(quick, last_level_cache_bytes)


def _gemm_shapes(ms: tuple[int, ...], nks: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    return tuple((m, n, k) for (n, k), m in product(nks, ms))


def _bandwidth_sizes(largest_cache: float | None, floor_bytes: int, factor: int) -> tuple[int, ...]:
    """64 KB upward by `factor` until the size is at least 4× the last-level cache (and `floor_bytes`)."""
    top = max(4 * (largest_cache or 64 * MB), floor_bytes)
    sizes = [64 * KB]
    while sizes[-1] < top:
        sizes.append(sizes[-1] * factor)
    return tuple(sizes)


def _attention_shapes(
    prefill_seqs: tuple[int, ...],
    prefill_batches: tuple[int, ...],
    decode_contexts: tuple[int, ...],
    decode_batches: tuple[int, ...],
    heads: int,
    kv_heads: tuple[int, ...],
    head_dim: int,
    max_kv_elements: int,
) -> tuple[AttentionShape, ...]:
    """Prefill (new tokens = context = seq, causal) and decode (one query over the context) shapes whose K and V
    together hold at most `max_kv_elements` elements."""
    prefill = [
        AttentionShape(b, heads, kv, head_dim, s, s) for b, s, kv in product(prefill_batches, prefill_seqs, kv_heads)
    ]
    decode = [
        AttentionShape(b, heads, kv, head_dim, 1, c) for b, c, kv in product(decode_batches, decode_contexts, kv_heads)
    ]
    return tuple(a for a in prefill + decode if 2 * a.batch * a.kv_heads * a.context * a.head_dim <= max_kv_elements)


# (batch, prompt, output) of the quick CPU closed loop: batch 1–8, prompt 64–512, output 8–16, at most 1,024
# prompt tokens per request so that three models fit the quick budget.
QUICK_CPU_E2E_POINTS = ((1, 64, 16), (1, 512, 8), (2, 512, 16), (4, 256, 8), (8, 64, 16), (8, 128, 8))


def _cold_bytes(largest_cache: float | None) -> int:
    """Twice the last-level cache: the weight copies a GEMM sweep cycles through so that none is still cached."""
    return int(2 * (largest_cache or 64 * MB))


GLIBC_MMAP_CEILING = 32 * 2**20  # glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)


def _heap_sized(shapes: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """CPU elementwise shapes whose fp32 outputs stay below glibc's mmap ceiling. A larger tensor is always a fresh
    mapping, so every call of an eager op that allocates one pays first-touch page faults (on the 2-core VM on
    2026-12-04 an RMSNorm of 2048 × 4096 took 78–99 ms, 90–150× the time of 256 × 4096, 8× smaller), which the
    activations of the models measured here never do; the copy and clone sweep shows that cost separately."""
    return tuple((rows, width) for rows, width in shapes if rows * width * 4 < GLIBC_MMAP_CEILING)


def _cpu_plan(quick: bool, llc: float | None) -> SweepPlan:
    if quick:
        return SweepPlan(
            policy=TimingPolicy(budget_s=0.08, warmups=2, min_repeats=3, max_repeats=200),
            # 4095 × 1024 beside its aligned neighbour: an N that is not a whole number of SIMD vectors
            gemm_shapes=_gemm_shapes(
                (1, 2, 4, 8, 16, 64, 256, 1024),
                ((512, 512), (1536, 512), (2048, 512), (512, 2048), (4095, 1024), (4096, 1024), (2048, 2048)),
            ),
            gemm_dtypes=("fp32", "bf16"),
            gemm_max_flops={"fp32": 1e10, "bf16": 1.1e9},
            bandwidth_bytes=_bandwidth_sizes(llc, 32 * MB, 4),
            attention=_attention_shapes((64, 256, 1024), (1,), (128, 1024, 4096), (1, 8), 8, (8, 2), 64, 2**26),
            elementwise_shapes=_heap_sized(product((1, 16, 256, 2048), (512, 4096))),
            activation_dtype="fp32",
            all_reduce_bytes=(),
            e2e_points=QUICK_CPU_E2E_POINTS,
            e2e_policy=TimingPolicy(budget_s=0.0, warmups=1, min_repeats=1, max_repeats=1),
            e2e_visits=3,
            e2e_dtype="fp32",
            framework=tuple(FrameworkShape(*shape) for shape in FRAMEWORK_SHAPES),
            cold_bytes=_cold_bytes(llc),
        )
    return SweepPlan(
        policy=TimingPolicy(budget_s=0.4, warmups=3, min_repeats=5, max_repeats=2000),
        gemm_shapes=_gemm_shapes(
            (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
            (
                (512, 512),
                (1024, 1024),
                (1536, 512),
                (2048, 512),
                (512, 2048),
                (4096, 1024),
                (1024, 4096),
                (4095, 1024),
                (1000, 1000),
                (3000, 1000),
                (2048, 2048),
                (4096, 4096),
            ),
        ),
        gemm_dtypes=("fp32", "bf16"),
        gemm_max_flops={"fp32": 7e10, "bf16": 9e9},
        bandwidth_bytes=_bandwidth_sizes(llc, 64 * MB, 2),
        attention=_attention_shapes(
            (32, 64, 128, 256, 512, 1024, 2048),
            (1, 4),
            (64, 256, 1024, 4096, 16384),
            (1, 4, 16),
            8,
            (8, 2, 1),
            64,
            2**27,
        ),
        elementwise_shapes=_heap_sized(product((1, 4, 16, 64, 256, 1024, 4096), (512, 1024, 4096))),
        activation_dtype="fp32",
        all_reduce_bytes=(),
        e2e_points=tuple(p for p in product((1, 4, 16), (16, 128, 512), (4, 16, 64)) if p[0] * p[1] <= 2048),
        e2e_policy=TimingPolicy(budget_s=1.5, warmups=1, min_repeats=1, max_repeats=2),
        e2e_visits=3,
        e2e_dtype="fp32",
        framework=tuple(FrameworkShape(*shape) for shape in FRAMEWORK_SHAPES),
        cold_bytes=_cold_bytes(llc),
    )


def _cuda_plan(quick: bool, l2: float | None) -> SweepPlan:
    all_reduce = tuple(4 * KB * 4**i for i in range(10)) + (256 * MB,)  # 4 KB … 256 MB
    if quick:
        return SweepPlan(
            policy=TimingPolicy(budget_s=0.03, warmups=5, min_repeats=10, max_repeats=500),
            gemm_shapes=_gemm_shapes(
                (1, 4, 16, 64, 256, 1024, 4096, 16384),
                ((4096, 4096), (12288, 4096), (4096, 14336), (4095, 4096), (8192, 8192)),
            ),
            gemm_dtypes=("bf16", "fp16", "fp8"),
            gemm_max_flops={},
            bandwidth_bytes=_bandwidth_sizes(l2, 1024 * MB, 4),
            attention=_attention_shapes(
                (512, 2048, 8192), (1, 8), (1024, 8192, 32768), (1, 16, 64), 32, (32, 8), 128, 2**32
            ),
            elementwise_shapes=tuple(product((1, 64, 1024, 16384), (4096, 14336))),
            activation_dtype="bf16",
            all_reduce_bytes=all_reduce[::2],
            e2e_points=tuple(product((1, 16), (128, 1024), (16, 64))),
            e2e_policy=TimingPolicy(budget_s=2.0, warmups=2, min_repeats=2, max_repeats=5),
            e2e_dtype="bf16",
        )
    return SweepPlan(
        policy=TimingPolicy(budget_s=0.1, warmups=10, min_repeats=20, max_repeats=2000),
        gemm_shapes=_gemm_shapes(
            (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
            (
                (1024, 1024),
                (2048, 2048),
                (4096, 4096),
                (6144, 4096),
                (12288, 4096),
                (4096, 11008),
                (4096, 14336),
                (28672, 4096),
                (8192, 8192),
                (4095, 4096),
                (4096, 4095),
                (1000, 1000),
                (8192, 28672),
                (16384, 16384),
            ),
        ),
        gemm_dtypes=("bf16", "fp16", "fp8"),
        gemm_max_flops={},
        bandwidth_bytes=_bandwidth_sizes(l2, 2048 * MB, 2),
        attention=_attention_shapes(
            (128, 256, 512, 1024, 2048, 4096, 8192, 16384),
            (1, 4, 16),
            (256, 1024, 4096, 16384, 65536),
            (1, 8, 32, 128),
            32,
            (32, 8, 1),
            128,
            2**32,
        ),
        elementwise_shapes=tuple(product((1, 16, 256, 4096, 16384, 65536), (2048, 4096, 8192, 14336))),
        activation_dtype="bf16",
        all_reduce_bytes=all_reduce,
        e2e_points=tuple(product((1, 8, 32), (128, 512, 2048), (16, 128))),
        e2e_policy=TimingPolicy(budget_s=5.0, warmups=2, min_repeats=3, max_repeats=10),
        e2e_dtype="bf16",
    )
