"""Decode time never falls as the context grows: the context curve applies to the KV-cache read only."""

from __future__ import annotations

import numpy as np
import pytest

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.profile import IDEAL, load_profile, shipped_profile_names
from idealrt.simulator.simulation import simulate
from idealrt.simulator.timing import attention_time

PROMPTS = np.unique(np.round(np.geomspace(1, 8192, 80))).astype(np.float64)


@pytest.mark.parametrize("name", [n for n in shipped_profile_names() if n != "ideal"])
def test_tpot_is_non_decreasing_in_the_prompt(name: str) -> None:
    profile = load_profile(name)
    for model, hardware in (("llama-3.1-8b", "h100-sxm"), ("gpt3-350m", "a100-sxm-80gb")):
        deployment = Deployment(model=load_model(model), hardware=load_hardware(hardware), weights_dtype="fp16")
        tpot = simulate(deployment, profile, 1, PROMPTS, np.full_like(PROMPTS, 2)).tpot_s
        assert np.all(np.diff(tpot) >= -1e-15 * tpot[1:]), (name, model)


def test_the_context_curve_slows_the_cache_read_not_the_query() -> None:
    """At a context of `half` tokens the cache streams at half the rate; the query and output do not."""
    params = IDEAL.with_params({"attention.decode_context_half": 512.0, "attention.decode_bandwidth_fraction": 0.5})
    cache, query = 1e6, 1e4
    time = attention_time(0.0, cache + query, 1.0, 512.0, True, 1e15, 1e12, params.params(), np, cache_bytes=cache)
    assert float(time.memory) == pytest.approx(cache / (1e12 * 0.25) + query / (1e12 * 0.5))
