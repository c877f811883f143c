"""Numeric formats: storage size per element and which peak-FLOP rate their math runs at."""

from __future__ import annotations

from typing import Literal

from simulator.errors import UserError

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
