"""How many devices a model needs: the fewest that hold weights, KV cache and workspace.

The rule of Narayanan et al. (2023) for choosing a model's device count: tensor parallelism inside one server,
pipeline stages (of full servers) beyond that. Tensor-parallel groups tile a server, so their size divides the
server's device count (1, 2, 4, 8 on an 8-GPU server) as well as the model's heads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from idealrt.simulator.counting import count_pass, counting_options
from idealrt.simulator.deployment import Deployment, check_parallelism
from idealrt.simulator.errors import UserError
from idealrt.simulator.memory import MemoryUse, memory_use
from idealrt.simulator.profile import Profile
from idealrt.simulator.structure import Phase

MAX_PIPELINE_STAGES = 64


def memory_for(
    deployment: Deployment,
    profile: Profile,
    batch: int | np.ndarray,
    prompt: int | np.ndarray,
    output: int | np.ndarray,
) -> MemoryUse:
    """Memory of the fullest device; vectorized over array arguments. Counts as `simulate` does (the profile's
    behaviours resolved by `counting_options`), so the planner's memory is the estimate's memory."""
    batch, prompt, output = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (batch, prompt, output))
    )
    counts = count_pass(deployment, Phase.PREFILL, batch, prompt, prompt, counting_options(profile))
    return memory_use(deployment, counts, prompt, output, profile.memory_utilization)


def tensor_parallel_degrees(deployment: Deployment) -> list[int]:
    """TP degrees valid for the model that tile one server, smallest first."""
    degrees = []
    per_node = deployment.hardware.devices_per_node
    for tp in range(1, per_node + 1):
        if per_node % tp:
            continue
        try:
            check_parallelism(deployment.model, tp, 1, deployment.ep)
        except UserError:
            continue
        degrees.append(tp)
    return degrees


def candidate_layouts(deployment: Deployment, at_least: float = 1.0) -> Iterator[Deployment]:
    """Single-server layouts by growing TP, then full-server TP with 2, 3, … pipeline stages; layouts with fewer
    than `at_least` devices are skipped."""
    degrees = tensor_parallel_degrees(deployment)
    for tp in degrees:
        if tp * deployment.ep >= at_least:
            yield replace(deployment, tp=tp, pp=1)
    widest = degrees[-1]
    first_stages = max(2, math.ceil(at_least / (widest * deployment.ep)))
    for pp in range(first_stages, min(MAX_PIPELINE_STAGES, deployment.model.num_layers) + 1):
        yield replace(deployment, tp=widest, pp=pp)


def fewest_devices(deployment: Deployment, profile: Profile, batch: int, prompt: int, output: int) -> Deployment | None:
    """The first layout (in `candidate_layouts` order) whose fullest device holds everything; None if none does
    (or if layouts beyond one server need links the hardware spec does not give)."""
    single = memory_for(replace(deployment, tp=1, pp=1), profile, batch, prompt, output)
    # Sharding cannot beat an even split of weights and cache: fewer devices than this never fit.
    bound = float(single.weights_bytes[0] + single.kv_cache_bytes[0]) / single.capacity_bytes
    try:
        for layout in candidate_layouts(deployment, at_least=bound):
            if bool(memory_for(layout, profile, batch, prompt, output).fits[0]):
                return layout
    except UserError:
        return None
    return None
