"""Simulate requests on a deployment under a profile: prefill, the decode steps, memory — vectorized over cases.

Semantics (README): a request is `batch` sequences of `prompt` tokens each generating `output` tokens.
Prefill is one pass over the prompts and yields the first token (ttft). Decode step k = 1 … output−1 adds one
token per sequence at KV context prompt + k; tpot is their mean time and e2e = ttft + (output − 1)·tpot.

Decode steps differ only through the context, and only the attention ops depend on it, so the decode pass is
counted once per case for every other op and at DECODE_POINTS context points for attention. The steps are split
into DECODE_POINTS equal chunks (plus a split where a sliding window fills) and each chunk is evaluated once at
its mean context: exact wherever the step time is linear in the context (every count is), and within 0.1 % of the
step-by-step sum over the catalog where an efficiency curve or a change of bound bends it
(`tests/test_decode_summation.py`). Up to DECODE_POINTS steps, every step is evaluated on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from idealrt.simulator.counting import CountingOptions, PassCounts, count_pass, counting_options
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.memory import MemoryUse, memory_use
from idealrt.simulator.pass_timing import PassTime, time_pass
from idealrt.simulator.profile import Profile
from idealrt.simulator.structure import Phase

DECODE_POINTS = 16


@dataclass(frozen=True)
class Simulation:
    deployment: Deployment
    profile: Profile
    options: CountingOptions
    batch: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    prefill_counts: PassCounts
    prefill: PassTime
    decode_counts: PassCounts  # attention at (cases, points), the other ops at (cases, 1)
    decode: PassTime
    decode_step_weights: np.ndarray  # (cases, points): how many decode steps each context point stands for
    memory: MemoryUse

    @property
    def ttft_s(self) -> np.ndarray:
        return np.asarray(self.prefill.total)

    @property
    def decode_s(self) -> np.ndarray:
        """All output − 1 decode steps together."""
        return np.sum(self.decode_step_weights * self.decode.total, axis=-1)

    @property
    def tpot_s(self) -> np.ndarray:
        steps = self.output - 1
        return np.where(steps > 0, self.decode_s / np.maximum(steps, 1), 0.0)

    @property
    def e2e_s(self) -> np.ndarray:
        return self.ttft_s + self.decode_s

    def phase_totals(self, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """(prefill, all decode steps) totals of 'flops' or 'bytes' summed over every device."""
        prefill = _total(self.prefill_counts, quantity)
        decode = np.sum(self.decode_step_weights * _total(self.decode_counts, quantity), axis=-1)
        return prefill, decode


def _total(counts: PassCounts, quantity: str) -> np.ndarray:
    total: np.ndarray = np.zeros(())
    for _, op_counts, runs in counts.all_ops():
        if quantity == "flops":
            value = op_counts["flops"]
        else:
            value = op_counts["bytes_read"] + op_counts["bytes_written"]
        total = total + runs * value
    return total * counts.devices_per_op


def decode_points(
    prompt: np.ndarray, output: np.ndarray, window: float | None = None, points: int = DECODE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """(context, steps), each (cases, points), or (cases, points + 1) with a `window`: chunk j holds steps
    e_j+1 … e_{j+1} and is evaluated at its mean context prompt + (e_j + 1 + e_{j+1})/2. Edges e_j =
    ⌊j·(o−1)/points⌋, plus the step at which a sliding window of `window` tokens fills (where the attention cost
    stops growing); chunks may be empty."""
    steps = np.maximum(output - 1, 0)[:, None]
    edges = np.floor(np.arange(points + 1)[None, :] * steps / points)
    if window is not None:
        fills = np.clip(window - prompt[:, None], 0, steps)
        edges = np.sort(np.concatenate([edges, np.floor(fills)], axis=1), axis=1)
    counts = np.diff(edges, axis=1)
    context = prompt[:, None] + (edges[:, :-1] + 1 + edges[:, 1:]) / 2
    return context, counts


def simulate(
    deployment: Deployment,
    profile: Profile,
    batch: Any,
    prompt: Any,
    output: Any,
    lm_head_all_positions: bool | None = None,
    naive_attention: bool = False,
    options: CountingOptions | None = None,
    detail: bool = True,
) -> Simulation:
    """`options` (already resolved, e.g. another profile's) overrides the behaviours resolved from `profile`,
    `lm_head_all_positions` and `naive_attention`. Without `detail` only the times are kept, not each op's
    compute/memory/communication terms (what `report.op_rows` shows)."""
    batch, prompt, output = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (batch, prompt, output))
    batch, prompt, output = np.broadcast_arrays(batch, prompt, output)
    if options is None:
        options = counting_options(profile, naive_attention, lm_head_all_positions)
    params = profile.params()
    prefill_counts = count_pass(deployment, Phase.PREFILL, batch, prompt, prompt, options)
    context, steps = decode_points(prompt, output, deployment.model.sliding_window)
    decode_counts = count_pass(deployment, Phase.DECODE, batch[:, None], 1.0, context, options)
    return Simulation(
        deployment=deployment,
        profile=profile,
        options=options,
        batch=batch,
        prompt=prompt,
        output=output,
        prefill_counts=prefill_counts,
        prefill=time_pass(prefill_counts, params, detail=detail),
        decode_counts=decode_counts,
        decode=time_pass(decode_counts, params, detail=detail),
        decode_step_weights=steps,
        memory=memory_use(deployment, prefill_counts, prompt, output, profile.memory_utilization),
    )
