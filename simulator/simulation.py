"""Simulate requests on a deployment under a profile: prefill, the decode steps, memory — vectorized over cases.

Semantics (README): a request is `batch` sequences of `prompt` tokens each generating `output` tokens.
Prefill is one pass over the prompts and yields the first token (ttft). Decode step k = 1 … output−1 adds one
token per sequence at KV context prompt + k; tpot is their mean time and e2e = ttft + (output − 1)·tpot.

Decode steps differ only through the context, and every count is linear in the context, so the steps are
split into up to DECODE_NODES equal chunks and each chunk is evaluated once at its mean context: exact for the
counts, and for times as long as no op changes bound inside a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulator.deployment import Deployment
from simulator.engine import PassCounts, PassTime, count_pass, time_pass
from simulator.graph import Phase
from simulator.memory import MemoryUse, memory_use
from simulator.profile import Profile

DECODE_NODES = 8


@dataclass(frozen=True)
class Simulation:
    deployment: Deployment
    profile: Profile
    batch: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    prefill_counts: PassCounts
    prefill: PassTime
    decode_counts: PassCounts  # arrays of shape (cases, DECODE_NODES)
    decode: PassTime
    decode_steps_per_node: np.ndarray  # (cases, DECODE_NODES): how many decode steps each node stands for
    memory: MemoryUse

    @property
    def ttft_s(self) -> np.ndarray:
        return np.asarray(self.prefill.total)

    @property
    def decode_s(self) -> np.ndarray:
        """All output − 1 decode steps together."""
        return np.sum(self.decode_steps_per_node * self.decode.total, axis=-1)

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
        decode = np.sum(self.decode_steps_per_node * _total(self.decode_counts, quantity), axis=-1)
        return prefill, decode


def _total(counts: PassCounts, quantity: str) -> np.ndarray:
    total: np.ndarray = np.zeros(())
    for op, runs in counts.all_ops():
        if quantity == "flops":
            value = op.counts["flops"]
        else:
            value = op.counts["bytes_read"] + op.counts["bytes_written"]
        total = total + runs * value
    return total * counts.devices_per_op


def decode_nodes(prompt: np.ndarray, output: np.ndarray, nodes: int = DECODE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """(context, steps) of shape (cases, nodes): chunk j holds steps e_j+1 … e_{j+1}, e_j = ⌊j·(o−1)/nodes⌋,
    evaluated at the chunk's mean context prompt + (e_j + 1 + e_{j+1})/2."""
    steps = np.maximum(output - 1, 0)[:, None]
    edges = np.floor(np.arange(nodes + 1)[None, :] * steps / nodes)
    counts = np.diff(edges, axis=1)
    context = prompt[:, None] + (edges[:, :-1] + 1 + edges[:, 1:]) / 2
    return context, counts


def simulate(
    deployment: Deployment,
    profile: Profile,
    batch: np.ndarray,
    prompt: np.ndarray,
    output: np.ndarray,
    lm_head_all_positions: bool | None = None,
) -> Simulation:
    batch, prompt, output = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (batch, prompt, output))
    batch, prompt, output = np.broadcast_arrays(batch, prompt, output)
    if lm_head_all_positions is None:
        lm_head_all_positions = profile.behaviours.lm_head_all_prompt_positions
    if profile.behaviours.naive_attention and not deployment.naive_attention:
        deployment = replace(deployment, naive_attention=True)  # the stack's kernels, as fitted
    params = profile.params()
    prefill_counts = count_pass(deployment, Phase.PREFILL, batch, prompt, prompt, lm_head_all_positions)
    context, steps = decode_nodes(prompt, output)
    decode_counts = count_pass(deployment, Phase.DECODE, batch[:, None], np.ones_like(context), context, False)
    return Simulation(
        deployment=deployment,
        profile=profile,
        batch=batch,
        prompt=prompt,
        output=output,
        prefill_counts=prefill_counts,
        prefill=time_pass(prefill_counts, params),
        decode_counts=decode_counts,
        decode=time_pass(decode_counts, params),
        decode_steps_per_node=steps,
        memory=memory_use(deployment, prefill_counts, prompt, output, profile.memory_utilization),
    )
