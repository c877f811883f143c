"""Numeric formats: storage size per element and which peak-FLOP rate their math runs at."""

from __future__ import annotations

from typing import Literal

from idealrt.simulator.errors import UserError

DType = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"]

BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
}

# Weight formats that are dequantized on the fly: the matmul itself runs at the activation dtype.
WEIGHT_ONLY_FORMATS = frozenset({"int4", "int8"})


# Quantization scales stored with a block weight format, as bytes per weight element: one scale of `bytes` for
# every `elements` weights.
# - int4: group quantization, 128 weights per fp16 scale (+ fp16 zero point): AWQ (Lin et al. 2023, arXiv
#   2306.00978, "group size 128") and GPTQ's usual group_size=128 checkpoints: an fp16 scale and a packed 4-bit
#   zero point, 2.5 bytes per 128 weights.
# - fp4: NVFP4, 16 weights per FP8 (E4M3) scale, plus one fp32 per tensor (negligible): NVIDIA, "Introducing NVFP4
#   for Efficient and Accurate Low-Precision Inference", developer blog, 2025-06-24.
# - fp8: DeepSeek-V3's format, one fp32 scale per 128×128 weight block (DeepSeek-V3 technical report, arXiv
#   2412.19437, §3.3.2); a per-tensor fp8 checkpoint's single scale is smaller still (by 0.02 % of the weights).
# - int8: one scale per output channel (LLM.int8 / SmoothQuant W8A8): 2/K bytes per weight, under 0.05 % for
#   K ≥ 4096, taken as 0.
WEIGHT_SCALE_BYTES: dict[str, tuple[float, int]] = {  # dtype → (scale bytes, weights per scale)
    "int4": (2.5, 128),
    "fp4": (1.0, 16),
    "fp8": (4.0, 128 * 128),
}


def weight_bytes_per_element(dtype: str) -> float:
    """Bytes one block weight takes in `dtype`, its share of the quantization scales included."""
    scale_bytes, elements = WEIGHT_SCALE_BYTES.get(dtype, (0.0, 1))
    return bytes_per_element(dtype) + scale_bytes / elements


def bytes_per_element(dtype: str) -> float:
    try:
        return BYTES_PER_ELEMENT[dtype]
    except KeyError:
        raise UserError(f"unknown dtype '{dtype}'; known: {', '.join(BYTES_PER_ELEMENT)}") from None


def default_activation_dtype(weights_dtype: str) -> str:
    """Floating weights compute in their own format (fp8 weights → fp8 tensor cores, W8A8);
    integer weights are weight-only quantization and compute in bf16."""
    bytes_per_element(weights_dtype)
    return "bf16" if weights_dtype in WEIGHT_ONLY_FORMATS else weights_dtype
