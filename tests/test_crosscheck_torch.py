"""An independent FLOP count: torch's FlopCounterMode over a meta-device model built from the spec (no weights,
no memory), against the simulator's own counts.

FlopCounterMode counts matrix products only (mm/addmm/bmm: 2·M·N·K, bias adds excluded) and prices
scaled_dot_product_attention at the full score rectangle whatever the mask, so it is compared with our GEMMs'
2·M·N·K plus our naive-attention FLOPs (the rectangle) — both sides exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from idealrt.calibration.harness.model import build_transformer  # noqa: E402
from idealrt.simulator.counting import CountingOptions, count_pass  # noqa: E402
from idealrt.simulator.deployment import Deployment  # noqa: E402
from idealrt.simulator.hardware import load_hardware  # noqa: E402
from idealrt.simulator.model.catalog import load_model  # noqa: E402
from idealrt.simulator.op_kinds import OpClass  # noqa: E402
from idealrt.simulator.structure import Phase  # noqa: E402

MODELS = ["llama-3.1-8b", "gpt3-1.3b", "gpt-j-6b", "gemma-2-27b", "falcon-180b", "bloom-176b", "qwen2.5-7b"]


def our_matmul_flops(model_id: str, batch: int, new_tokens: int, context: int, phase: Phase) -> float:
    deployment = Deployment(model=load_model(model_id), hardware=load_hardware("h100-sxm"))
    one = np.ones(1)
    options = CountingOptions(naive_attention=True)
    counts = count_pass(deployment, phase, batch * one, new_tokens * one, context * one, options)
    total = 0.0
    for op, c, runs in counts.all_ops():
        if op.op_class is OpClass.GEMM:
            total += runs * float(2 * c["gemm_m"][0] * c["gemm_n"][0] * c["gemm_k"][0])
        elif op.op_class is OpClass.ATTENTION:
            total += runs * float(c["flops"][0])
    return total


def torch_flops(model_id: str, batch: int, prompt: int, decode_steps: int) -> tuple[int, int]:
    """(prefill FLOPs, FLOPs of the decode step at context prompt + decode_steps)."""
    spec = load_model(model_id)
    model = build_transformer(spec, "meta", torch.bfloat16)
    cache = model.new_cache(batch, prompt + decode_steps)
    with torch.inference_mode():
        tokens = torch.zeros((batch, prompt), dtype=torch.long, device="meta")
        with FlopCounterMode(display=False) as prefill:
            model(tokens, cache, start=0)
        step = torch.zeros((batch, 1), dtype=torch.long, device="meta")
        with FlopCounterMode(display=False) as decode:
            model(step, cache, start=prompt + decode_steps - 1)
    return prefill.get_total_flops(), decode.get_total_flops()


@pytest.mark.parametrize("model_id", MODELS)
def test_matmul_flops_agree_with_torch(model_id: str) -> None:
    batch, prompt, steps = 2, 96, 5
    prefill, decode = torch_flops(model_id, batch, prompt, steps)
    assert our_matmul_flops(model_id, batch, prompt, prompt, Phase.PREFILL) == pytest.approx(prefill, rel=1e-9)
    assert our_matmul_flops(model_id, batch, 1, prompt + steps, Phase.DECODE) == pytest.approx(decode, rel=1e-9)


def test_sliding_window_flops_agree_with_torch_beyond_the_window() -> None:
    spec = load_model("mistral-7b")
    assert spec.sliding_window is not None
    prompt = spec.sliding_window + 200
    prefill, decode = torch_flops("mistral-7b", 1, prompt, 3)
    assert our_matmul_flops("mistral-7b", 1, prompt, prompt, Phase.PREFILL) == pytest.approx(prefill, rel=1e-9)
    assert our_matmul_flops("mistral-7b", 1, 1, prompt + 3, Phase.DECODE) == pytest.approx(decode, rel=1e-9)
