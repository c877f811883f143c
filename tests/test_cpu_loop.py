"""The whole calibration loop on the machine running the tests, as CI runs it: measure this CPU (quick mode, one
thread: a loaded machine deschedules the threads of a multi-threaded op, and every op then waits for the slowest),
fit a profile from the microbenchmarks only (kernels and eager framework calls), then predict the measured
end-to-end generation of three small transformers (MHA, GQA, MQA) at batch 1–8, prompt 64–512, output 8–16 — data
the fit never saw. Every timing compared is a median of repeated runs, and the goal is on predicted / measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idealrt.simulator.cli import main

pytest.importorskip("torch")
pytest.importorskip("jax")


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cpu") / "measured"
    assert main(["calibrate", "measure", "--device", "cpu", "--quick", "--threads", "1", "--out", str(out)]) == 0
    return out


def test_measure_writes_a_data_directory_the_simulator_can_use(measured: Path) -> None:
    assert (measured / "hardware.yaml").exists() and (measured / "provenance.json").exists()
    assert len(list((measured / "models").glob("*.yaml"))) >= 3
    from idealrt.calibration.store import read_e2e_records

    records = read_e2e_records(measured)
    points = {(r.model, r.batch, r.prompt_tokens, r.output_tokens) for r in records}
    assert len({model for model, *_ in points}) >= 3 and len(points) >= 12


def _pooled_end_to_end(rows: list[dict]) -> dict:
    (pooled,) = [row for row in rows if row["group"] == "all models e2e"]
    return pooled


@pytest.fixture(scope="module")
def validated(measured: Path) -> list[dict]:
    """`calibrate fit` then `calibrate validate --sections cpu --json` on the measured directory."""
    import contextlib
    import io

    profile = measured / "cpu-profile.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["calibrate", "fit", "--data", str(measured), "--out", str(profile)]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["calibrate", "validate", "--sections", "cpu", "--cpu-data", str(measured), "--json"]) == 0
    return json.loads(out.getvalue())


def test_fit_then_predict_unseen_generation_timings(validated: list[dict]) -> None:
    per_model = [row for row in validated if row["group"].endswith(" e2e") and row["group"] != "all models e2e"]
    assert len(per_model) >= 3
    pooled = _pooled_end_to_end(validated)
    assert pooled["n"] >= 18
    # A sanity bound: a broken loop (wrong counts, units, a missing framework charge) is off by far more.
    assert pooled["median_abs_error"] < 1.0, pooled


@pytest.mark.xfail(
    reason="goal of issue 8 not met in every run: on 2026-12-04 (2 cores, shared VM) the final harness gave pooled "
    "e2e median 7.7 / 8.8 / 9.6 % (max 24.6 / 18.4 / 20.3 %) in calibrate validate, and this test passed 3 of 3 "
    "runs alone but 2 of 5 inside the whole suite; the same day's earlier code gave 7.9-14.8 % (max 20.5-37.0 %). "
    "A cold GEMM timed once a second drifts by up to 1.7x within a minute on this machine, and decode is still "
    "predicted 6-17 % too fast (README, accuracy section)",
    strict=False,
)
def test_unseen_generation_meets_the_accuracy_goal(validated: list[dict]) -> None:
    pooled = _pooled_end_to_end(validated)
    assert pooled["median_abs_error"] <= 0.10, pooled
    assert pooled["max_abs_error"] <= 0.25, pooled


def test_the_fitted_profile_and_measured_hardware_drive_estimate(
    measured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = measured / "cpu-profile.json"
    if not profile.exists():
        assert main(["calibrate", "fit", "--data", str(measured), "--out", str(profile)]) == 0
    model = sorted((measured / "models").glob("*.yaml"))[0]
    capsys.readouterr()
    code = main(
        [
            "estimate",
            "--model",
            str(model),
            "--hardware",
            str(measured / "hardware.yaml"),
            "--weights-dtype",
            "fp32",
            "--prompt",
            "64",
            "--output",
            "8",
            "--profile",
            str(profile),
            "--json",
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["e2e_s_low"] <= record["e2e_s"] <= record["e2e_s_high"]


def test_gemm_microbenchmarks_read_weights_a_decode_step_finds_out_of_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode step reads each weight once and a model larger than the last-level cache streams it from DRAM, so
    the CPU sweep must not time a GEMM whose weight the previous call left cached: it cycles through copies of
    the weight spanning more than the cache."""
    import torch

    from idealrt.calibration.harness import microbench
    from idealrt.calibration.harness.grids import sweep_plan

    cache_bytes = 32 * 2**20
    plan = sweep_plan("cpu", quick=True, last_level_cache_bytes=cache_bytes)
    assert plan.cold_bytes >= cache_bytes
    weights_read: list[torch.Tensor] = []
    linear = microbench.F.linear
    monkeypatch.setattr(microbench.F, "linear", lambda x, w: weights_read.append(w) or linear(x, w))
    case = microbench.GemmCase(1, 512, 512, "fp32")
    gemm = microbench._gemm_callable(case, torch.device("cpu"), plan.cold_bytes)
    weight_bytes = 512 * 512 * 4
    calls = plan.cold_bytes // weight_bytes + 1
    for _ in range(calls):
        gemm()
    distinct = {w.data_ptr() for w in weights_read}
    assert len(distinct) == calls  # no call finds the weight of a recent call
    assert len(distinct) * weight_bytes > cache_bytes
