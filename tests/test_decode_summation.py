"""Decode is not a loop over steps: the steps' times are summed over a few context points. Against the
step-by-step sum, over the catalog, that sum is within 0.1 %."""

from __future__ import annotations

import numpy as np
import pytest

from idealrt.simulator.counting import count_pass
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model, model_ids
from idealrt.simulator.pass_timing import time_pass
from idealrt.simulator.profile import IDEAL, load_profile
from idealrt.simulator.simulation import simulate
from idealrt.simulator.structure import Phase

REQUESTS = ((1, 1, 2048), (64, 1, 2000), (8, 1500, 1200), (1, 30000, 600), (256, 100, 700), (16, 4000, 17))


def step_by_step(sim_deployment: Deployment, profile_name: str, batch: int, prompt: int, output: int) -> float:
    profile = IDEAL if profile_name == "ideal" else load_profile(profile_name)
    sim = simulate(sim_deployment, profile, batch, prompt, 2)
    contexts = prompt + np.arange(1, output, dtype=np.float64)[None, :]
    counts = count_pass(sim_deployment, Phase.DECODE, np.array([[batch]], float), 1.0, contexts, sim.options)
    return float(np.sum(time_pass(counts, profile.params(), detail=False).total))


@pytest.mark.parametrize("profile_name", ["ideal", "h100-sxm-kernels", "megatron-a100-2022"])
def test_decode_sum_is_within_a_thousandth_of_the_step_by_step_sum(profile_name: str) -> None:
    worst = (0.0, "")
    for model_id in model_ids():
        spec = load_model(model_id)
        tp = 8 if spec.num_heads % 8 == 0 and spec.kv_heads % 8 in (0, spec.kv_heads) else 1
        try:
            deployment = Deployment(spec, load_hardware("h100-sxm"), tp=tp)
        except Exception:  # a width tp does not divide: one device
            deployment = Deployment(spec, load_hardware("h100-sxm"))
        profile = IDEAL if profile_name == "ideal" else load_profile(profile_name)
        for batch, prompt, output in REQUESTS:
            summed = float(simulate(deployment, profile, batch, prompt, output, detail=False).decode_s[0])
            exact = step_by_step(deployment, profile_name, batch, prompt, output)
            error = abs(summed / exact - 1)
            worst = max(worst, (error, f"{model_id} b={batch} p={prompt} o={output}"))
    assert worst[0] <= 1e-3, worst
