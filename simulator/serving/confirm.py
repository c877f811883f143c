"""`serve` as a check of the planners' closed forms: one replica's latency at a rate, and the largest rate a
layout sustains within latency targets.

A fleet of R replicas behind a random load balancer gives each replica a Poisson stream of QPS / R, so one
replica simulated at that rate stands for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.planner.distributions import LengthDistribution
from idealrt.simulator.profile import Profile
from idealrt.simulator.serving.engines import EnginePolicy
from idealrt.simulator.serving.serve import serve
from idealrt.simulator.serving.step_model import StepModel
from idealrt.simulator.serving.workload import generate

RATE_ITERATIONS = 8  # bisection steps of the sustainable rate: within 0.4 % of the offline throughput


@dataclass(frozen=True)
class Slo:
    ttft_p99_s: float
    tpot_s: float  # mean time per output token

    def met(self, record: dict[str, Any]) -> bool:
        return record["ttft_s_p99"] <= self.ttft_p99_s and record["tpot_s_mean"] <= self.tpot_s


def replica_record(
    deployment: Deployment,
    profile: Profile,
    policy: EnginePolicy,
    rate: float,
    prompt: LengthDistribution,
    output: LengthDistribution,
    requests: int,
    seed: int = 0,
    step_model: StepModel | None = None,
) -> dict[str, Any]:
    """`serve`'s record for one replica fed `requests` requests at Poisson `rate`."""
    workload = generate(requests, rate, prompt, output, seed=seed)
    return serve(deployment, profile, policy, workload, step_model=step_model).record


def max_sustainable_rate(
    deployment: Deployment,
    profile: Profile,
    policy: EnginePolicy,
    prompt: LengthDistribution,
    output: LengthDistribution,
    slo: Slo,
    requests: int = 400,
    seed: int = 0,
) -> tuple[float, dict[str, Any] | None]:
    """The largest Poisson rate (requests/s) one replica serves within the SLO, found by bisection between 0 and
    its offline throughput (the rate no arrival process can beat), with the record at that rate (None: even
    a trickle misses the SLO, i.e. the rate is 0)."""
    model = StepModel.for_deployment(deployment, profile)
    offline = replica_record(deployment, profile, policy, float("inf"), prompt, output, requests, seed, model)
    low, high, best = 0.0, float(offline["requests_per_s"]), None
    trickle = replica_record(deployment, profile, policy, high / 100, prompt, output, requests, seed, model)
    if not slo.met(trickle):
        return 0.0, None
    low, best = high / 100, trickle
    for _ in range(RATE_ITERATIONS):
        middle = (low + high) / 2
        record = replica_record(deployment, profile, policy, middle, prompt, output, requests, seed, model)
        if slo.met(record):
            low, best = middle, record
        else:
            high = middle
    return low, best
