"""The torch measurement harness: timer, sweeps, the spec-built transformer, generation, and what `measure` writes."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import BaseModel

torch = pytest.importorskip("torch")

from idealrt.calibration.cli import register  # noqa: E402
from idealrt.calibration.harness import run as harness_run  # noqa: E402
from idealrt.calibration.harness.endtoend import benchmark_models  # noqa: E402
from idealrt.calibration.harness.grids import SweepPlan, sweep_plan  # noqa: E402
from idealrt.calibration.harness.microbench import elementwise_counts, gemm_cases, gemm_sweep  # noqa: E402
from idealrt.calibration.harness.model import build_transformer, generate, parameter_count  # noqa: E402
from idealrt.calibration.harness.system import VECTOR_BYTES  # noqa: E402
from idealrt.calibration.harness.timing import TimingPolicy, time_op  # noqa: E402
from idealrt.calibration.records import OpMeasurement  # noqa: E402
from idealrt.calibration.store import read_e2e_records, read_op_records, read_provenance  # noqa: E402
from idealrt.simulator.errors import UserError  # noqa: E402
from idealrt.simulator.hardware import load_hardware  # noqa: E402
from idealrt.simulator.model.catalog import load_model  # noqa: E402
from idealrt.simulator.model.spec import ModelSpec  # noqa: E402
from idealrt.simulator.parameters import parameter_counts  # noqa: E402

CPU = torch.device("cpu")
FAST = TimingPolicy(budget_s=0.01, warmups=2, min_repeats=5, max_repeats=50)


def tiny_spec(**overrides: object) -> ModelSpec:
    fields: dict[str, object] = dict(
        id="tiny",
        name="tiny",
        source="test",
        num_layers=2,
        hidden_size=32,
        num_heads=4,
        num_kv_heads=2,
        ffn_dim=64,
        mlp="swiglu",
        norm="rmsnorm",
        position="rotary",
        vocab_size=97,
        max_context=64,
        tied_embeddings=False,
    )
    return ModelSpec.model_validate(fields | overrides)


def tiny_plan(device_kind: str, quick: bool, cache: float | None) -> SweepPlan:
    plan = sweep_plan(device_kind, quick, cache)
    return replace(
        plan,
        policy=FAST,
        gemm_shapes=((1, 64, 64), (8, 4095, 32)),
        bandwidth_bytes=(64 * 1024, 256 * 1024),
        attention=plan.attention[:1] + plan.attention[-1:],
        elementwise_shapes=((4, 128),),
        e2e_points=((1, 4, 3),),
        e2e_policy=TimingPolicy(budget_s=0.0, warmups=1, min_repeats=2, max_repeats=2),
    )


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, harness_run.MeasureSummary]:
    out = tmp_path_factory.mktemp("measure")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness_run, "sweep_plan", tiny_plan)
        summary = harness_run.measure("cpu", out, quick=True, threads=1)
    return out, summary


def test_timer_returns_sane_statistics() -> None:
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    stats = time_op(lambda: a @ b, CPU, FAST)
    assert FAST.min_repeats <= stats.count <= FAST.max_repeats
    assert 0 < stats.min_s <= stats.median_s < 1.0  # loose: other processes may share the cores
    assert stats.std_s >= 0


def test_gemm_sweep_yields_valid_records() -> None:
    plan = replace(tiny_plan("cpu", True, None), gemm_dtypes=("fp32", "bf16"))
    cases, skipped = gemm_cases(plan, CPU)
    assert len(cases) == 4 and not skipped
    records = list(gemm_sweep(cases, CPU, FAST, "test-gemm"))
    assert {(r.m, r.n, r.k, r.dtype) for r in records} == {(c.m, c.n, c.k, c.dtype) for c in cases}
    assert all(r.op == "gemm" and r.time_s > 0 and r.repeats and r.repeats >= 5 for r in records)


def test_fp8_is_skipped_with_a_reason_on_cpu() -> None:
    plan = replace(tiny_plan("cpu", True, None), gemm_dtypes=("fp32", "fp8"))
    cases, skipped = gemm_cases(plan, CPU)
    assert {c.dtype for c in cases} == {"fp32"}
    assert skipped and "CUDA" in skipped[0]


def test_elementwise_counts_follow_the_simulator_formulas() -> None:
    assert elementwise_counts("add", 2, 8, "fp32") == (3 * 16 * 4, 16)
    assert elementwise_counts("copy", 1, 100, "bf16") == (400, 0)
    # RMSNorm: read x and the weight, write y; 4 vector ops per element
    assert elementwise_counts("rmsnorm", 2, 8, "fp32") == (16 * 4 + 8 * 4 + 16 * 4, 4 * 16)


@pytest.mark.parametrize("spec", benchmark_models("cpu") + benchmark_models("cuda"), ids=lambda s: s.id)
def test_benchmark_models_build_on_meta_with_the_simulators_parameter_count(spec: ModelSpec) -> None:
    model = build_transformer(spec, "meta", torch.bfloat16)
    assert all(p.is_meta for p in model.parameters())
    assert parameter_count(model) == parameter_counts(spec).total == spec.published_params
    logits = model(torch.zeros(2, 5, dtype=torch.long, device="meta"))
    assert logits.shape == (2, spec.vocab_size)


def test_unsupported_architectures_raise_user_errors() -> None:
    moe = tiny_spec(moe={"num_experts": 4, "top_k": 2, "expert_ffn_dim": 16})
    with pytest.raises(UserError, match="MoE"):
        build_transformer(moe, "meta", torch.float32)
    mla = tiny_spec(
        num_kv_heads=None, mla={"kv_lora_rank": 8, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8}
    )
    with pytest.raises(UserError, match="MLA"):
        build_transformer(mla, "meta", torch.float32)


def test_generate_returns_ttft_decode_steps_and_tokens() -> None:
    model = build_transformer(tiny_spec(), CPU, torch.float32)
    result = generate(model, batch=3, prompt_tokens=5, output_tokens=4)
    assert result.tokens.shape == (3, 4)
    assert result.ttft_s > 0 and len(result.decode_step_s) == 3 and min(result.decode_step_s) > 0
    assert len(generate(model, 1, 5, 1).decode_step_s) == 0


VARIANTS = {
    "gqa-rotary-swiglu": {},
    "mha-learned-gelu-biases-tied": dict(
        num_kv_heads=None,
        mlp="gelu",
        norm="layernorm",
        position="learned",
        tied_embeddings=True,
        qkv_bias=True,
        attn_out_bias=True,
        mlp_bias=True,
        lm_head_bias=True,
    ),
    "mqa-parallel-shared-norm": dict(num_kv_heads=1, parallel_attention_mlp=True, norms_per_layer=1, mlp="relu"),
    "sliding-window-sandwich-geglu": dict(sliding_window=3, layer_pattern="LG", norms_per_layer=4, mlp="geglu"),
    "alibi-embedding-norm": dict(position="alibi", num_heads=6, num_kv_heads=3, head_dim=8, embedding_norm=True),
}


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_kv_cache_decode_matches_full_recomputation(overrides: dict[str, object]) -> None:
    model = build_transformer(tiny_spec(**overrides), CPU, torch.float32, seed=3)
    prompt = torch.randint(0, 97, (2, 6), generator=torch.Generator().manual_seed(1))
    cached = generate(model, 2, 6, 6, prompt=prompt).tokens
    sequence = prompt
    with torch.inference_mode():
        for step in range(6):
            token = model(sequence).argmax(dim=-1)  # no cache: the whole sequence again
            assert torch.equal(token, cached[:, step]), f"step {step}"
            sequence = torch.cat([sequence, token[:, None]], dim=1)


def test_measure_writes_a_loadable_data_directory(measured: tuple[Path, harness_run.MeasureSummary]) -> None:
    out, summary = measured
    provenance = read_provenance(out)
    assert list(provenance) == [summary.dataset]
    assert provenance[summary.dataset].citation.startswith("idealrt calibrate measure --device cpu --quick")
    assert "threads 1" in provenance[summary.dataset].software
    ops = read_op_records(out, summary.dataset)
    e2e = read_e2e_records(out, summary.dataset)
    assert [r.model_dump() for r in ops] == [_as_written(r) for r in summary.op_records]
    assert [r.model_dump() for r in e2e] == [_as_written(r) for r in summary.e2e_records]
    assert {r.op for r in ops} == {"gemm", "elementwise", "attention_prefill", "attention_decode", "framework"}
    assert {r.metric for r in e2e} == {"e2e", "ttft", "tpot"}
    visits = sweep_plan("cpu", True, None).e2e_visits
    assert visits > 1 and all(r.repeats == 2 * visits for r in e2e)  # every visit's two requests, one median
    assert len(e2e) == 3 * len(benchmark_models("cpu"))  # one record per point and metric, not per visit
    for model_id in {r.model for r in e2e}:
        assert load_model(str(out / "models" / f"{model_id}.yaml")).id == model_id
    assert any("all-reduce" in reason for reason in summary.skipped)


def _as_written(record: BaseModel) -> dict[str, object]:
    """The record's fields, floats compared to the CSV's 6 significant digits."""
    return {
        key: pytest.approx(value, rel=1e-5) if isinstance(value, float) else value
        for key, value in record.model_dump().items()
    }


def test_measured_hardware_spec_loads(measured: tuple[Path, harness_run.MeasureSummary]) -> None:
    out, summary = measured
    spec = load_hardware(str(out / "hardware.yaml"))
    assert spec.kind == "cpu" and spec.devices_per_node == 1
    assert set(spec.peak_tflops) == {"fp32", "bf16"} and spec.hbm_bandwidth_gb_s > 0
    assert "measured by idealrt calibrate measure" in spec.sources["peak_tflops"]
    best_fp32 = max(
        2 * r.m * r.n * r.k / r.time_s
        for r in summary.op_records
        if r.op == "gemm" and r.dtype == "fp32" and r.m and r.n and r.k
    )
    assert spec.peak_tflops["fp32"] == pytest.approx(best_fp32 / 1e12, rel=1e-4)
    capability = torch.backends.cpu.get_cpu_capability()
    assert spec.vector_alignment_bytes == VECTOR_BYTES.get(capability)  # the SIMD level torch's kernels run at
    if spec.vector_alignment_bytes is not None:
        assert capability in spec.sources["vector_alignment_bytes"]
    if spec.l2_mb is not None:  # the tiny plan's copies all fit in half the last-level cache
        assert spec.cache_bandwidth_gb_s is not None
        assert "half the last-level cache" in spec.sources["cache_bandwidth_gb_s"]


def test_records_reject_what_the_schema_forbids() -> None:
    with pytest.raises(ValueError):
        OpMeasurement(dataset="d", op="gemm", dtype="fp32", m=1, n=1, time_s=1.0)


def test_cli_registers_calibrate_measure() -> None:
    parser = argparse.ArgumentParser(prog="idealrt")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["calibrate", "measure", "--device", "cuda", "--out", "out", "--threads", "2"])
    assert (args.device, args.out, args.quick, args.threads) == ("cuda", Path("out"), False, 2)
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device visible"):
            args.handler(args)


def test_the_cache_rate_comes_from_copies_that_fit_in_half_the_last_level_cache() -> None:
    from idealrt.calibration.harness.hardware import measured_cache_bandwidth_gb_s

    def copy(moved: float, seconds: float) -> OpMeasurement:
        return OpMeasurement(
            dataset="d", op="elementwise", name="copy", dtype="fp32", bytes_moved=moved, time_s=seconds
        )

    records = [copy(2e6, 4e-5), copy(8e6, 1.6e-4), copy(3.2e7, 1.6e-3), copy(5.4e8, 3.6e-2)]
    assert measured_cache_bandwidth_gb_s(records, 32e6) == pytest.approx(50.0)  # 2e6 B in 40 µs; 8e6 in 160 µs
    assert measured_cache_bandwidth_gb_s(records, None) is None


def test_cpu_elementwise_shapes_stay_below_glibcs_mmap_ceiling() -> None:
    from idealrt.calibration.harness.grids import GLIBC_MMAP_CEILING

    for quick in (True, False):
        shapes = sweep_plan("cpu", quick, 32e6).elementwise_shapes
        assert shapes and all(rows * width * 4 < GLIBC_MMAP_CEILING for rows, width in shapes)
        assert any(rows * width * 4 >= GLIBC_MMAP_CEILING / 8 for rows, width in shapes)  # 4 MiB: beyond L2


def test_a_cpu_fit_frees_the_fixed_cost_of_each_eager_kind_it_timed_and_no_other(
    measured: tuple[Path, harness_run.MeasureSummary],
) -> None:
    from idealrt.calibration.fit.coverage import constants_with_data

    out, summary = measured
    records = [r for r in summary.op_records if r.op == "elementwise"]
    free = constants_with_data("elementwise", records, read_provenance(out), out)
    timed = {f"elementwise.{kind}_extra_s" for kind in ("rmsnorm", "layernorm", "rotary", "gelu", "swiglu")}
    assert timed <= set(free)
    assert "elementwise.relu_extra_s" not in free and "elementwise.geglu_extra_s" not in free  # never timed


def test_interleaved_timing_times_each_call_in_turn_within_the_policys_bounds() -> None:
    from idealrt.calibration.harness.timing import time_interleaved

    order: list[str] = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    policy = TimingPolicy(budget_s=0.0, warmups=2, min_repeats=4, max_repeats=10)
    stats = time_interleaved(calls, torch.device("cpu"), policy)
    assert set(stats) == {"a", "b", "c"} and all(s.count == 4 and s.median_s >= 0 for s in stats.values())
    assert order == ["a", "b", "c"] * 6  # two warm-up rounds, then four timed ones, never two of one call in a row
