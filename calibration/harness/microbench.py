"""Op sweeps: GEMMs, memory bandwidth, attention, norms and activations. Each yields `OpMeasurement`s.

Bytes and FLOPs of memory-bound ops come from the simulator's own formulas (`simulator/ops/elementwise.py`),
evaluated numerically, so measured and predicted rows count the same thing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypedDict

import sympy as sp
import torch
import torch.nn.functional as F

from idealrt.calibration.harness.grids import AttentionShape, SweepPlan
from idealrt.calibration.harness.model import apply_rotary, mlp_activation, norm_module
from idealrt.calibration.harness.timing import TimingPolicy, TimingStats, time_interleaved, time_op
from idealrt.calibration.records import OpMeasurement
from idealrt.simulator.dtypes import bytes_per_element
from idealrt.simulator.evaluate import evaluate
from idealrt.simulator.ops import elementwise as ew
from idealrt.simulator.ops import symbols as sym
from idealrt.simulator.ops.cost import OpCost

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
GQA_METHOD = "enable_gqa=True"  # how grouped K/V heads reach scaled_dot_product_attention (no repeat_interleave)
Advance = Callable[[], None]

# Elementwise ops as the simulator counts them: rows × width, in the symbols b (rows) and h (width).
_ROWS, _WIDTH = sym.b, sym.h
ELEMENTWISE_FORMULAS: dict[str, OpCost] = {
    "copy": ew.copy("copy", "read and write every element once", _ROWS, _WIDTH, sym.a_bytes),
    "clone": ew.copy("clone", "copy into a newly allocated tensor", _ROWS, _WIDTH, sym.a_bytes),
    "add": ew.add("add", "elementwise sum of two tensors", _ROWS, _WIDTH),
    "layernorm": ew.norm("layernorm", "LayerNorm", "layernorm", _ROWS, _WIDTH),
    "rmsnorm": ew.norm("rmsnorm", "RMSNorm", "rmsnorm", _ROWS, _WIDTH),
    "gelu": ew.activation("gelu", "GELU (tanh form)", "gelu", _ROWS, _WIDTH, gated=False),
    "silu_mul": ew.activation("silu_mul", "SiLU(gate)·up", "swiglu", _ROWS, _WIDTH, gated=True),
    "rotary": ew.rotary("rotary", "rotary embedding", _ROWS, _WIDTH),
}
ROTARY_HEAD_DIM = 64


@dataclass(frozen=True)
class GemmCase:
    m: int
    n: int
    k: int
    dtype: str


def elementwise_counts(op: str, rows: int, width: int, dtype: str) -> tuple[float, float]:
    """(bytes_moved, flops) of one elementwise op by the simulator's formula."""
    size = bytes_per_element(dtype)
    values: dict[sp.Symbol, float] = {
        _ROWS: rows,
        _WIDTH: width,
        sym.a_bytes: size,
        sym.p_bytes: size,
        sym.kv_bytes: size,
    }
    formula = ELEMENTWISE_FORMULAS[op]
    return float(evaluate(formula.bytes_moved, values)), float(evaluate(formula.flops, values))


# --- GEMM -----------------------------------------------------------------------------------------------------


