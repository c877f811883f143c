"""`idealrt serve`: the step model against `simulate()`, the event loop's invariants, the engine presets, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from idealrt.simulator.cli import main
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.planner.distributions import parse_distribution
from idealrt.simulator.profile import load_profile
from idealrt.simulator.serving.engines import engine_names, engine_table, load_engine
from idealrt.simulator.serving.serve import ServeInputs, kv_budget, run_serve, serve
from idealrt.simulator.serving.step_model import StepModel
from idealrt.simulator.serving.workload import Workload, generate, read_trace
from idealrt.simulator.simulation import simulate


@cache
def small() -> tuple[Deployment, object, StepModel]:
    deployment = Deployment(load_model("llama-3.1-8b"), load_hardware("a100-sxm-80gb"))
    profile = load_profile("a100-sxm-80gb-kernels")
    return deployment, profile, StepModel.for_deployment(deployment, profile)


def workload(requests: int, rate: float, prompt: str, output: str, seed: int = 0) -> Workload:
    return generate(requests, rate, parse_distribution(prompt), parse_distribution(output), seed=seed)


# --- the step model is the simulator's own per-op model ---


@pytest.mark.parametrize(
    ("model", "hardware", "tp", "pp", "profile"),
    [
        ("llama-3.1-8b", "a100-sxm-80gb", 1, 1, "a100-sxm-80gb-kernels"),
        ("llama-2-70b", "h100-sxm", 8, 1, "h100-sxm-kernels"),
        ("llama-2-7b", "a100-sxm-80gb", 2, 2, "megatron-a100-2022"),  # host overheads, per-token host work
        ("gemma-2-9b", "h100-sxm", 1, 1, "ideal"),  # sliding-window layers
        ("gpt3-1.3b", "h100-sxm", 1, 1, "derated"),  # learned positions, biases
        ("mixtral-8x7b", "h100-sxm", 2, 1, "h100-sxm-kernels"),  # MoE: experts touched grow with the tokens
    ],
)
def test_uniform_batch_steps_equal_simulate(model: str, hardware: str, tp: int, pp: int, profile: str) -> None:
    deployment = Deployment(load_model(model), load_hardware(hardware), tp=tp, pp=pp)
    chosen = load_profile(profile)
    steps = StepModel.for_deployment(deployment, chosen)
    for batch, prompt in [(1, 1), (1, 700), (8, 300), (32, 2000), (3, 6000)]:
        sim = simulate(deployment, chosen, batch, prompt, 2)  # one decode step, at context prompt + 1
        prefill = steps.step_seconds(0, 0.0, [(prompt, prompt)] * batch, batch)
        decode = steps.step_seconds(batch, batch * (prompt + 1.0), (), batch)
        assert prefill == pytest.approx(float(sim.ttft_s[0]), rel=1e-9)
        assert decode == pytest.approx(float(sim.tpot_s[0]), rel=1e-9)


def test_a_later_chunk_costs_more_attention_than_a_first_one() -> None:
    _, _, steps = small()
    first = steps.step_seconds(0, 0.0, [(2048, 2048)], 0)
    later = steps.step_seconds(0, 0.0, [(2048, 30000)], 0)  # same tokens, attending over a long prefix
    assert later > first


def test_only_a_requests_first_chunk_pays_the_first_pass_host_work() -> None:
    """`host.first_pass_per_layer_s` (a stack allocating each layer's KV cache in a request's first pass): a step
    with a whole prompt, or a prompt's first chunk, pays it in every layer; a later chunk or a decode step does not."""
    deployment = Deployment(load_model("llama-3.1-8b"), load_hardware("a100-sxm-80gb"))
    ideal = load_profile("ideal")
    base = StepModel.for_deployment(deployment, ideal)
    slow = StepModel.for_deployment(deployment, ideal.with_params({"host.first_pass_per_layer_s": 1e-3}))
    host_path = deployment.model.num_layers * 1e-3  # longer than the device's work here: it sets the step
    first, later, decode = ((0, 0.0, [(256, 256)], 1), (0, 0.0, [(256, 512)], 1), (4, 4 * 512.0, (), 4))
    assert base.step_seconds(*first) < host_path < slow.step_seconds(*first) < host_path + base.step_seconds(*first)
    # equal but for rounding: a profile with no host work at all takes the closed form (`StepModel._device_only`)
    assert slow.step_seconds(*later) == pytest.approx(base.step_seconds(*later), rel=1e-12)
    assert slow.step_seconds(*decode) == pytest.approx(base.step_seconds(*decode), rel=1e-12)


