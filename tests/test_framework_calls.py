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


def test_an_eager_composite_op_pays_its_kinds_fixed_cost_wherever_the_graph_has_one() -> None:
    """RMSNorm twice per layer and once before the LM head; rotary once per layer (Q and K together)."""
    deployment = Deployment(model=load_model("llama-3.1-8b"), hardware=load_hardware("h100-sxm"))
    extras = {"elementwise.rmsnorm_extra_s": 1e-4, "elementwise.rotary_extra_s": 1e-3}
    base = simulate(deployment, IDEAL, 1, np.array([128.0]), np.array([9.0]))
    eager = simulate(deployment, IDEAL.with_params(extras), 1, np.array([128.0]), np.array([9.0]))
    layers = deployment.model.num_layers
    per_pass = (2 * layers + 1) * 1e-4 + layers * 1e-3
    assert float(eager.tpot_s[0] - base.tpot_s[0]) == pytest.approx(per_pass, rel=1e-6)
    assert float(eager.ttft_s[0] - base.ttft_s[0]) == pytest.approx(per_pass, rel=1e-6)


def test_a_kind_the_model_does_not_use_costs_nothing() -> None:
    deployment = Deployment(model=load_model("llama-3.1-8b"), hardware=load_hardware("h100-sxm"))  # RMSNorm
    base = simulate(deployment, IDEAL, 1, np.array([128.0]), np.array([9.0]))
    other = simulate(
        deployment, IDEAL.with_params({"elementwise.layernorm_extra_s": 1e-3}), 1, np.array([128.0]), np.array([9.0])
    )
    assert float(other.tpot_s[0]) == float(base.tpot_s[0])


def test_the_serving_step_model_charges_the_same_composite_costs() -> None:
    from idealrt.simulator.serving.step_model import StepModel

    deployment = Deployment(model=load_model("llama-3.1-8b"), hardware=load_hardware("h100-sxm"))
    extras = {"elementwise.rmsnorm_extra_s": 1e-4, "elementwise.rotary_extra_s": 1e-3}
    eager = StepModel.for_deployment(deployment, IDEAL.with_params(extras))
    plain = StepModel.for_deployment(deployment, IDEAL)
    layers = deployment.model.num_layers
    decode = (4, 4 * 512.0, (), 4)  # four sequences at context 512, one token each
    added = eager.step_seconds(*decode) - plain.step_seconds(*decode)
    assert added == pytest.approx((2 * layers + 1) * 1e-4 + layers * 1e-3, rel=1e-6)


def test_fits_on_gpu_kernel_data_leave_the_eager_composite_costs_at_zero() -> None:
    """The shipped GPU kernel timings are fused kernels under CUDA graphs: no eager kind's extra cost is fitted."""
    from idealrt.calibration.fit.coverage import constants_with_data
    from idealrt.calibration.store import SHIPPED_DATA_DIR, read_op_records, read_provenance

    records = [r for r in read_op_records() if r.op == "elementwise"]
    free = constants_with_data("elementwise", records, read_provenance(), SHIPPED_DATA_DIR)
    assert records and not [name for name in free if name.endswith("_extra_s")]
