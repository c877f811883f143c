"""The paper's idealized runtime α_p + β·(o − 1), derived from the simulator (Narayanan et al., NeurIPS 2023)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import deployment

import simulator.planner.idealized as idealized
from simulator.errors import UserError
from simulator.hardware import load_hardware
from simulator.model.catalog import load_model
from simulator.planner.idealized import (
    OUTPUT_TOKENS,
    PAPER_MODELS,
    PROMPT_SIZES,
    IdealizedRuntime,
    decompose,
    idealized_for,
    paper_deployment,
)
from simulator.profile import IDEAL
from simulator.simulation import simulate

A100 = "a100-sxm-80gb"
# Every kernel launch takes 1 ms on the host: a decode step is then host-bound and the same at any context.
HOST_BOUND = IDEAL.with_params({"host.launch_s": 1e-3})


def paper_runtime(model: str, profile=IDEAL) -> IdealizedRuntime:  # type: ignore[no-untyped-def]
    return idealized_for(load_model(model), load_hardware(A100), profile)


@pytest.fixture(scope="module")
def paper_runtimes() -> dict[str, IdealizedRuntime]:
    return {model: paper_runtime(model) for model in PAPER_MODELS}


def grid() -> tuple[np.ndarray, np.ndarray]:
    prompt, output = np.meshgrid(PROMPT_SIZES, OUTPUT_TOKENS, indexing="ij")
    return prompt.ravel().astype(float), output.ravel().astype(float)


def test_alpha_is_the_simulated_time_to_first_token() -> None:
    runtime = paper_runtime("gpt-j-6b")
    sim = simulate(runtime.deployment, IDEAL, 1, np.asarray(PROMPT_SIZES), 1)
    np.testing.assert_allclose(runtime.alpha_s, sim.ttft_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(runtime.alpha_s, sim.e2e_s, rtol=1e-12, atol=0)  # o = 1: e2e is the first token


def test_decomposition_is_exact_when_a_decode_step_does_not_depend_on_the_context() -> None:
    runtime = decompose(deployment("gpt3-125m", A100), HOST_BOUND)
    prompt, output = grid()
    sim = simulate(runtime.deployment, HOST_BOUND, 1, prompt, output)
    steps = sim.tpot_s[output > 1]
    assert np.ptp(steps) == pytest.approx(0, abs=1e-15)  # the premise: every decode step takes the same time
    assert runtime.beta_s == pytest.approx(steps[0], rel=1e-12)
    np.testing.assert_allclose(runtime.idealized_runtime(prompt, output), sim.e2e_s, rtol=1e-12)
    assert runtime.max_relative_error < 1e-12


@pytest.mark.parametrize("model", ["gpt-j-6b", "gpt3-175b", "mt-nlg-530b"])
def test_decomposition_error_is_bounded_by_how_much_a_decode_step_varies(
    model: str, paper_runtimes: dict[str, IdealizedRuntime]
) -> None:
    """β is the (o − 1)²-weighted mean of the simulated tpot, so its error is at most tpot's spread over the grid:
    the KV-cache read grows with the context, which a constant β cannot follow. Seen on a100-sxm-80gb, ideal:
    gpt-j-6b 3.6 % (its tpot spreads 7.5 %), gpt3-175b 1.25 %, mt-nlg-530b 0.8 %."""
    runtime = paper_runtimes[model]
    prompt, output = grid()
    sim = simulate(runtime.deployment, IDEAL, 1, prompt, output)
    tpot = sim.tpot_s[output > 1]
    assert tpot.min() <= runtime.beta_s <= tpot.max()
    error = np.abs(runtime.idealized_runtime(prompt, output) - sim.e2e_s) / sim.e2e_s
    assert error.max() == pytest.approx(runtime.max_relative_error)
    assert error.max() <= (tpot.max() - tpot.min()) / tpot.min()
    assert error.max() < 0.04


def test_the_largest_models_are_within_about_one_percent(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    assert paper_runtimes["gpt3-175b"].max_relative_error < 0.013
    assert paper_runtimes["mt-nlg-530b"].max_relative_error < 0.01


def test_the_whole_grid_is_one_vectorized_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = idealized.simulate

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(np.size(args[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(idealized, "simulate", counting)
    decompose(deployment("gpt3-125m", A100), IDEAL)
    assert calls == [len(PROMPT_SIZES) * len(OUTPUT_TOKENS)]


def test_alpha_never_decreases_with_the_prompt(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    for model, runtime in paper_runtimes.items():
        assert np.all(np.diff(runtime.alpha_s) >= 0), model
    host_bound = decompose(deployment("gpt3-125m", A100), HOST_BOUND)
    assert np.all(np.diff(host_bound.alpha_s) >= 0)


def test_alpha_is_linear_between_the_paper_sizes(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    runtime = paper_runtimes["gpt-j-6b"]
    table = runtime.alpha_by_size()
    assert runtime.alpha(512) == pytest.approx(table["512"], rel=1e-15)
    assert runtime.alpha(450) == pytest.approx((table["428"] + table["472"]) / 2)
    assert runtime.alpha(1100) == pytest.approx(table["1024"] + (table["1152"] - table["1024"]) * 76 / 128)
    assert runtime.idealized_runtime(450, 33) == pytest.approx(runtime.alpha(450) + 32 * runtime.beta_s)
    np.testing.assert_allclose(runtime.alpha([1, 16]), [table["1"], table["16"]])


def test_outside_the_paper_sizes_is_an_error_unless_extrapolating_explicitly(
    paper_runtimes: dict[str, IdealizedRuntime],
) -> None:
    runtime = paper_runtimes["gpt-j-6b"]
    with pytest.raises(UserError, match=r"outside the paper's prompt sizes \[1, 1920\].*extrapolate"):
        runtime.alpha(2000)
    with pytest.raises(UserError, match="prompt must be"):
        runtime.alpha(0)
    with pytest.raises(UserError, match="output must be"):
        runtime.idealized_runtime(10, 0)
    table = runtime.alpha_by_size()
    slope = (table["1920"] - table["1792"]) / 128
    assert runtime.alpha(2048, extrapolate=True) == pytest.approx(table["1920"] + 128 * slope)
    assert runtime.alpha(4096, extrapolate=True) > runtime.alpha(2048, extrapolate=True) > table["1920"]


def test_alpha_table_has_every_paper_size_as_a_string_key(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    assert list(paper_runtimes["gpt3-175b"].alpha_by_size()) == [str(p) for p in PROMPT_SIZES]


@pytest.mark.parametrize(
    ("model", "devices", "tp", "pp"),
    [
        ("gpt3-175b", 8, 8, 1),  # 350 GB of fp16 weights: one 8-GPU server, as the paper served davinci
        ("gpt-j-6b", 1, 1, 1),
        ("mt-nlg-530b", 16, 8, 2),  # 1.06 TB: pipeline stages of full 8-GPU servers
    ],
)
def test_devices_are_the_fewest_holding_a_2048_token_request(
    model: str, devices: int, tp: int, pp: int, paper_runtimes: dict[str, IdealizedRuntime]
) -> None:
    d = paper_runtimes[model].deployment
    assert (d.n_accelerators, d.tp, d.pp, d.weights_dtype) == (devices, tp, pp, "fp16")


def test_tensor_parallelism_is_a_power_of_two_inside_a_server(paper_runtimes: dict[str, IdealizedRuntime]) -> None:
    """gpt3-175b would fit on 6 GPUs (96 heads allow tp 6), but a Megatron server is split in powers of two."""
    for runtime in paper_runtimes.values():
        d = runtime.deployment
        assert d.tp & (d.tp - 1) == 0 and d.tp <= d.hardware.devices_per_node
        assert d.pp == 1 or d.tp == d.hardware.devices_per_node


def test_a_model_that_fits_nowhere_is_a_user_error() -> None:
    one_server = load_hardware(A100).model_copy(update={"inter_node_bandwidth_gb_s": None})
    with pytest.raises(UserError, match="mt-nlg-530b does not fit on any layout of a100-sxm-80gb"):
        paper_deployment(load_model("mt-nlg-530b"), one_server, IDEAL)
