"""A hard physical floor for end-to-end rows: every decode step reads, at least once, the weights a token uses and
the KV cache every sequence attends over.

Used by the builder to drop published points that no hardware could have produced (runs that stopped early,
mislabelled lengths). Deliberately loose, so that it never rejects a real run: only non-embedding active
parameters count, the KV context is capped at the sliding window if the model has one, everything is spread
over every device (tp·pp·ep) at full datasheet HBM bandwidth, and prefill costs nothing.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from idealrt.calibration.records import EndToEndMeasurement
from idealrt.simulator.dtypes import bytes_per_element
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.parameters import parameter_counts


@cache
def _streamed_params(spec: ModelSpec) -> float:
    counts = parameter_counts(spec)
    return counts.active - counts.embedding


def kv_elements_per_token(spec: ModelSpec) -> int:
    """Cached elements per token over all layers: K and V per KV head, or MLA's latent plus rotary key."""
    if spec.mla is not None:
        return spec.num_layers * (spec.mla.kv_lora_rank + spec.mla.qk_rope_head_dim)
    return spec.num_layers * 2 * spec.kv_heads * spec.attention_head_dim


def decode_bytes(record: EndToEndMeasurement, spec: ModelSpec) -> tuple[float, int]:
    """(bytes every decode step together must read, number of decode steps) for the record's request."""
    steps = record.output_tokens - 1
    contexts = record.prompt_tokens + np.arange(1, steps + 1)
    if spec.sliding_window is not None:
        contexts = np.minimum(contexts, spec.sliding_window)
    weights = steps * _streamed_params(spec) * bytes_per_element(record.weights_dtype)
    kv = record.batch * float(contexts.sum()) * kv_elements_per_token(spec) * bytes_per_element(record.kv_dtype)
    return weights + kv, steps


def memory_floor_s(record: EndToEndMeasurement, spec: ModelSpec, hbm_gb_s: float) -> float:
    """The least time the record's metric could take on devices with `hbm_gb_s` each."""
    if record.metric == "ttft":
        return 0.0
    total_bytes, steps = decode_bytes(record, spec)
    seconds = total_bytes / (record.tp * record.pp * record.ep * hbm_gb_s * 1e9)
    if record.metric == "tpot":
        return seconds / steps if steps else 0.0
    return seconds


def is_below_floor(record: EndToEndMeasurement, spec: ModelSpec, hbm_gb_s: float) -> bool:
    return record.time_s < memory_floor_s(record, spec, hbm_gb_s)
