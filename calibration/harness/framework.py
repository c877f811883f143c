"""Eager framework calls: what each costs, and how many an eager stack makes per layer.

An eager forward pass dispatches many small framework ops besides the kernels the simulator's graph counts:
views and reshapes of the QKV output, transposes, the split of the fused projection, slicing into the KV cache,
repeat_interleave of grouped K/V heads (stacks without `enable_gqa`), cat, argmax. Each costs the host a few
microseconds that no FLOP or byte explains. `framework_sweep` times them in turn on decode-sized tensors;
`framework_calls` counts, with a dispatch-level tracer, how many calls the eager implementation of
`calibration/harness/model.py` makes beyond the ones inside the kernels the microbenchmarks already time. Both go
into an eager stack's profile (`host.framework_call_s`, `host.framework_calls_per_layer`/`_per_step`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from idealrt.calibration.harness import model as eager
from idealrt.calibration.harness.grids import FrameworkShape
from idealrt.calibration.harness.timing import TimingPolicy, time_interleaved
from idealrt.calibration.records import OpMeasurement
from idealrt.simulator.model.spec import ModelSpec

Advance = Callable[[], None]

# The stack's reference layer, where its framework calls are counted: a llama-shaped decoder (rotary, grouped
# K/V heads, gated MLP) at toy size. The count depends on the implementation, not on the sizes.
REFERENCE_LAYER = ModelSpec(
    id="eager-reference-layer",
    name="reference layer for counting eager framework calls",
    source="calibration/harness/framework.py",
    num_layers=1,
    hidden_size=64,
    num_heads=4,
    num_kv_heads=2,
    ffn_dim=128,
    vocab_size=128,
    max_context=64,
    mlp="swiglu",
    norm="rmsnorm",
    position="rotary",
    tied_embeddings=False,
)


def _framework_ops(shape: FrameworkShape, device: torch.device, dtype: torch.dtype) -> dict[str, Callable[[], Any]]:
    """One decode step's framework calls, as `model.py` (or a stack without enable_gqa) makes them."""
    b, h, kv, d, c = shape.batch, shape.heads, shape.kv_heads, shape.head_dim, shape.context
    fused = torch.randn(b, 1, (h + 2 * kv) * d, device=device, dtype=dtype)
    q = torch.randn(b, 1, h * d, device=device, dtype=dtype)
    heads_first = torch.randn(b, h, 1, d, device=device, dtype=dtype)
    cache = torch.randn(b, kv, c + 1, d, device=device, dtype=dtype)
    new_key = torch.randn(b, kv, 1, d, device=device, dtype=dtype)
    grouped = torch.randn(b, kv, c, d, device=device, dtype=dtype)
    half = torch.randn(b, 1, h, d // 2, device=device, dtype=dtype)
    logits = torch.randn(b, 4096, device=device, dtype=dtype)
    widths = [h * d, kv * d, kv * d]

    def cache_write() -> None:
        cache[:, :, c : c + 1] = new_key

    return {
        "view": lambda: q.view(b, 1, h, d),
        "transpose": lambda: heads_first.transpose(1, 2),
        "split": lambda: fused.split(widths, dim=-1),
        "cache_slice_read": lambda: cache[:, :, :c],
        "cache_slice_write": cache_write,
        "repeat_interleave": lambda: grouped.repeat_interleave(h // kv, dim=1),
        "cat": lambda: torch.cat((half, half), dim=-1),
        "argmax": lambda: logits.argmax(dim=-1),
    }


def framework_sweep(
    shapes: tuple[FrameworkShape, ...],
    device: torch.device,
    dtype: str,
    torch_dtype: torch.dtype,
    policy: TimingPolicy,
    dataset: str,
    advance: Advance = lambda: None,
) -> Iterator[OpMeasurement]:
    """Each framework op per shape, the shape's ops timed in turn (`time_interleaved`); time_s is per call."""
    for shape in shapes:
        for name, stats in time_interleaved(_framework_ops(shape, device, torch_dtype), device, policy).items():
            yield OpMeasurement(
                dataset=dataset,
                op="framework",
                name=name,
                dtype=dtype,
                batch=shape.batch,
                heads=shape.heads,
                kv_heads=shape.kv_heads,
                head_dim=shape.head_dim,
                context=shape.context,
                time_s=stats.median_s,
                time_s_std=stats.std_s,
                repeats=stats.count,
            )
        advance()


# --- counting ---------------------------------------------------------------------------------------------------


class _DispatchCounter(TorchDispatchMode):
    """Counts framework-level (aten) dispatches made outside the kernels the microbenchmarks time."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # > 0 while inside a timed kernel
        self.outside = 0
        self.kernels = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if self.depth == 0:
            self.outside += 1
        return func(*args, **(kwargs or {}))

    @contextlib.contextmanager
    def kernel(self) -> Iterator[None]:
        _enter(self)
        try:
            yield
        finally:
            _leave(self)


def _wrapped(counter: _DispatchCounter, function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        with counter.kernel():
            return function(*args, **kwargs)

    return call


@contextlib.contextmanager
def _kernels_marked(counter: _DispatchCounter, module: nn.Module) -> Iterator[None]:
    """The calls the microbenchmarks time as one kernel each (F.linear, norms, the MLP activation, rotary,
    scaled_dot_product_attention) count as kernels; everything else they dispatch is inside them."""
    hooks = []
    for sub in module.modules():
        if isinstance(sub, nn.Linear | nn.LayerNorm | nn.RMSNorm):
            hooks.append(sub.register_forward_pre_hook(lambda *_: _enter(counter)))
            hooks.append(sub.register_forward_hook(lambda *_: _leave(counter)))
    patched: dict[str, Callable[..., Any]] = {
        "apply_rotary": eager.apply_rotary,
        "mlp_activation": eager.mlp_activation,
    }
    attention: Callable[..., Any] = F.scaled_dot_product_attention
    linear: Callable[..., Any] = F.linear
    try:
        for name, function in patched.items():
            setattr(eager, name, _wrapped(counter, function))
        F.scaled_dot_product_attention = _wrapped(counter, attention)
        F.linear = _wrapped(counter, linear)  # the tied LM head
        yield
    finally:
        for name, function in patched.items():
            setattr(eager, name, function)
        F.scaled_dot_product_attention = attention
        F.linear = linear
        for hook in hooks:
            hook.remove()


def _enter(counter: _DispatchCounter) -> None:
    """A kernel called inside another (nn.Linear calls F.linear) is part of it."""
    counter.kernels += counter.depth == 0
    counter.depth += 1


def _leave(counter: _DispatchCounter) -> None:
    counter.depth -= 1


def _count(run: Callable[[], Tensor], module: nn.Module) -> tuple[int, int]:
    counter = _DispatchCounter()
    with torch.inference_mode(), _kernels_marked(counter, module), counter:
        run()
    return counter.outside, counter.kernels


@dataclass(frozen=True)
class FrameworkCalls:
    per_layer: float
    per_step: float


def _decode_step_dispatches(layers: int) -> tuple[int, int]:
    """(dispatches outside timed kernels, timed kernel calls) of one decode step of the reference model."""
    spec = REFERENCE_LAYER.model_copy(update={"num_layers": layers})
    model = eager.build_transformer(spec, "cpu", torch.float32)
    cache = model.new_cache(1, 8)
    prompt, token = torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 1, dtype=torch.long)
    with torch.inference_mode():
        model(prompt, cache, start=0)
    return _count(lambda: model(token, cache, start=4).argmax(dim=-1), model)


def framework_calls(graph_ops_per_layer: int, graph_ops_outside_layers: int) -> FrameworkCalls:
    """Framework calls of one decode step of the reference layer's eager implementation: dispatches outside the
    timed kernels, less the graph's own ops that are single dispatches (residual adds, the cache write), i.e.
    every dispatch beyond one per op the simulator's graph charges. `graph_ops_*`: ops of the simulator's
    decode graph per layer and in the prologue + epilogue. Per layer: the difference between a 2-layer and a
    1-layer model; per step: the rest."""
    one, two = _decode_step_dispatches(1), _decode_step_dispatches(2)
    layer_outside, layer_kernels = two[0] - one[0], two[1] - one[1]
    rest_outside, rest_kernels = one[0] - layer_outside, one[1] - layer_kernels
    per_layer = layer_outside - (graph_ops_per_layer - layer_kernels)
    per_step = rest_outside - (graph_ops_outside_layers - rest_kernels)
    return FrameworkCalls(per_layer=float(max(per_layer, 0)), per_step=float(max(per_step, 0)))
