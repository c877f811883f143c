"""Eager framework calls: counted from the harness's eager implementation, charged per call on the device path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import simulate


def test_each_framework_call_adds_its_cost_to_every_layer_and_step() -> None:
    deployment = Deployment(model=load_model("llama-3.1-8b"), hardware=load_hardware("h100-sxm"))
    calls = {
        "host.framework_call_s": 1e-5,
        "host.framework_calls_per_layer": 15.0,
        "host.framework_calls_per_step": 3.0,
    }
    base = simulate(deployment, IDEAL, 1, np.array([128.0]), np.array([9.0]))
    eager = simulate(deployment, IDEAL.with_params(calls), 1, np.array([128.0]), np.array([9.0]))
    per_pass = (15 * deployment.model.num_layers + 3) * 1e-5
    assert float(eager.tpot_s[0] - base.tpot_s[0]) == pytest.approx(per_pass, rel=1e-9)
    assert float(eager.ttft_s[0] - base.ttft_s[0]) == pytest.approx(per_pass, rel=1e-9)


def test_the_count_follows_the_eager_implementation(monkeypatch: pytest.MonkeyPatch) -> None:
    """One more view per attention call in model.py is one more framework call per layer, none per step."""
    pytest.importorskip("torch")
    from idealrt.calibration.harness import model as eager
    from idealrt.calibration.recipes import eager_framework_calls

    before = eager_framework_calls()
    assert before.per_layer >= 10  # split, views, transposes, cache slicing, reshape: see calibration/harness
    original = eager.Attention.forward

    def with_one_more_view(self: Any, *args: Any) -> Any:
        out = original(self, *args)
        return out.view(out.shape)

    monkeypatch.setattr(eager.Attention, "forward", with_one_more_view)
    after = eager_framework_calls()
    assert after.per_layer == before.per_layer + 1
    assert after.per_step == before.per_step
