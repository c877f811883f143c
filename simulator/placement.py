"""How many devices a model needs: the fewest that hold weights, KV cache and workspace.

The rule of Narayanan et al. (2023) for choosing a model's device count: tensor parallelism inside one server,
pipeline stages (of full servers) beyond that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from simulator.deployment import Deployment, check_parallelism
from simulator.engine import count_pass
from simulator.errors import UserError
from simulator.graph import Phase
from simulator.memory import MemoryUse, memory_use
from simulator.profile import Profile

MAX_PIPELINE_STAGES = 64


def memory_for(deployment: Deployment, profile: Profile, batch: int, prompt: int, output: int) -> MemoryUse:
    one = np.ones(1)
    counts = count_pass(deployment, Phase.PREFILL, batch * one, prompt * one, prompt * one,
                        profile.behaviours.lm_head_all_prompt_positions)  # fmt: skip
    return memory_use(deployment, counts, prompt * one, output * one, profile.memory_utilization)


def tensor_parallel_degrees(deployment: Deployment) -> list[int]:
    """TP degrees valid for the model that fit inside one server, smallest first."""
    degrees = []
    for tp in range(1, deployment.hardware.devices_per_node + 1):
        try:
            check_parallelism(deployment.model, tp, 1, deployment.ep)
        except UserError:
            continue
        degrees.append(tp)
    return degrees


def candidate_layouts(deployment: Deployment) -> Iterator[Deployment]:
    """Single-server layouts by growing TP, then full-server TP with 2, 3, … pipeline stages."""
    degrees = tensor_parallel_degrees(deployment)
    for tp in degrees:
        yield _layout(deployment, tp, 1)
    for pp in range(2, min(MAX_PIPELINE_STAGES, deployment.model.num_layers) + 1):
        yield _layout(deployment, degrees[-1], pp)


def fewest_devices(deployment: Deployment, profile: Profile, batch: int, prompt: int,
                   output: int) -> Deployment | None:  # fmt: skip
    """The first layout (in `candidate_layouts` order) whose fullest device holds everything; None if none does."""
    for layout in candidate_layouts(deployment):
        try:
            if bool(memory_for(layout, profile, batch, prompt, output).fits[0]):
                return layout
        except UserError:  # e.g. no inter-node links in the spec for multi-server layouts
            return None
    return None


def _layout(deployment: Deployment, tp: int, pp: int) -> Deployment:
    return replace(deployment, tp=tp, pp=pp)
