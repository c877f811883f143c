"""The whole calibration loop on the machine running the tests, as CI runs it: measure this CPU (quick mode),
fit a profile from the microbenchmarks only, then predict the measured end-to-end generation of three small
transformers at several (batch, prompt, output) points — data the fit never saw."""

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
    assert main(["calibrate", "measure", "--device", "cpu", "--quick", "--out", str(out)]) == 0
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
    end_to_end = [row for row in rows if row["group"].endswith(" e2e")]
    assert len(end_to_end) >= 3
    for row in end_to_end:
        # A sanity bound, not the accuracy goal (that is reported, see README): a broken loop is off by far more.
        assert row["median_abs_error"] < 1.0, row


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
