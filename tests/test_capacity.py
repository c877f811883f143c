"""`capacity`: the replica sizing checked against hand calculations, monotone in load and targets, and the
length-distribution specs with their one-line errors."""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import deployment

from idealrt.simulator.cli import main
from idealrt.simulator.errors import UserError
from idealrt.simulator.planner.capacity import (
    PrefillStats,
    Targets,
    capacity_frame,
    decode_context,
    max_prefill_utilization,
    size_replicas,
    wait_p99,
)
from idealrt.simulator.planner.distributions import parse_distribution
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import simulate

# Hand-made replica: every decode step takes 20 ms whatever the batch, each prefill 100 ms (a constant prompt),
# 100 decode tokens per request (the first comes from the prefill), 10 requests/s.
STEP = np.full(64, 0.020)
PREFILL = PrefillStats(mean_s=0.1, second_moment_s2=0.01, p99_s=0.1)
DECODE_TOKENS, QPS = 100.0, 10.0
# capacity(B) = 1 / (100 · 0.02 / B + 0.1) = B / (2 + 0.1 B) requests/s per replica.


def test_tpot_target_binds_by_hand() -> None:
    # tpot = 0.02 / (1 − ρ) ≤ 0.025  ⇔  ρ = 10 · 0.1 / R ≤ 0.2  ⇔  R ≥ 5;
    # 5 replicas carry 2 req/s each: B / (2 + 0.1 B) ≥ 2  ⇔  B ≥ 5.
    sizing = size_replicas(STEP, PREFILL, DECODE_TOKENS, QPS, Targets(ttft_p99_s=10.0, tpot_s=0.025), cap=1.0)
    assert sizing is not None
    assert (sizing.replicas, sizing.batch) == (5, 5)
    assert sizing.tpot_s == pytest.approx(0.025)
    assert sizing.prefill_utilization == pytest.approx(0.2)


@pytest.mark.parametrize(("ttft_p99", "replicas", "batch"), [(0.52, 2, 20), (0.50, 3, 10)])
def test_ttft_target_binds_by_hand(ttft_p99: float, replicas: int, batch: int) -> None:
    # W99(ρ) = E[S²] ln(100ρ) / (2 E[S] (1 − ρ)) = 0.05 ln(100ρ) / (1 − ρ); budget = target − 0.02 − 0.1.
    # W99(1/2) = 0.1 ln 50 = 0.391 s, W99(1/3) = 0.075 ln(100/3) = 0.263 s.
    # 0.52 s leaves 0.40 s ≥ W99(1/2): ρ up to just over 1/2, so R = 2 and B / (2 + 0.1 B) ≥ 5 ⇔ B ≥ 20.
    # 0.50 s leaves 0.38 s: 1/3 < ρ* < 1/2, so R = 3 and B / (2 + 0.1 B) ≥ 10/3 ⇔ B ≥ 10.
    sizing = size_replicas(STEP, PREFILL, DECODE_TOKENS, QPS, Targets(ttft_p99_s=ttft_p99, tpot_s=1.0), cap=1.0)
    assert sizing is not None
    assert (sizing.replicas, sizing.batch) == (replicas, batch)
    assert sizing.ttft_p99_s <= ttft_p99


def test_the_utilization_cap_adds_replicas_by_hand() -> None:
    # Loose targets: only capacity binds. B = 64: capacity 64 / 8.4 = 7.62 req/s; at 85 %: 6.48 → R = 2.
    sizing = size_replicas(STEP, PREFILL, DECODE_TOKENS, QPS, Targets(ttft_p99_s=100.0, tpot_s=1.0), cap=0.85)
    assert sizing is not None and sizing.replicas == 2
    # the smallest B with 0.85 · B / (2 + 0.1 B) ≥ 5: B ≥ 10 / 0.35 = 28.6
    assert sizing.batch == 29
    assert sizing.slot_utilization <= 0.85


def test_an_unreachable_tpot_is_no_answer() -> None:
    assert size_replicas(STEP, PREFILL, DECODE_TOKENS, QPS, Targets(ttft_p99_s=10.0, tpot_s=0.019)) is None


def test_wait_p99_is_exact_for_exponential_service() -> None:
    # M/M/1 with μ = 10/s: P(W > t) = ρ e^{−μ(1−ρ)t}, so W99 = ln(100ρ) / (μ (1 − ρ)).
    exponential = PrefillStats(mean_s=0.1, second_moment_s2=2 * 0.1**2, p99_s=0.1 * math.log(100))
    for rho in (0.3, 0.5, 0.9):
        assert float(wait_p99(np.array(rho), exponential)) == pytest.approx(math.log(100 * rho) / (10 * (1 - rho)))
    assert float(wait_p99(np.array(0.005), exponential)) == 0.0  # fewer than 1 % of arrivals wait at all


def test_max_prefill_utilization_inverts_wait_p99() -> None:
    budgets = np.array([0.05, 0.3, 2.0])
    rho = max_prefill_utilization(budgets, PREFILL)
    assert np.allclose(wait_p99(rho, PREFILL), budgets)


def test_mean_decode_context_by_hand() -> None:
    # const output 5: steps at p+1 … p+4, mean p + 2.5
    assert decode_context(parse_distribution("const:100"), parse_distribution("const:5")) == pytest.approx(102.5)