def fp8_unsupported_reason(device: torch.device) -> str | None:
    """Why fp8 GEMMs (torch._scaled_mm) cannot run here, or None when they can."""
    if device.type != "cuda":
        return "fp8 GEMMs need CUDA (torch._scaled_mm)"
    if torch.cuda.get_device_capability(device) < (8, 9):
        return "fp8 GEMMs need compute capability >= 8.9"
    try:
        probe = torch.zeros(16, 16, device=device).to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)
        torch._scaled_mm(probe, probe.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    except (RuntimeError, AttributeError) as exc:
        return f"torch._scaled_mm failed: {str(exc).splitlines()[0]}"
    return None


def gemm_cases(plan: SweepPlan, device: torch.device) -> tuple[list[GemmCase], list[str]]:
    """The GEMMs to time, and why any dtype of the plan is left out."""
    dtypes, skipped = list(plan.gemm_dtypes), []
    if "fp8" in dtypes and (reason := fp8_unsupported_reason(device)):
        skipped.append(f"fp8 GEMMs: {reason}")
        dtypes.remove("fp8")
    cases = []
    for dtype in dtypes:
        limit = plan.gemm_max_flops.get(dtype, float("inf"))
        for m, n, k in plan.gemm_shapes:
            if dtype == "fp8" and (n % 16 or k % 16):
                continue  # _scaled_mm requires N and K divisible by 16
            if 2 * m * n * k <= limit:
                cases.append(GemmCase(m, n, k, dtype))
    return cases, skipped


def _gemm_callable(case: GemmCase, device: torch.device, cold_bytes: int = 0) -> Callable[[], torch.Tensor]:
    """y[M, N] = x[M, K] · w[N, K]ᵀ, the layout of nn.Linear. With `cold_bytes`, each call multiplies by the next of
    enough copies of w to span that many bytes, so that w comes from memory, not from a cache the previous call
    warmed: in a model's forward pass each weight is read once per pass, and a model larger than the last-level
    cache streams it from DRAM (on a 1-thread CPU an M = 1 GEMM of a cached weight runs 3-4x faster)."""
    if case.dtype == "fp8":
        x = torch.randn(case.m, case.k, device=device).to(torch.float8_e4m3fn)
        w = torch.randn(case.n, case.k, device=device).to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)
        return lambda: torch._scaled_mm(x, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    dtype = TORCH_DTYPES[case.dtype]
    x = torch.randn(case.m, case.k, device=device, dtype=dtype)
    w = torch.randn(case.n, case.k, device=device, dtype=dtype)
    if cold_bytes == 0:
        return lambda: F.linear(x, w)
    turn = cold_turns((w,), cold_bytes)
    return lambda: F.linear(x, *next(turn))


def cold_turns(tensors: tuple[torch.Tensor, ...], cold_bytes: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """The operands an op reads, then copies of them, in turn: enough copies that at least `cold_bytes` lie
    between two reads of the same one, so that each read comes from memory, not from a cache the last warmed."""
    size = sum(t.numel() * t.element_size() for t in tensors)
    copies = 1 + -(-cold_bytes // size)  # ≥ cold_bytes besides the set being read
    return itertools.cycle([tensors] + [tuple(t.clone() for t in tensors) for _ in range(copies - 1)])


def gemm_sweep(
    cases: list[GemmCase],
    device: torch.device,
    policy: TimingPolicy,
    dataset: str,
    advance: Advance = lambda: None,
    cold_bytes: int = 0,
) -> Iterator[OpMeasurement]:
    """Each GEMM case timed; `cold_bytes` > 0 reads its weight from beyond a cache of that size (see
    `_gemm_callable`)."""
    for case in cases:
        stats = time_op(_gemm_callable(case, device, cold_bytes), device, policy)
        advance()
        yield OpMeasurement(
            dataset=dataset,
            op="gemm",
            name="scaled_mm" if case.dtype == "fp8" else "linear",
            dtype=case.dtype,
            m=case.m,
            n=case.n,
            k=case.k,
            **_timing_fields(stats),
        )


# --- memory bandwidth and elementwise ---------------------------------------------------------------------------


def bandwidth_sweep(
    sizes: tuple[int, ...],
    device: torch.device,
    dtype: str,
    policy: TimingPolicy,
    dataset: str,
    advance: Advance = lambda: None,
) -> Iterator[OpMeasurement]:
    """Per operand size: `copy` (into a preallocated tensor), `add` (into a preallocated tensor) and `clone`
    (allocating its output, as eager code does; on CPUs the page faults of large fresh buffers show here)."""
    torch_dtype = TORCH_DTYPES[dtype]
    for size in sizes:
        elements = int(size // bytes_per_element(dtype))
        x = torch.randn(elements, device=device, dtype=torch_dtype)
        y = torch.randn(elements, device=device, dtype=torch_dtype)
        out = torch.empty_like(x)
        ops: dict[str, Callable[[], object]] = {
            "copy": lambda: out.copy_(x),
            "add": lambda: torch.add(x, y, out=out),
            "clone": lambda: x.clone(),
        }
        for name, fn in ops.items():
            yield _elementwise_record(dataset, name, 1, elements, dtype, time_op(fn, device, policy))
        advance()
        del x, y, out


def elementwise_sweep(
    shapes: tuple[tuple[int, int], ...],
    device: torch.device,
    dtype: str,
    policy: TimingPolicy,
    dataset: str,
    advance: Advance = lambda: None,
) -> Iterator[OpMeasurement]:
    """Norms (LayerNorm, RMSNorm), activations (GELU, SiLU·mul on a fused gate‖up tensor) and rotary of Q and K
    (two calls, one graph op), each as the transformer in `model.py` calls them, timed in turn (`time_interleaved`)."""
    torch_dtype = TORCH_DTYPES[dtype]
    for rows, width in shapes:
        x = torch.randn(rows, width, device=device, dtype=torch_dtype)
        # modules, as the transformer calls them: nn.RMSNorm with its parameter took 5–11 µs more than F.rms_norm
        # on a plain tensor at decode sizes (2026-12-04)
        layernorm = norm_module("layernorm", width, device, torch_dtype)
        rmsnorm = norm_module("rmsnorm", width, device, torch_dtype)
        gate_up = torch.randn(rows, 2 * width, device=device, dtype=torch_dtype)
        heads = max(1, width // ROTARY_HEAD_DIM)
        queries = torch.randn(1, rows, heads, ROTARY_HEAD_DIM, device=device, dtype=torch_dtype)
        keys = torch.randn(1, rows, heads, ROTARY_HEAD_DIM, device=device, dtype=torch_dtype)
        angles = torch.randn(rows, 1, ROTARY_HEAD_DIM, device=device, dtype=torch_dtype)
        cos, sin = angles.cos(), angles.sin()
        ops: dict[str, Callable[[], object]] = {
            "layernorm": lambda: layernorm(x),
            "rmsnorm": lambda: rmsnorm(x),
            "gelu": lambda: mlp_activation("gelu", x),
            "silu_mul": lambda: mlp_activation("swiglu", gate_up),
            "rotary": lambda: (apply_rotary(queries, cos, sin), apply_rotary(keys, cos, sin)),  # Q and K, one op
        }
        rotary_width = 2 * heads * ROTARY_HEAD_DIM
        for name, stats in time_interleaved(ops, device, policy).items():
            yield _elementwise_record(dataset, name, rows, rotary_width if name == "rotary" else width, dtype, stats)
        advance()


def _elementwise_record(
    dataset: str, name: str, rows: int, width: int, dtype: str, stats: TimingStats
) -> OpMeasurement:
    bytes_moved, flops = elementwise_counts(name, rows, width, dtype)
    return OpMeasurement(
        dataset=dataset,
        op="elementwise",
        name=name,
        dtype=dtype,
        bytes_moved=bytes_moved,
        flops=flops,
        **_timing_fields(stats),
    )


# --- attention ------------------------------------------------------------------------------------------------


def attention_sweep(
    shapes: tuple[AttentionShape, ...],
    device: torch.device,
    dtype: str,
    policy: TimingPolicy,
    dataset: str,
    advance: Advance = lambda: None,
    cold_bytes: int = 0,
) -> Iterator[OpMeasurement]:
    """scaled_dot_product_attention: prefill shapes causal over their own tokens, decode shapes one query over
    the whole context (no mask needed). K/V heads fewer than query heads go through `enable_gqa=True`. With
    `cold_bytes`, each decode call reads the next of enough K/V copies to span that many bytes: a decode step
    reads each layer's cache once, after the rest of the step has streamed the weights through the cache."""
    torch_dtype = TORCH_DTYPES[dtype]
    for shape in shapes:
        q = torch.randn(shape.batch, shape.heads, shape.new_tokens, shape.head_dim, device=device, dtype=torch_dtype)
        kv_shape = (shape.batch, shape.kv_heads, shape.context, shape.head_dim)
        k = torch.randn(kv_shape, device=device, dtype=torch_dtype)
        v = torch.randn(kv_shape, device=device, dtype=torch_dtype)
        prefill = shape.new_tokens > 1
        gqa = shape.kv_heads != shape.heads
        turn = cold_turns((k, v), 0 if prefill else cold_bytes)

        def attend() -> torch.Tensor:
            keys, values = next(turn)
            return F.scaled_dot_product_attention(q, keys, values, is_causal=prefill, enable_gqa=gqa)

        stats = time_op(attend, device, policy)
        advance()
        yield OpMeasurement(
            dataset=dataset,
            op="attention_prefill" if prefill else "attention_decode",
            name="sdpa_enable_gqa" if gqa else "sdpa",
            dtype=dtype,
            batch=shape.batch,
            heads=shape.heads,
            kv_heads=shape.kv_heads,
            head_dim=shape.head_dim,
            new_tokens=shape.new_tokens,
            context=shape.context,
            causal=True,
            **_timing_fields(stats),
        )
        del q, k, v, turn


class TimingFields(TypedDict):
    """The timing columns of an `OpMeasurement`."""

    time_s: float
    time_s_std: float
    repeats: int


def _timing_fields(stats: TimingStats) -> TimingFields:
    return {"time_s": stats.median_s, "time_s_std": stats.std_s, "repeats": stats.count}
