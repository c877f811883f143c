"""`serve`: a workload on one or more replicas of a deployment under an engine policy (the use case)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.deployment import Deployment
from simulator.errors import UserError
from simulator.placement import memory_for
from simulator.profile import Profile
from simulator.serving.engines import EnginePolicy
from simulator.serving.report import summarize
from simulator.serving.scheduler import ReplicaTrace, simulate_replica
from simulator.serving.step_model import StepModel
from simulator.serving.workload import Workload


@dataclass(frozen=True)
class KvBudget:
    """One replica's memory, on its fullest device (bytes), and the KV cache it leaves (tokens, whole blocks)."""

    device_bytes: float
    weights_bytes: float
    activation_bytes: float
    kv_bytes_per_token: float
    kv_bytes: float
    capacity_tokens: int

    @property
    def usable_bytes(self) -> float:
        return self.weights_bytes + self.activation_bytes + self.kv_bytes


def kv_budget(deployment: Deployment, profile: Profile, policy: EnginePolicy, token_budget: int) -> KvBudget:
    """Weights and the workspace of a prefill of `token_budget` tokens (what vLLM's profiling run measures) come
    off the device's memory; the policy's fraction of total (vLLM, SGLang) or of free memory (TensorRT-LLM) is
    the KV cache."""
    use = memory_for(deployment, profile, np.array([1.0, 1.0]), np.array([token_budget, 1.0]), np.array([1.0, 1.0]))
    weights, activations = float(use.weights_bytes[0]), float(use.activation_bytes[0])
    per_token = float(use.kv_cache_bytes[1]) / 2  # one sequence of prompt 1 + output 1
    device = float(deployment.hardware.memory_bytes)
    if policy.memory_fraction_of == "total":
        kv = policy.memory_fraction * device - weights - activations
    else:
        kv = policy.memory_fraction * (device - weights - activations)
    blocks = math.floor(max(kv, 0.0) / (per_token * policy.block_size))
    if blocks < 1:
        raise UserError(
            f"{deployment.model.id} on {deployment.n_accelerators} × {deployment.hardware.id} leaves no KV cache "
            f"(weights {weights / 1e9:.1f} GB + workspace {activations / 1e9:.1f} GB per device of "
            f"{device / 1e9:.0f} GB, engine {policy.name} uses {policy.memory_fraction:g} of "
            f"{policy.memory_fraction_of}); use more devices (--tp/--pp)"
        )
    return KvBudget(device, weights, activations, per_token, kv, blocks * policy.block_size)


@dataclass(frozen=True)
class ServeResult:
    record: dict[str, Any]
    workloads: list[Workload]
    traces: list[ReplicaTrace]
    budget: KvBudget


def split_round_robin(workload: Workload, replicas: int) -> list[Workload]:
    """Request i goes to replica i mod replicas (a round-robin load balancer)."""
    return [
        Workload(
            workload.arrival_s[r::replicas],
            workload.prompt_tokens[r::replicas],
            workload.output_tokens[r::replicas],
            workload.description,
        )
        for r in range(replicas)
        if len(workload.arrival_s[r::replicas])
    ]


def serve(
    deployment: Deployment,
    profile: Profile,
    policy: EnginePolicy,
    workload: Workload,
    replicas: int = 1,
    step_model: StepModel | None = None,
) -> ServeResult:
    if replicas < 1:
        raise UserError(f"--replicas must be ≥ 1 (got {replicas})")
    model = step_model or StepModel.for_deployment(deployment, profile)
    longest = int(np.max(workload.prompt_tokens + workload.output_tokens))
    budget = kv_budget(deployment, profile, policy, policy.token_budget(longest))
    parts = split_round_robin(workload, replicas)
    traces = [simulate_replica(part, policy, model, budget.capacity_tokens) for part in parts]
    record = summarize(parts, traces, deployment.n_accelerators)
    record["kv_capacity_tokens"] = budget.capacity_tokens
    record["max_memory_bytes_per_device"] = (
        budget.weights_bytes + budget.activation_bytes + max(t.max_kv_tokens for t in traces) * budget.kv_bytes_per_token
    )
    return ServeResult(record, parts, traces, budget)
