"""`plan`: which layouts are considered, how big a batch fits, how configurations are ranked and which are
Pareto-optimal, and what an impossible request says."""

from __future__ import annotations

import json
import re
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import deployment

from idealrt.simulator.cli import main
from idealrt.simulator.deployment import check_parallelism
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.placement import memory_for
from idealrt.simulator.planner.plan import OBJECTIVES, largest_batch, layouts, pareto_mask, plan_frame, rank
from idealrt.simulator.profile import IDEAL

PROMPT, OUTPUT = 512, 128


@cache
def frame(
    model: str,
    batch: int | None = 1,
    hardware: tuple[str, ...] = ("h100-sxm",),
    max_devices: int = 8,
    objective: str = "latency",
) -> pd.DataFrame:
    return plan_frame(
        model,
        list(hardware),
        PROMPT,
        OUTPUT,
        batch=batch,
        objective=objective,
        profile="ideal",
        max_devices=max_devices,
    )


@pytest.mark.parametrize("model", ["llama-3.1-70b", "falcon-7b", "mixtral-8x7b"])
def test_layouts_keep_tensor_parallelism_inside_a_server_and_valid_for_the_model(model: str) -> None:
    spec, hardware = load_model(model), load_hardware("h100-sxm")
    found = layouts(spec, hardware, max_devices=32)
    assert found
    for layout in found:
        assert layout.tp <= hardware.devices_per_node
        assert spec.num_heads % layout.tp == 0
        check_parallelism(spec, layout.tp, layout.pp, layout.ep)  # never raises for a listed layout
        assert layout.n_accelerators <= 32
        if layout.n_accelerators > hardware.devices_per_node:  # several servers: whole-server groups
            assert (layout.tp * layout.ep) % hardware.devices_per_node == 0


def test_a_prime_head_count_allows_no_tensor_parallelism() -> None:
    assert {layout.tp for layout in layouts(load_model("falcon-7b"), load_hardware("h100-sxm"), 16)} == {1}


def test_expert_parallelism_only_for_moe_and_dividing_the_expert_count() -> None:
    hardware = load_hardware("h100-sxm")
    assert {layout.ep for layout in layouts(load_model("llama-3.1-8b"), hardware, 64)} == {1}
    mixtral = load_model("mixtral-8x7b")
    eps = {layout.ep for layout in layouts(mixtral, hardware, 64)}
    assert eps == {1, 2, 4, 8}
    assert all(mixtral.moe is not None and mixtral.moe.num_experts % ep == 0 for ep in eps)


@pytest.mark.parametrize(
    ("model", "tp", "ep"),
    [("llama-3.1-8b", 1, 1), ("llama-3.1-70b", 4, 1), ("mixtral-8x7b", 2, 2), ("mixtral-8x7b", 1, 4)],
)
def test_the_largest_batch_fits_and_one_more_does_not(model: str, tp: int, ep: int) -> None:
    layout = deployment(model, tp=tp, ep=ep)
    batch = largest_batch(layout, IDEAL, PROMPT, OUTPUT)
    assert batch >= 1
    fits = memory_for(layout, IDEAL, np.array([batch, batch + 1.0]), PROMPT, OUTPUT).fits  # type: ignore[arg-type]
    assert fits.tolist() == [True, False]


def test_a_model_that_does_not_fit_has_largest_batch_zero() -> None:
    assert largest_batch(deployment("llama-3.1-70b", tp=1), IDEAL, PROMPT, OUTPUT) == 0


def test_max_batch_rows_are_each_layouts_largest_batch() -> None:
    planned = frame("llama-3.1-8b", batch=None)
    for row in planned.itertuples():
        layout = deployment("llama-3.1-8b", tp=row.tp, pp=row.pp)
        assert row.batch == largest_batch(layout, IDEAL, PROMPT, OUTPUT)
        assert row.memory_gb_per_device <= row.memory_capacity_gb_per_device


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_rows_are_ranked_by_the_objective(objective: str) -> None:
    planned = frame("llama-3.1-8b", batch=None, hardware=("h100-sxm", "a100-sxm-80gb"))
    ranked = rank(planned.drop(columns="rank"), objective)
    column, ascending = OBJECTIVES[objective]
    values = ranked[column].to_numpy()
    assert np.all(np.diff(values) >= 0) if ascending else np.all(np.diff(values) <= 0)
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert set(ranked["hardware"]) == {"h100-sxm", "a100-sxm-80gb"}