def test_mla_models_are_refused_in_one_line() -> None:
    deployment = Deployment(load_model("deepseek-v3"), load_hardware("h200-sxm"), tp=8, pp=2)
    with pytest.raises(UserError, match="multi-head latent attention"):
        StepModel.for_deployment(deployment, load_profile("ideal"))


# --- the event loop ---


def test_one_batch_at_time_zero_equals_estimate() -> None:
    deployment, profile, steps = small()
    batch, prompt, output = 8, 512, 64
    policy = load_engine("vllm", max_num_batched_tokens=batch * prompt)
    requests = Workload(np.zeros(batch), np.full(batch, prompt), np.full(batch, output), "batch")
    result = serve(deployment, profile, policy, requests, step_model=steps)  # type: ignore[arg-type]
    sim = simulate(deployment, profile, batch, prompt, output)  # type: ignore[arg-type]
    trace = result.traces[0]
    assert np.allclose(trace.first_token_s, sim.ttft_s[0], rtol=1e-12)
    assert np.allclose(trace.finish_s, sim.e2e_s[0], rtol=1e-4)
    assert result.record["tpot_s_p50"] == pytest.approx(float(sim.tpot_s[0]), rel=1e-4)
    assert result.record["itl_s_p50"] == pytest.approx(float(sim.tpot_s[0]), rel=0.01)  # gaps are decode steps
    assert result.record["mean_batch"] == pytest.approx(batch)
    assert result.record["preemptions"] == 0


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_littles_law(engine: str) -> None:
    deployment, profile, steps = small()
    requests = workload(1500, 6.0, "lognormal:300:0.6", "lognormal:150:0.6", seed=3)
    result = serve(deployment, profile, load_engine(engine), requests, step_model=steps)  # type: ignore[arg-type]
    trace, record = result.traces[0], result.record
    in_system = (np.asarray(trace.step_running) + np.asarray(trace.step_waiting)) * np.asarray(trace.step_duration_s)
    mean_in_system = float(np.sum(in_system)) / record["makespan_s"]  # idle time holds nobody
    assert mean_in_system == pytest.approx(record["requests_per_s"] * record["e2e_s_mean"], rel=0.03)


def test_below_saturation_throughput_is_the_arrival_rate() -> None:
    deployment, profile, steps = small()
    requests = workload(2000, 3.0, "const:400", "const:120", seed=1)
    result = serve(deployment, profile, load_engine("vllm"), requests, step_model=steps)  # type: ignore[arg-type]
    offered = (len(requests) - 1) / float(requests.arrival_s[-1] - requests.arrival_s[0])
    assert result.record["requests_per_s"] == pytest.approx(offered, rel=0.01)
    assert result.record["ttft_s_p99"] < 0.5  # no queue builds up


def test_above_saturation_the_queue_grows() -> None:
    deployment, profile, steps = small()
    requests = workload(3000, 200.0, "const:400", "const:120", seed=1)
    result = serve(deployment, profile, load_engine("vllm"), requests, step_model=steps)  # type: ignore[arg-type]
    record, trace = result.record, result.traces[0]
    assert record["requests_per_s"] < 0.5 * 200.0
    ttft = trace.first_token_s - requests.arrival_s
    assert np.mean(ttft[-300:]) > 5 * np.mean(ttft[:300])
    waiting = np.asarray(trace.step_waiting)
    start = np.asarray(trace.step_start_s)
    arrivals_end = requests.arrival_s[-1]
    early, late = waiting[start < arrivals_end / 3], waiting[(start > arrivals_end * 2 / 3) & (start < arrivals_end)]
    assert np.mean(late) > np.mean(early)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_memory_never_exceeds_the_usable_capacity(engine: str) -> None:
    deployment = Deployment(load_model("llama-2-13b"), load_hardware("a100-sxm-80gb"))
    profile = load_profile("a100-sxm-80gb-kernels")
    policy = load_engine(engine)
    requests = workload(400, math.inf, "uniform:1000:3000", "uniform:500:2000", seed=2)
    result = serve(deployment, profile, policy, requests)
    record, budget = result.record, result.budget
    device = budget.device_bytes
    usable = policy.memory_fraction * (
        device if policy.memory_fraction_of == "total" else device - budget.weights_bytes - budget.activation_bytes
    )
    usable += 0 if policy.memory_fraction_of == "total" else budget.weights_bytes + budget.activation_bytes
    assert record["max_memory_bytes_per_device"] <= usable * (1 + 1e-12) <= device
    assert record["max_kv_occupancy"] <= 1.0
    assert np.all(np.isfinite(np.concatenate([t.finish_s for t in result.traces])))  # everyone served
    if policy.reserve_full_output:
        assert record["preemptions"] == 0
    else:
        assert record["preemptions"] > 0  # the cache ran out: this workload exercises preemption
        assert record["max_kv_occupancy"] > 0.9


