"""Memory per device (weights, KV cache, activation workspace) and the whole model's sizes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from idealrt.simulator.counting import CountingOptions, PassCounts, count_pass
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.structure import Phase


@dataclass(frozen=True)
class MemoryUse:
    """Bytes on the fullest device (arrays over cases)."""

    weights_bytes: np.ndarray
    kv_cache_bytes: np.ndarray
    activation_bytes: np.ndarray
    capacity_bytes: float  # device memory × the profile's usable fraction

    @property
    def total_bytes(self) -> np.ndarray:
        return self.weights_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def fits(self) -> np.ndarray:
        return self.total_bytes <= self.capacity_bytes


def memory_use(
    deployment: Deployment, prefill: PassCounts, prompt: np.ndarray, output: np.ndarray, memory_utilization: float
) -> MemoryUse:
    """The fullest pipeline stage. Each sequence's KV cache holds prompt + output tokens (a sliding-window layer
    at most its window); the activation workspace is the largest prefill op's live tensors."""
    context = np.asarray(prompt + output, dtype=np.float64)
    window = deployment.model.sliding_window
    last = len(prefill.stages) - 1
    per_stage = []
    for index, kinds in enumerate(prefill.stages):
        weights: np.ndarray = np.zeros(())
        for edge in ([prefill.prologue] if index == 0 else []) + ([prefill.epilogue] if index == last else []):
            for value in edge.static["weight_bytes"]:
                weights = weights + value
        kv: np.ndarray = np.zeros(())
        for kind, layers in Counter(kinds).items():
            piece = prefill.layers[kind]
            for op_index in range(len(piece.ops)):
                weights = weights + layers * piece.static["weight_bytes"][op_index]
                per_token = piece.static["cache_bytes_per_token"][op_index]
                if per_token:
                    held = np.minimum(context, window) if kind.local_attention and window else context
                    kv = kv + layers * per_token * held * prefill.sequences_per_group
        if index == last and index > 0 and deployment.model.tied_embeddings:
            weights = weights + prefill.prologue.static["weight_bytes"][0]  # the LM head's copy of the table
        per_stage.append((weights, kv))
    activations = max_activation_bytes(prefill)
    shape = np.broadcast_shapes(
        np.shape(activations), *(np.shape(w) for w, _ in per_stage), *(np.shape(k) for _, k in per_stage)
    )
    weights_by_stage = np.stack([np.broadcast_to(w, shape) for w, _ in per_stage])
    kv_by_stage = np.stack([np.broadcast_to(k, shape) for _, k in per_stage])
    fullest = np.argmax(weights_by_stage + kv_by_stage, axis=0)[np.newaxis]
    weights = np.take_along_axis(weights_by_stage, fullest, axis=0)[0]
    kv = np.take_along_axis(kv_by_stage, fullest, axis=0)[0]
    return MemoryUse(
        weights, kv, np.broadcast_to(activations, shape), deployment.hardware.memory_bytes * memory_utilization
    )


def max_activation_bytes(prefill: PassCounts) -> np.ndarray:
    """The largest op's inputs + outputs other than its weights: the workspace a prefill needs at its peak."""
    live = []
    for piece, _ in prefill.pieces():
        for run in piece.runs:
            for group in run.groups:
                weights = piece.static["weight_bytes"][[run.start + row for row in group.rows]]
                if "bytes_read" in group.counts:
                    moved = group.counts["bytes_read"] + group.counts["bytes_written"]
                    weights = weights.reshape((-1,) + (1,) * (moved.ndim - 1))
                else:  # collectives move no device memory of their own
                    moved = np.zeros(())
                live.append(np.max(moved - weights, axis=0))
    return np.max(np.stack(np.broadcast_arrays(*live)), axis=0)


def model_sizes(deployment: Deployment) -> tuple[float, float]:
    """(weights bytes of the whole model, KV-cache bytes one token adds over all layers), parallelism aside."""
    single = replace(deployment, tp=1, pp=1, ep=1)
    one = np.ones(1)
    counts = count_pass(single, Phase.PREFILL, one, one, one, CountingOptions())
    weights = kv_per_token = 0.0
    for piece, runs in counts.pieces():
        for weight_bytes, cache_bytes in zip(
            piece.static["weight_bytes"], piece.static["cache_bytes_per_token"], strict=True
        ):
            weights += float(weight_bytes) * runs
            kv_per_token += float(cache_bytes) * runs
    return weights, kv_per_token
