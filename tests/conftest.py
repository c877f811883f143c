"""Shared fixtures: small deployments built from catalog models and hardware."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("IDEALRT_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "compiled"))

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import Simulation, simulate


def deployment(model: str, hardware: str = "h100-sxm", **kwargs: object) -> Deployment:
    return Deployment(model=load_model(model), hardware=load_hardware(hardware), **kwargs)  # type: ignore[arg-type]


def ideal(
    model: str,
    hardware: str = "h100-sxm",
    *,
    batch: int = 1,
    prompt: int = 128,
    output: int = 16,
    naive_attention: bool = False,
    **kwargs: object,
) -> Simulation:
    return simulate(
        deployment(model, hardware, **kwargs), IDEAL, batch, prompt, output, naive_attention=naive_attention
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261129)