def test_kv_budget_follows_the_engine_rule() -> None:
    deployment, profile, _ = small()
    total = kv_budget(deployment, profile, load_engine("vllm"), 2048)  # type: ignore[arg-type]
    free = kv_budget(deployment, profile, load_engine("trtllm"), 2048)  # type: ignore[arg-type]
    memory = deployment.hardware.memory_bytes
    assert total.kv_bytes == pytest.approx(0.9 * memory - total.weights_bytes - total.activation_bytes)
    assert free.kv_bytes == pytest.approx(0.9 * (memory - free.weights_bytes - free.activation_bytes))
    # Llama-3.1-8B: 32 layers × 8 KV heads × 128 × 2 (K, V) × 2 bytes = 131,072 bytes per token
    assert total.kv_bytes_per_token == 131072


def test_chunked_prefill_splits_a_long_prompt_into_budget_sized_steps() -> None:
    deployment, profile, steps = small()
    requests = Workload(np.zeros(1), np.array([20000]), np.array([1]), "one long prompt")
    result = serve(deployment, profile, load_engine("sglang"), requests, step_model=steps)  # type: ignore[arg-type]
    assert result.record["steps"] == 3  # 8192 + 8192 + 3616
    whole = simulate(deployment, profile, 1, 20000, 1).ttft_s[0]  # type: ignore[arg-type]
    assert result.record["ttft_s_p50"] > whole  # the later chunks re-read the prefix's KV cache


def test_whole_prompts_longer_than_the_budget_are_refused() -> None:
    deployment, profile, steps = small()
    requests = Workload(np.zeros(1), np.array([9000]), np.array([4]), "long")
    with pytest.raises(UserError, match="max_num_batched_tokens"):
        serve(deployment, profile, load_engine("trtllm"), requests, step_model=steps)  # type: ignore[arg-type]


def test_deterministic_for_a_seed() -> None:
    inputs = ServeInputs(model="llama-3.1-8b", hardware="a100-sxm-80gb", requests=300, rate=5.0, seed=7)
    first, again = run_serve(inputs).record, run_serve(inputs).record
    other = run_serve(replace(inputs, seed=8)).record
    assert first == again
    assert first["ttft_s_p50"] != other["ttft_s_p50"]


def test_replicas_share_the_load() -> None:
    one = ServeInputs(
        model="llama-3.1-8b",
        hardware="a100-sxm-80gb",
        requests=3000,
        rate=100.0,
        prompt_dist="const:200",
        output_dist="const:200",
    )
    single, double = run_serve(one).record, run_serve(replace(one, replicas=2)).record
    assert double["devices"] == 2
    assert double["output_tokens_per_s"] > 1.5 * single["output_tokens_per_s"]  # 100 req/s saturates both


# --- presets, workloads, CLI ---


def test_every_engine_parameter_has_a_source() -> None:
    table = engine_table()
    assert set(engine_names()) == {"vllm", "sglang", "trtllm"}
    for name, entry in table.items():
        for key, value in entry.items():
            if key != "description":
                assert isinstance(value, dict) and str(value.get("source", "")).strip(), (name, key)
        load_engine(name)


def test_engine_overrides_and_unknown_names() -> None:
    assert load_engine("vllm", max_num_seqs=64, chunked_prefill=True).max_num_seqs == 64
    with pytest.raises(UserError, match="did you mean 'vllm'"):
        load_engine("vlm")
    with pytest.raises(UserError, match="block_size"):
        load_engine("vllm", block_size=0)


def test_poisson_workload_is_seeded_and_has_the_rate() -> None:
    a = workload(20000, 10.0, "lognormal:200:0.5", "const:50", seed=4)
    b = workload(20000, 10.0, "lognormal:200:0.5", "const:50", seed=4)
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert (len(a) - 1) / a.arrival_s[-1] == pytest.approx(10.0, rel=0.03)
    assert np.median(a.prompt_tokens) == pytest.approx(200, rel=0.03)
    assert np.all(workload(5, math.inf, "const:8", "const:8").arrival_s == 0)


def test_trace_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,100,10\n0.0,200,20\n")
    trace = read_trace(path)
    assert trace.arrival_s.tolist() == [0.0, 0.5] and trace.prompt_tokens.tolist() == [200, 100]
    path.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,x,10\n")
    with pytest.raises(UserError, match="trace.csv:2"):
        read_trace(path)


