"""Idealized cost and energy: runtime × devices × price per device-hour, checked by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.planner.idealized import (
    PAPER_USD_PER_A100_HOUR,
    IdealizedRuntime,
    decompose,
    fewest_deployment,
    idealized_cost,
    idealized_for,
    paper_price,
)
from idealrt.simulator.profile import IDEAL

A100 = load_hardware("a100-sxm-80gb")
HOST_BOUND = IDEAL.with_params({"host.launch_s": 1e-3})


@pytest.fixture(scope="module")
def davinci() -> IdealizedRuntime:
    return idealized_for("gpt3-175b", A100, IDEAL)


def test_cost_is_runtime_times_devices_times_price_per_hour(davinci: IdealizedRuntime) -> None:
    runtime = float(davinci.idealized_runtime(512, 32))
    cost = idealized_cost(davinci, 512, 32, 4.096)
    assert cost.runtime_s == pytest.approx(runtime)
    assert cost.n_accelerators == 8
    assert cost.usd == pytest.approx(runtime * 8 * 4.096 / 3600, rel=1e-12)


def test_per_million_token_prices_split_the_request_into_prompt_and_generation(davinci: IdealizedRuntime) -> None:
    cost = idealized_cost(davinci, 1920, 64, 4.096)
    dollars_per_second = 8 * 4.096 / 3600
    alpha, beta = float(davinci.alpha(1920)), davinci.beta_s
    assert cost.usd_per_million_input_tokens == pytest.approx(alpha * dollars_per_second / 1920 * 1e6)
    assert cost.usd_per_million_output_tokens == pytest.approx(63 * beta * dollars_per_second / 64 * 1e6)
    assert cost.usd_per_million_tokens * (1920 + 64) / 1e6 == pytest.approx(cost.usd)
    input_usd = cost.usd_per_million_input_tokens * 1920 / 1e6
    output_usd = cost.usd_per_million_output_tokens * 64 / 1e6
    assert input_usd + output_usd == pytest.approx(cost.usd)


def test_energy_at_tdp_is_runtime_times_power_of_every_device(davinci: IdealizedRuntime) -> None:
    cost = idealized_cost(davinci, 512, 32, 4.096)
    assert cost.energy_j == pytest.approx(cost.runtime_s * 400 * 8)


def test_utilization_is_a_fraction_not_a_percent() -> None:
    """A percent-vs-fraction slip would make the busy energy 100× the TDP energy."""
    # decode waits for kernel launches
    runtime = decompose(fewest_deployment(load_model("gpt3-1.3b"), A100, HOST_BOUND), HOST_BOUND)
    cost = idealized_cost(runtime, 512, 64, 4.096)
    assert 0 < cost.utilization < 1
    assert cost.energy_busy_j == pytest.approx(cost.energy_j * cost.utilization)  # type: ignore[operator]
    assert cost.energy_busy_j < cost.energy_j  # type: ignore[operator]


def test_the_ideal_roofline_keeps_a_single_stage_busy(davinci: IdealizedRuntime) -> None:
    assert idealized_cost(davinci, 512, 32, 4.096).utilization == pytest.approx(1.0)


def test_each_stage_of_a_batch_one_pipeline_computes_its_share_of_the_time() -> None:
    runtime = idealized_for("mt-nlg-530b", A100, IDEAL, layout="fewest")
    assert runtime.deployment.pp == 2
    assert idealized_cost(runtime, 512, 32, 4.096).utilization == pytest.approx(0.5)
    papers = idealized_for("mt-nlg-530b", A100, IDEAL)  # TNLG v2 as the paper ran it: 3 stages of tp 8
    assert papers.deployment.pp == 3
    assert idealized_cost(papers, 512, 32, 4.096).utilization == pytest.approx(1 / 3)


def test_a100s_default_to_the_papers_price_and_say_so() -> None:
    price, note = paper_price(A100)
    assert price == PAPER_USD_PER_A100_HOUR == 4.096
    assert "paper" in note and "3.431" in note


def test_other_hardware_uses_its_catalog_price_and_a_given_price_wins() -> None:
    h100 = load_hardware("h100-sxm")
    assert paper_price(h100)[0] == h100.price_usd_per_hour
    assert paper_price(A100, 2.5)[0] == 2.5
    assert paper_price(h100, 2.5)[0] == 2.5


def test_a_missing_price_is_a_user_error(davinci: IdealizedRuntime) -> None:
    unpriced = A100.model_copy(update={"id": "unpriced-gpu", "price_usd_per_hour": None, "price_date": None})
    with pytest.raises(UserError, match="no price: pass --price-usd-per-hour"):
        paper_price(unpriced)
    with pytest.raises(UserError, match="must be > 0"):
        paper_price(A100, 0.0)
    with pytest.raises(UserError, match="no price: pass --price-usd-per-hour"):
        idealized_cost(replace(davinci, deployment=replace(davinci.deployment, hardware=unpriced)), 512, 32)
