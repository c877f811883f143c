"""Valid cases and the physical invariants every prediction must keep.

A case is a deployment (catalog model, hardware, tensor/pipeline parallelism, weight format) and a request
(batch, prompt, output). For each, the simulator is run on the case and on its neighbours one step larger in
prompt, output and batch, under `ideal` and every shipped profile. Invariants (README "What the numbers mean"):
  finite:        every time and memory figure is finite and ≥ 0
  monotone:      TTFT and e2e non-decreasing in prompt, output and batch
  tpot_prompt:   TPOT non-decreasing in prompt (a longer context never makes a decode step faster)
  fits:          fits ⇔ memory ≤ capacity
  ideal_bound:   `ideal` ≤ every shipped profile (TTFT, TPOT, e2e)
  memory_for:    placement.memory_for agrees with the simulation's memory
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.placement import memory_for
from idealrt.simulator.profile import Profile, load_profile, shipped_profile_names
from idealrt.simulator.simulation import Simulation, simulate

# Architectures of every kind the simulator models: learned/rotary positions, MHA/GQA/MQA, sliding windows,
# parallel blocks, MoE, MLA.
MODELS = (
    "gpt3-125m",
    "opt-1.3b",
    "llama-3.2-1b",
    "llama-3.1-8b",
    "mistral-7b",
    "gemma-2-2b",
    "falcon-7b",
    "gpt-j-6b",
    "mixtral-8x7b",
    "qwen2-57b-a14b",
    "deepseek-v3",
    "llama-3.1-70b",
)
HARDWARE = ("a100-sxm-80gb", "h100-sxm", "h200-sxm", "mi300x", "b200")
RELATIVE_SLACK = 1e-9  # float rounding between separately evaluated cases

# Invariants whose violations have a known cause outside this suite, with the fix that removes it.
PENDING_FIXES = {
    "ideal_bound": "calibrated efficiencies above 1 (fitter FRACTION_CEILING = 1.2); the fidelity fix caps every "
    "efficiency at 1 and refits the shipped profiles",
    "tpot_prompt": "decode attention memory time scales the Q/O bytes by the context curve c/(c + half); the "
    "fidelity fix makes decode attention time non-decreasing in the context",
    "memory_for": "simulate applies the profile's naive_attention behaviour to the deployment (simulation.py) but "
    "placement.memory_for does not, so under megatron-a100-2022 it omits the materialized score matrix from the "
    "activations; the core redesign makes both share one memory accounting",
}


@dataclass(frozen=True)
class Case:
    model: str
    hardware: str
    tp: int
    pp: int
    weights_dtype: str
    batch: int
    prompt: int
    output: int
    step: int  # the neighbours are this much larger in prompt, output and batch


@cache
def profiles() -> tuple[Profile, ...]:
    return tuple(load_profile(name) for name in shipped_profile_names())


@cache
def _deployment(model: str, hardware: str, tp: int, pp: int, weights_dtype: str) -> Deployment | None:
    try:
        return Deployment(load_model(model), load_hardware(hardware), tp=tp, pp=pp, weights_dtype=weights_dtype)
    except UserError:
        return None


@st.composite
def valid_cases(draw: st.DrawFn) -> Case:
    case = Case(
        model=draw(st.sampled_from(MODELS)),
        hardware=draw(st.sampled_from(HARDWARE)),
        tp=draw(st.sampled_from((1, 2, 4, 8))),
        pp=draw(st.sampled_from((1, 1, 2, 4))),
        weights_dtype=draw(st.sampled_from(("bf16", "bf16", "fp8", "int8", "int4"))),
        batch=draw(st.integers(1, 64) | st.integers(1, 1024)),
        prompt=draw(st.integers(1, 64) | st.integers(1, 32768)),
        output=draw(st.integers(1, 8) | st.integers(1, 4096)),
        step=draw(st.sampled_from((1, 7, 64, 1000))),
    )
    assume(deployment(case) is not None)
    return case


def deployment(case: Case) -> Deployment | None:
    return _deployment(case.model, case.hardware, case.tp, case.pp, case.weights_dtype)


def _run(case: Case, profile: Profile) -> Simulation:
    """Columns: the case, then prompt + step, output + step, batch + step."""
    b, p, o, d = case.batch, case.prompt, case.output, case.step
    batch = np.array([b, b, b, b + d])
    prompt = np.array([p, p + d, p, p])
    output = np.array([o, o, o + d, o])
    dep = deployment(case)
    assert dep is not None
    return simulate(dep, profile, batch, prompt, output)


def _no_less(larger: np.ndarray, smaller: np.ndarray) -> bool:
    return bool(np.all(larger >= smaller * (1 - RELATIVE_SLACK)))


def violations(case: Case) -> set[str]:
    """The invariants this case breaks (empty: all hold)."""
    broken: set[str] = set()
    by_profile = {profile.name: _run(case, profile) for profile in profiles()}
    for sim in by_profile.values():
        times = [sim.ttft_s, sim.tpot_s, sim.e2e_s, sim.decode_s]
        memory = sim.memory
        sizes = [memory.weights_bytes, memory.kv_cache_bytes, memory.activation_bytes, memory.total_bytes]
        values = np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in (*times, *sizes)])
        if not (np.all(np.isfinite(values)) and np.all(values >= 0)):
            broken.add("finite")
            continue
        for series in (sim.ttft_s, sim.e2e_s):
            if not all(_no_less(series[k], series[0]) for k in (1, 2, 3)):
                broken.add("monotone")
        if not _no_less(sim.tpot_s[1], sim.tpot_s[0]):
            broken.add("tpot_prompt")
        if not np.array_equal(np.asarray(memory.fits), np.asarray(memory.total_bytes) <= memory.capacity_bytes):
            broken.add("fits")
        dep = deployment(case)
        assert dep is not None
        planned = memory_for(dep, sim.profile, sim.batch, sim.prompt, sim.output)
        if not np.allclose(planned.total_bytes, memory.total_bytes, rtol=1e-9):
            broken.add("memory_for")
    ideal = by_profile["ideal"]
    for name, sim in by_profile.items():
        if name == "ideal":
            continue
        for bound, value in ((ideal.ttft_s, sim.ttft_s), (ideal.tpot_s, sim.tpot_s), (ideal.e2e_s, sim.e2e_s)):
            if not _no_less(value, bound):
                broken.add("ideal_bound")
    return broken