def test_cli_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["serve", "--model", "llama-3.1-8b", "--hardware", "a100-sxm-80gb", "--engine", "sglang", "--requests", "50",
         "--rate", "4", "--json", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    for name in (
        "output_tokens_per_s",
        "requests_per_s",
        "ttft_s_p50",
        "ttft_s_p99",
        "tpot_s_p50",
        "tpot_s_p99",
        "itl_s_p50",
        "e2e_s_p50",
        "mean_batch",
        "kv_occupancy",
    ):
        assert isinstance(record[name], float) and record[name] >= 0, name
    assert record["requests"] == 50 and record["engine"] == "sglang"


def test_cli_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "serve.png"
    args = ["serve", "--model", "llama-3.1-8b", "--hardware", "a100-sxm-80gb", "--requests", "40", "--rate", "2"]
    assert main([*args, "--no-progress", "--plot", str(png)]) == 0
    assert "time to first token" in capsys.readouterr().out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--model", "llama-3.1-8b", "--hardware", "a100-sxm-80gb", "--engine", "vlm"])
    assert code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "did you mean 'vllm'" in error


# --- serve under the planners, and the API ---


def test_capacity_reports_serve_next_to_the_closed_form() -> None:
    from idealrt.simulator.planner.capacity import SERVE_FIELDS, Targets, capacity_frame

    frame = capacity_frame(
        "llama-3.1-8b",
        ["a100-sxm-80gb"],
        10.0,
        parse_distribution("const:300"),
        parse_distribution("const:200"),
        Targets(ttft_p99_s=1.0, tpot_s=0.05),
        confirm_requests=600,
    )
    row = frame.iloc[0]
    assert all(name in frame.columns for name in SERVE_FIELDS)
    assert row["serve_engine"] == "vllm" and row["serve_meets_targets"]
    assert 0 < row["serve_ttft_p99_s"] <= 1.0 and 0 < row["serve_tpot_s"] <= 0.05
    # the fleet's output rate: 10 req/s × 200 tokens, less the tail of a finite run
    assert row["serve_output_tokens_per_s"] == pytest.approx(2000, rel=0.15)


def test_plan_throughput_per_dollar_at_an_slo() -> None:
    from idealrt.simulator.planner.plan import plan_frame

    frame = plan_frame(
        "llama-3.2-1b",
        ["h100-sxm"],
        256,
        64,
        objective="throughput-per-dollar",
        slo_ttft_p99_s=0.05,
        slo_tpot_s=0.003,
        max_devices=2,
        slo_requests=200,
    )
    per_usd = frame["slo_output_tokens_per_usd"].to_numpy()
    assert np.all(np.diff(per_usd) <= 0) and per_usd[0] > 0
    row = frame.iloc[0]
    price = load_hardware("h100-sxm").price_usd_per_hour
    assert row["slo_output_tokens_per_usd"] == pytest.approx(
        row["slo_output_tokens_per_s"] * 3600 / (row["devices"] * price)
    )
    assert row["slo_output_tokens_per_s"] == pytest.approx(64 * row["slo_max_rate_per_s"])
    # the bisection's answer: that rate meets the SLO, a third more does not
    from idealrt.simulator.serving.confirm import Slo, replica_record

    layout = Deployment(load_model("llama-3.2-1b"), load_hardware("h100-sxm"), tp=int(row["tp"]), pp=int(row["pp"]))
    profile, policy = load_profile(row["profile"]), load_engine("vllm")
    lengths = parse_distribution("const:256"), parse_distribution("const:64")
    slo = Slo(0.05, 0.003)
    rate = row["slo_max_rate_per_s"]
    assert slo.met(replica_record(layout, profile, policy, rate, *lengths, requests=200))
    assert not slo.met(replica_record(layout, profile, policy, 1.34 * rate, *lengths, requests=200))
    with pytest.raises(UserError, match="--slo-ttft-p99"):
        plan_frame("llama-3.2-1b", ["h100-sxm"], 256, 64, objective="throughput-per-dollar")


def test_api_serve_one_row_with_engine_overrides() -> None:
    from idealrt.simulator import api

    row = api.serve("llama-3.1-8b", "a100-sxm-80gb", requests=100, rate=5.0, max_num_seqs=8).iloc[0]
    assert row["engine_max_num_seqs"] == 8 and row["requests"] == 100
    with pytest.raises(UserError, match="unknown serve option"):
        api.serve("llama-3.1-8b", "a100-sxm-80gb", batch=3)


def test_a_request_larger_than_the_cache_is_refused() -> None:
    deployment, profile, steps = small()
    policy = load_engine("sglang")
    capacity = kv_budget(deployment, profile, policy, 8192).capacity_tokens  # type: ignore[arg-type]
    requests = Workload(np.zeros(1), np.array([1000]), np.array([capacity]), "too long")
    with pytest.raises(UserError, match="KV-cache tokens"):
        serve(deployment, profile, policy, requests, step_model=steps)  # type: ignore[arg-type]
