"""The whole calibration loop on the machine running the tests, as CI runs it: measure this CPU (quick mode, one
thread: a loaded machine deschedules the threads of a multi-threaded op, and every op then waits for the slowest),
fit a profile from the microbenchmarks only (kernels and eager framework calls), then predict the measured
end-to-end generation of three small transformers (MHA, GQA, MQA) at batch 1–8, prompt 64–512, output 8–16 — data
the fit never saw. Every timing compared is a median of repeated runs, and the goal is on predicted / measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main

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
    from calibration.store import read_e2e_records

    records = read_e2e_records(measured)
    points = {(r.model, r.batch, r.prompt_tokens, r.output_tokens) for r in records}
    assert len({model for model, *_ in points}) >= 3 and len(points) >= 12


def test_fit_then_predict_unseen_generation_timings(measured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = measured / "cpu-profile.json"
    assert main(["calibrate", "fit", "--data", str(measured), "--out", str(profile)]) == 0
    capsys.readouterr()
    assert main(["calibrate", "validate", "--sections", "cpu", "--cpu-data", str(measured), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    per_model = [row for row in rows if row["group"].endswith(" e2e") and row["group"] != "all models e2e"]
    assert len(per_model) >= 3
    (pooled,) = [row for row in rows if row["group"] == "all models e2e"]
    assert pooled["n"] >= 18
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
