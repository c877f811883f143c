"""Which keys each query of a pass may attend to: causal, optionally within a sliding window, optionally with
ALiBi distance biases. Returns what `scaled_dot_product_attention` takes, preferring its built-in causal path."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def attention_mask(
    start: int,
    new_tokens: int,
    first_key: int,
    window: int | None,
    slopes: Tensor | None,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Tensor | None, bool]:
    """(attn_mask, is_causal) for queries at positions start … start+new−1 over keys first_key … start+new−1."""
    end = start + new_tokens
    if slopes is None:
        if start == 0 and first_key == 0 and (window is None or window >= new_tokens):
            return None, True
        if new_tokens == 1 and (window is None or end - first_key <= window):
            return None, False  # one query at the last position sees every key it was given
    distance = torch.arange(start, end, device=device)[:, None] - torch.arange(first_key, end, device=device)[None]
    allowed = distance >= 0
    if window is not None:
        allowed = allowed & (distance < window)
    if slopes is None:
        return allowed, False
    bias = -slopes[:, None, None] * distance.to(torch.float32)  # [heads, queries, keys]
    return bias.masked_fill(~allowed, float("-inf")).to(dtype), False


def alibi_slopes(heads: int, device: torch.device) -> Tensor:
    """ALiBi head slopes (Press et al. 2022): a geometric series for the nearest power of two of heads,
    interleaved with the next power's odd terms when `heads` is not a power of two (as BLOOM does)."""
    closest = 2 ** math.floor(math.log2(heads))
    base = 2.0 ** (-8.0 / closest)
    slopes = [base ** (i + 1) for i in range(closest)]
    if closest < heads:
        extra_base = 2.0 ** (-4.0 / closest)
        slopes += [extra_base ** (2 * i + 1) for i in range(heads - closest)]
    return torch.tensor(slopes, device=device, dtype=torch.float32)