@cache
def tiny(
    qps: float, ttft_p99: float = 0.5, tpot: float = 0.01, prompt: str = "const:512", output: str = "const:128"
) -> pd.DataFrame:
    return capacity_frame(
        "llama-3.2-1b",
        ["h100-sxm"],
        qps,
        parse_distribution(prompt),
        parse_distribution(output),
        Targets(ttft_p99, tpot),
        profile="ideal",
        max_devices=1,
    )


def replicas_by_hand(step: float, batch: int, prefill: float, qps: float, tpot_target: float) -> int:
    capacity = 1 / (127 * step / batch + prefill)  # const output 128: 127 decode tokens per request
    by_slots = math.ceil(qps / (0.85 * capacity) - 1e-9)
    by_tpot = math.ceil(qps * prefill / (1 - step / tpot_target) - 1e-9)
    return max(by_slots, by_tpot)


def test_solver_matches_a_hand_calculation_from_simulated_times() -> None:
    qps, ttft_target, tpot_target = 400.0, 0.5, 0.01
    row = tiny(qps).iloc[0]
    layout = deployment("llama-3.2-1b")
    prefill = float(simulate(layout, IDEAL, 1, 512, 1).ttft_s[0])  # constant prompt: S is one number
    context = 512 + 127 * 128 / (2 * 127)  # const output 128: decode steps at 513 … 639, mean 576

    def step(batch: int) -> float:
        return float(simulate(layout, IDEAL, batch, context - 1, 2).tpot_s[0])

    batch = int(row["batch"])
    assert row["replicas"] == replicas_by_hand(step(batch), batch, prefill, qps, tpot_target)
    assert replicas_by_hand(step(batch - 1), batch - 1, prefill, qps, tpot_target) > row["replicas"]  # smallest B
    assert row["decode_step_s"] == pytest.approx(step(batch))
    assert row["tpot_s"] == pytest.approx(step(batch) / (1 - qps / row["replicas"] * prefill))
    assert row["tpot_s"] <= tpot_target and row["ttft_p99_s"] <= ttft_target


def test_more_load_never_needs_fewer_devices() -> None:
    devices = [int(tiny(qps).iloc[0]["devices"]) for qps in (1.0, 40.0, 400.0, 2000.0)]
    assert devices == sorted(devices) and devices[-1] > devices[0]


def test_looser_targets_never_need_more_devices() -> None:
    by_tpot = [int(tiny(400.0, tpot=t).iloc[0]["devices"]) for t in (0.0008, 0.001, 0.002, 0.05)]
    by_ttft = [int(tiny(400.0, ttft_p99=t).iloc[0]["devices"]) for t in (0.0025, 0.003, 0.004, 5.0)]
    assert by_tpot == sorted(by_tpot, reverse=True) and by_tpot[0] > by_tpot[-1]
    assert by_ttft == sorted(by_ttft, reverse=True) and by_ttft[0] > by_ttft[-1]


def test_unmeetable_targets_name_the_best_achievable_in_one_line() -> None:
    with pytest.raises(UserError) as caught:
        tiny(1.0, tpot=1e-5)
    message = str(caught.value)
    assert "\n" not in message and "best achievable" in message and "tpot" in message and "ttft p99" in message


@pytest.mark.parametrize(
    "spec",
    [
        "normal:5:1",
        "const",
        "const:0",
        "const:1.5",
        "uniform:10",
        "uniform:9:3",
        "lognormal:abc:1",
        "lognormal:100:-1",
        "uniform:1:2:3",
    ],
)
def test_bad_distribution_specs_are_one_line_errors(spec: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_distribution(spec, "--prompt-dist")
    assert "\n" not in str(caught.value) and "--prompt-dist" in str(caught.value)


def test_distributions_are_deterministic_quadratures() -> None:
    assert parse_distribution("const:512").mean() == 512
    assert parse_distribution("uniform:128:1024").mean() == pytest.approx(576, abs=0.5)
    lognormal = parse_distribution("lognormal:1000:0.5")
    assert float(lognormal.quantile(0.5)[0]) == 1000
    assert lognormal.mean() == pytest.approx(1000 * math.exp(0.5**2 / 2), rel=0.01)
    assert np.array_equal(lognormal.grid(), parse_distribution("lognormal:1000:0.5").grid())


def test_cli_capacity_json_and_infeasible(capsys) -> None:  # type: ignore[no-untyped-def]
    args = [
        "capacity",
        "--model",
        "llama-3.2-1b",
        "--hardware",
        "h100-sxm",
        "--qps",
        "20",
        "--prompt-dist",
        "uniform:256:768",
        "--output-dist",
        "lognormal:128:0.5",
        "--ttft-p99",
        "0.5",
        "--profile",
        "ideal",
        "--max-devices",
        "1",
    ]
    assert main([*args, "--tpot", "0.01", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    option = record["options"][0]
    assert option["devices"] == option["replicas"] * option["devices_per_replica"]
    assert option["tpot_s"] <= 0.01 and option["ttft_p99_s"] <= 0.5
    assert main([*args, "--tpot", "0.00001"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
