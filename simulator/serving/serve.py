"""`serve`: a workload on one or more replicas of a deployment under an engine policy (the use case)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.placement import memory_for
from idealrt.simulator.profile import Profile
from idealrt.simulator.serving.engines import EnginePolicy
from idealrt.simulator.serving.report import summarize
from idealrt.simulator.serving.scheduler import ReplicaTrace, simulate_replica
from idealrt.simulator.serving.step_model import StepModel
from idealrt.simulator.serving.workload import Workload


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
    deployment: Deployment


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
    progress: Callable[[int], None] | None = None,
) -> ServeResult:
    """Serve the workload on `replicas` copies of the deployment (requests dealt round robin)."""
    if replicas < 1:
        raise UserError(f"--replicas must be ≥ 1 (got {replicas})")
    model = step_model or StepModel.for_deployment(deployment, profile)
    longest = int(np.max(workload.prompt_tokens + workload.output_tokens))
    budget = kv_budget(deployment, profile, policy, policy.token_budget(longest))
    parts = split_round_robin(workload, replicas)
    traces = []
    finished = 0
    for part in parts:
        report = None if progress is None else (lambda done, base=finished: progress(base + done))
        traces.append(simulate_replica(part, policy, model, budget.capacity_tokens, report))
        finished += len(part)
    record = summarize(parts, traces, deployment.n_accelerators)
    record["kv_capacity_tokens"] = budget.capacity_tokens
    record["max_memory_bytes_per_device"] = (
        budget.weights_bytes
        + budget.activation_bytes
        + max(t.max_kv_tokens for t in traces) * budget.kv_bytes_per_token
    )
    return ServeResult(record, parts, traces, budget, deployment)


@dataclass(frozen=True)
class ServeInputs:
    """Everything `idealrt serve` takes, by name (the API's and the CLI's common ground)."""

    model: str
    hardware: str
    tp: int = 1
    pp: int = 1
    weights_dtype: str = "bf16"
    act_dtype: str | None = None
    kv_dtype: str | None = None
    profile: str = "auto"
    engine: str = "vllm"
    engine_overrides: tuple[tuple[str, Any], ...] = ()
    requests: int = 1000
    rate: float = math.inf
    prompt_dist: str | None = None  # None: the ShareGPT-like preset
    output_dist: str | None = None
    trace: str | None = None  # a CSV path; replaces requests/rate/distributions
    seed: int = 0
    replicas: int = 1


def run_serve(inputs: ServeInputs, progress: Callable[[int], None] | None = None) -> ServeResult:
    """Build the deployment, policy and workload from names, serve, and label the record."""
    from pathlib import Path

    from idealrt.simulator.hardware import load_hardware
    from idealrt.simulator.model.catalog import load_model
    from idealrt.simulator.planner.distributions import parse_distribution
    from idealrt.simulator.profile import resolve_profile
    from idealrt.simulator.serving.engines import load_engine
    from idealrt.simulator.serving.workload import SHAREGPT_MAX_TOKENS, generate, read_trace, sharegpt_distributions

    deployment = Deployment(
        load_model(inputs.model),
        load_hardware(inputs.hardware),
        tp=inputs.tp,
        pp=inputs.pp,
        weights_dtype=inputs.weights_dtype,
        act_dtype=inputs.act_dtype,
        kv_dtype=inputs.kv_dtype,
    )
    profile, note = resolve_profile(inputs.profile, deployment.hardware.id)
    policy = load_engine(inputs.engine, **dict(inputs.engine_overrides))
    if inputs.trace is not None:
        workload = read_trace(Path(inputs.trace))
    else:
        if (inputs.prompt_dist is None) != (inputs.output_dist is None):
            raise UserError("give both --prompt-dist and --output-dist, or neither (the ShareGPT-like preset)")
        if inputs.prompt_dist is None:
            prompt, output = sharegpt_distributions()
            cap: int | None = SHAREGPT_MAX_TOKENS
        else:
            assert inputs.output_dist is not None
            prompt = parse_distribution(inputs.prompt_dist, "--prompt-dist")
            output = parse_distribution(inputs.output_dist, "--output-dist")
            cap = None
        workload = generate(inputs.requests, inputs.rate, prompt, output, seed=inputs.seed, max_tokens=cap)
    result = serve(deployment, profile, policy, workload, inputs.replicas, progress=progress)
    labels: dict[str, Any] = {
        "model": deployment.model.id,
        "hardware": deployment.hardware.id,
        "tp": deployment.tp,
        "pp": deployment.pp,
        "devices_per_replica": deployment.n_accelerators,
        "engine": policy.name,
        **{f"engine_{key}": value for key, value in asdict(policy).items() if key != "name"},
        "workload": workload.description,
        "seed": inputs.seed,
        "profile": profile.name,
        "profile_note": note,
    }
    return ServeResult(labels | result.record, result.workloads, result.traces, result.budget, deployment)
