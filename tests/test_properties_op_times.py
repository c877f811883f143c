"""The causes behind two end-to-end invariants, tested where they live: each op class's time formula
(`simulator/timing.py`) under every shipped profile.

- No op may run faster under a calibrated profile than under `ideal` for the same counts (datasheet peaks,
  no latency). A fitted efficiency above 1 would break this; the fitter caps fractions at 1.
- Decode attention time must not fall as the context grows. The bandwidth curve c/(c + half) applies to the KV
  read only; applied to the query/output rows too, t ∝ (a·c + q)·(c + half)/c would fall for c < √(q·half/a).
"""

from __future__ import annotations

import numpy as np
import pytest
from fuzz.settings import NO_SHRINK
from hypothesis import given, settings
from hypothesis import strategies as st

from idealrt.simulator.profile import IDEAL, Profile, load_profile, shipped_profile_names
from idealrt.simulator.timing import attention_time, collective_time, elementwise_time, gemm_time

PEAK, BANDWIDTH, LINK = 989e12, 3.35e12, 450e9  # H100 SXM dense bf16, HBM3, NVLink per direction (datasheet)
FITTED = [name for name in shipped_profile_names() if name != "ideal"]
# The range the fitter may give the decode context half (calibration/fit: positive through exp, started at 64).
CONTEXT_HALVES = (0.0, 1.0, 64.0, 1024.0)

_sizes = st.integers(1, 2**16).map(float)


def _op_times(params: dict[str, float], m: float, n: float, k: float, tokens: float, group: int) -> np.ndarray:
    flops, weight_bytes = 2 * m * n * k, 2 * (m * k + k * n + m * n)
    return np.array(
        [
            gemm_time(flops, weight_bytes, m, n, k, PEAK, BANDWIDTH, params, np).total,
            attention_time(
                4 * tokens * n * k, 2 * tokens * n, tokens, tokens, False, PEAK, BANDWIDTH, params, np, cache_bytes=0.0
            ).total,
            elementwise_time(tokens * n, 4 * tokens * n, PEAK / 16, BANDWIDTH, params, np).total,
            collective_time(2 * tokens * n * (group - 1) / group, group, LINK, False, False, params, np).total,
        ]
    )


@pytest.mark.parametrize("name", FITTED)
@settings(max_examples=200, derandomize=True, database=None, deadline=None, phases=NO_SHRINK)
@given(m=_sizes, n=_sizes, k=_sizes, tokens=_sizes, group=st.sampled_from([2, 4, 8]))
def test_no_op_faster_than_ideal(name: str, m: float, n: float, k: float, tokens: float, group: int) -> None:
    profile = load_profile(name)
    calibrated = _op_times(profile.params(), m, n, k, tokens, group)
    ideal = _op_times(IDEAL.params(), m, n, k, tokens, group)
    assert np.all(calibrated >= ideal * (1 - 1e-12)), calibrated / ideal


def _decode_attention(profile: Profile, context: np.ndarray, kv_bytes_per_token: float, qo_bytes: float) -> np.ndarray:
    bytes_moved = kv_bytes_per_token * context + qo_bytes
    flops = 4 * context * qo_bytes / 4
    cache_bytes = kv_bytes_per_token * context
    return attention_time(
        flops, bytes_moved, 1.0, context, True, PEAK, BANDWIDTH, profile.params(), np, cache_bytes=cache_bytes
    ).total


@pytest.mark.parametrize("half", CONTEXT_HALVES)
def test_decode_attention_non_decreasing_in_context(half: float) -> None:
    """Llama-3.1-8B shapes: 8 KV heads × 128 × 2 (K and V) × 2 bytes per token; 32 query heads read and written."""
    profile = load_profile("h100-sxm-kernels")
    profile = profile.with_params({"attention.decode_context_half": half})
    context = np.arange(1.0, 4097.0)
    times = _decode_attention(profile, context, kv_bytes_per_token=8 * 128 * 2 * 2, qo_bytes=2 * 32 * 128 * 2)
    assert np.all(np.diff(times) >= -1e-15 * times[1:]), f"falls from c=1 to c={int(np.argmin(times)) + 1}"


@pytest.mark.parametrize("name", shipped_profile_names())
def test_shipped_profiles_decode_attention_non_decreasing(name: str) -> None:
    """With the shipped constants (decode_context_half ≈ 1.7e-7) the fall is below float resolution."""
    context = np.arange(1.0, 4097.0)
    times = _decode_attention(load_profile(name), context, 8 * 128 * 2 * 2, 2 * 32 * 128 * 2)
    assert np.all(np.diff(times) >= -1e-12 * times[1:])
