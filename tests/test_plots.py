"""Figures are written as PNG files, and the ideal → calibrated parts add up to the calibrated time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import deployment

import idealrt.simulator.cli as cli
from idealrt.simulator.planner.breakdown import PARTS, ideal_to_calibrated
from idealrt.simulator.planner.idealized import decompose
from idealrt.simulator.plots.alpha_curves import plot_alpha_curves
from idealrt.simulator.plots.ideal_to_calibrated import plot_ideal_to_calibrated
from idealrt.simulator.plots.roofline import compute_roofs, placed_ops, plot_roofline
from idealrt.simulator.plots.time_breakdown import phase_times_by_class, plot_time_breakdown
from idealrt.simulator.profile import IDEAL
from idealrt.simulator.simulation import simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CALIBRATED = IDEAL.model_copy(update={"name": "synthetic", "kind": "fitted"}).with_params(
    {
        "gemm.peak_fraction": 0.6,
        "gemm.m_half": 32.0,
        "gemm.kernel_latency_s": 4e-6,
        "attention.prefill_peak_fraction": 0.5,
        "attention.decode_bandwidth_fraction": 0.7,
        "attention.kernel_latency_s": 5e-6,
        "elementwise.bandwidth_fraction": 0.8,
        "elementwise.kernel_latency_s": 3e-6,
        "collective.latency_s": 2e-5,
        "collective.bandwidth_fraction": 0.7,
        "host.launch_s": 6e-6,
        "host.per_layer_s": 1e-5,
        "host.per_step_s": 1e-4,
    }
)


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_roofline_time_and_alpha_plots_are_pngs(tmp_path: Path) -> None:
    sim = simulate(deployment("llama-3.1-8b", tp=2), CALIBRATED, 1, 512, 64)
    assert_png(plot_roofline(sim, tmp_path / "roofline.png"))
    assert_png(plot_time_breakdown(sim, tmp_path / "time.png"))
    runtimes = [decompose(deployment(model, "a100-sxm-80gb"), IDEAL) for model in ("gpt3-125m", "gpt3-350m")]
    assert_png(plot_alpha_curves(runtimes, tmp_path / "nested" / "alpha.png"))


def test_ideal_to_calibrated_plot_is_a_png(tmp_path: Path) -> None:
    parts = ideal_to_calibrated(deployment("llama-3.1-8b", tp=2), CALIBRATED, 1, 512, 64)
    assert_png(plot_ideal_to_calibrated(parts, tmp_path / "parts.png", "llama-3.1-8b"))


@pytest.mark.parametrize(
    ("model", "layout"), [("llama-3.1-8b", {"tp": 2}), ("llama-3.1-70b", {"tp": 4, "pp": 2}), ("gpt3-125m", {})]
)
def test_breakdown_parts_add_up_to_the_calibrated_time(model: str, layout: dict[str, int]) -> None:
    d = deployment(model, **layout)
    parts = ideal_to_calibrated(d, CALIBRATED, 2, 700, 33)
    sim = simulate(d, CALIBRATED, 2, 700, 33)
    assert list(parts.index) == list(PARTS)
    assert parts["e2e_s"].sum() == pytest.approx(float(sim.e2e_s[0]), rel=1e-12)
    assert parts["prefill_s"].sum() == pytest.approx(float(sim.ttft_s[0]), rel=1e-12)
    assert parts["decode_s"].sum() == pytest.approx(float(sim.decode_s[0]), rel=1e-12)
    assert parts["share"].sum() == pytest.approx(1.0)
    assert (parts.loc[["roofline", "launch_host_overhead"], "e2e_s"] > 0).all()
    assert parts.loc["kernel_inefficiency", "e2e_s"] > 0  # every efficiency of the profile is below 1


def test_under_the_ideal_profile_only_roofline_and_communication_remain() -> None:
    parts = ideal_to_calibrated(deployment("llama-3.1-8b", tp=2), IDEAL, 1, 256, 16)
    assert parts.loc["kernel_inefficiency", "e2e_s"] == pytest.approx(0, abs=1e-15)
    assert parts.loc["launch_host_overhead", "e2e_s"] == pytest.approx(0, abs=1e-15)
    assert parts.loc["communication", "e2e_s"] > 0


def test_time_by_op_class_adds_up_to_each_phase() -> None:
    sim = simulate(deployment("llama-3.1-8b", tp=2), CALIBRATED, 1, 512, 64)
    times = phase_times_by_class(sim)
    assert sum(times["prefill"].values()) == pytest.approx(float(sim.ttft_s[0]), rel=1e-12)
    assert sum(times["decode"].values()) == pytest.approx(float(sim.decode_s[0]), rel=1e-12)


def test_under_the_ideal_profile_ops_sit_on_the_roofline() -> None:
    sim = simulate(deployment("llama-3.1-8b"), IDEAL, 1, 512, 64)
    bandwidth = sim.deployment.hardware.hbm_bytes_per_s
    top = max(compute_roofs(sim).values())
    for op in placed_ops(sim):
        on_bandwidth = float(op["arithmetic_intensity"]) * bandwidth  # type: ignore[arg-type]
        assert op["attained_flops_per_s"] <= min(top, on_bandwidth) * (1 + 1e-9), op["name"]
        if op["bound"] == "memory":
            assert op["attained_flops_per_s"] == pytest.approx(on_bandwidth)


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])  # plugins are not under test here
    return cli.main(args)


def test_estimate_plot_writes_the_figures_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "llama.png"
    code = run_cli(
        [
            "estimate",
            "--model",
            "llama-3.1-8b",
            "--hardware",
            "h100-sxm",
            "--prompt",
            "256",
            "--output",
            "16",
            "--profile",
            "ideal",
            "--plot",
            str(target),
            "--breakdown",
        ],
        monkeypatch,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "nothing to break down" in out
    for path in (target, tmp_path / "llama_time.png"):
        assert f"wrote {path}" in out
        assert_png(path)
    assert not (tmp_path / "llama_ideal_to_calibrated.png").exists()


def test_estimate_breakdown_in_json_adds_the_parts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    profile = tmp_path / "synthetic.json"
    profile.write_text(CALIBRATED.model_dump_json())
    code = run_cli(
        [
            "estimate",
            "--model",
            "llama-3.1-8b",
            "--hardware",
            "h100-sxm",
            "--tp",
            "2",
            "--prompt",
            "256",
            "--output",
            "16",
            "--profile",
            str(profile),
            "--breakdown",
            "--json",
        ],
        monkeypatch,
    )
    record = json.loads(capsys.readouterr().out)
    assert code == 0
    parts = record["ideal_to_calibrated"]
    assert list(parts) == list(PARTS)
    assert sum(part["e2e_s"] for part in parts.values()) == pytest.approx(record["e2e_s"], rel=1e-12)


def test_plotting_is_not_imported_at_cli_start_up() -> None:
    code = (
        "import sys, simulator.cli as c; c.entry_points = lambda group: []; c.build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'idealrt.simulator.plots'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