def test_plan_frame_ranks_by_the_objective_it_is_given() -> None:
    planned = frame("llama-3.1-8b", batch=None, hardware=("h100-sxm",), objective="throughput")
    assert planned["output_tokens_per_s"].is_monotonic_decreasing


def test_rank_breaks_ties_by_latency_then_cost() -> None:
    rows = pd.DataFrame(
        {
            "e2e_s": [2.0, 1.0, 1.0],
            "usd_per_million_tokens": [5.0, 5.0, 4.0],
            "output_tokens_per_s": [1.0, 1.0, 1.0],
            "devices": [1, 1, 1],
        }
    )
    assert rank(rows, "cost")["e2e_s"].tolist() == [1.0, 1.0, 2.0]
    assert rank(rows, "cost")["usd_per_million_tokens"].tolist() == [4.0, 5.0, 5.0]


def test_pareto_front_of_a_hand_made_set() -> None:
    #         cost  latency
    points = [
        (1.0, 5.0),  # cheapest: optimal
        (2.0, 3.0),  # optimal
        (3.0, 3.0),  # dominated by (2, 3)
        (4.0, 1.0),  # fastest: optimal
        (2.0, 6.0),  # dominated by (1, 5) and (2, 3)
        (1.0, 5.0),  # a duplicate of an optimal point is optimal too
        (5.0, 1.0),
    ]  # dominated by (4, 1)
    cost, latency = (np.array(x) for x in zip(*points, strict=True))
    assert pareto_mask(cost, latency).tolist() == [True, True, False, True, False, True, False]


def test_planned_pareto_rows_are_exactly_the_undominated_ones() -> None:
    planned = frame("llama-3.1-8b", batch=None, hardware=("h100-sxm", "a100-sxm-80gb"))
    cost, latency = planned["usd_per_million_tokens"].to_numpy(), planned["e2e_s"].to_numpy()
    for i, optimal in enumerate(planned["pareto"]):
        dominated = np.any((cost <= cost[i]) & (latency <= latency[i]) & ((cost < cost[i]) | (latency < latency[i])))
        assert optimal == (not dominated)


def test_throughput_and_cost_follow_from_the_simulated_times() -> None:
    row = frame("llama-3.1-8b").iloc[0]
    assert row["output_tokens_per_s"] == pytest.approx(row["batch"] * OUTPUT / row["e2e_s"])
    assert row["e2e_s"] == pytest.approx(row["ttft_s"] + (OUTPUT - 1) * row["tpot_s"])
    price = load_hardware(row["hardware"]).price_usd_per_hour
    assert row["usd_per_request"] == pytest.approx(row["e2e_s"] * row["devices"] * price / 3600)


def test_an_impossible_request_is_one_line_naming_the_memory_needed() -> None:
    with pytest.raises(UserError) as caught:
        plan_frame("llama-3.1-405b", ["h100-sxm", "a100-sxm-80gb"], 1024, 256, profile="ideal", max_devices=8)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(r"llama-3\.1-405b needs \d+ GB at batch 1 \(weights \d+\.\d GB", message)
    assert "no layout of up to 8 × h100-sxm fits" in message and "a100-sxm-80gb" in message
    assert "16 × h100-sxm would" in message


def test_cli_plan_json_and_plot(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "pareto.png"
    code = main(
        [
            "plan",
            "--model",
            "llama-3.2-1b",
            "--hardware",
            "h100-sxm,a100-sxm-80gb",
            "--prompt",
            "256",
            "--output",
            "64",
            "--max-batch",
            "--objective",
            "cost",
            "--profile",
            "ideal",
            "--max-devices",
            "2",
            "--json",
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    rows = record["configurations"]
    assert rows and any(row["pareto"] for row in rows)
    assert rows[0]["usd_per_million_tokens"] == min(row["usd_per_million_tokens"] for row in rows)
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_infeasible_plan_exits_2_with_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        [
            "plan",
            "--model",
            "llama-3.1-70b",
            "--hardware",
            "h100-sxm",
            "--prompt",
            "1024",
            "--output",
            "256",
            "--profile",
            "ideal",
            "--max-devices",
            "1",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs" in err and "2 × h100-sxm would" in err
