"""`idealrt denoise`: the paper's denoised runtime fitted to measured runs (Narayanan et al., NeurIPS 2023)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import idealrt.simulator.cli as cli
from idealrt.simulator.errors import UserError
from idealrt.simulator.planner.denoise import fit_denoised

PROMPTS = (1, 64, 256, 1024)
OUTPUTS = (1, 2, 4, 8, 16, 32, 64)
BETA, OVERHEAD, PER_PROMPT_TOKEN = 0.04, 0.25, 2e-4


def true_denoised_alpha(prompt: np.ndarray) -> np.ndarray:
    """α'_p of the synthetic API: the shortest prompt costs one decode step (the paper's premise), longer prompts
    2e-4 s per extra token."""
    return BETA + PER_PROMPT_TOKEN * (prompt - 1)


def synthetic_runs(repeats: int, noise_s: float, seed: int = 8) -> pd.DataFrame:
    prompt, output = (grid.ravel() for grid in np.meshgrid(PROMPTS, OUTPUTS, indexing="ij"))
    prompt, output = np.repeat(prompt, repeats), np.repeat(output, repeats)
    seconds = OVERHEAD + true_denoised_alpha(prompt) + BETA * (output - 1)
    seconds = seconds + np.random.default_rng(seed).normal(0, noise_s, seconds.size)
    return pd.DataFrame({"prompt_tokens": prompt, "output_tokens": output, "seconds": seconds})


def fit(runs: pd.DataFrame):  # type: ignore[no-untyped-def]
    return fit_denoised(runs["prompt_tokens"], runs["output_tokens"], runs["seconds"])


def test_noiseless_runs_give_back_the_known_answer() -> None:
    fitted = fit(synthetic_runs(repeats=1, noise_s=0.0))
    assert fitted.beta_s == pytest.approx(BETA, rel=1e-12)
    assert fitted.overhead_s == pytest.approx(OVERHEAD, rel=1e-12)
    np.testing.assert_allclose(fitted.denoised_alpha_s, true_denoised_alpha(np.asarray(PROMPTS, float)), rtol=1e-10)
    np.testing.assert_allclose(fitted.slopes_s, BETA, rtol=1e-12)
    assert fitted.runtime(256, 10) == pytest.approx(OVERHEAD + true_denoised_alpha(256) + 9 * BETA)
    assert fitted.residual_rms_s == pytest.approx(0, abs=1e-12)


def test_noisy_runs_recover_the_answer_within_its_standard_error() -> None:
    """σ = 10 ms on 140 runs: β's standard error is σ / √Σ(o − ō_p)² = 40 µs, the overhead's about 2 ms."""
    runs = synthetic_runs(repeats=5, noise_s=0.010)
    fitted = fit(runs)
    centered = runs["output_tokens"] - runs.groupby("prompt_tokens")["output_tokens"].transform("mean")
    beta_standard_error = 0.010 / np.sqrt(np.sum(centered**2))
    assert abs(fitted.beta_s - BETA) < 5 * beta_standard_error
    assert abs(fitted.overhead_s - OVERHEAD) < 0.008
    np.testing.assert_allclose(fitted.denoised_alpha_s, true_denoised_alpha(np.asarray(PROMPTS, float)), atol=0.008)
    assert fitted.residual_rms_s == pytest.approx(0.010, rel=0.2)


def test_the_pooled_slope_is_least_squares_with_one_intercept_per_prompt_size() -> None:
    """Checked against an independent solve: numpy's lstsq on the design [one-hot(prompt size), o]."""
    runs = synthetic_runs(repeats=3, noise_s=0.02, seed=3)
    fitted = fit(runs)
    design = np.column_stack(
        [(runs["prompt_tokens"] == p).to_numpy(float) for p in PROMPTS] + [runs["output_tokens"].to_numpy(float)]
    )
    solution, *_ = np.linalg.lstsq(design, runs["seconds"].to_numpy(), rcond=None)
    intercepts, beta = solution[:-1], solution[-1]
    assert fitted.beta_s == pytest.approx(beta, rel=1e-9)
    np.testing.assert_allclose(fitted.alpha_s, intercepts + beta, rtol=1e-9)  # α_p: the line at o = 1
    assert fitted.overhead_s == pytest.approx(intercepts[0], rel=1e-9)  # α_{p_min} − β
    for size, slope in zip(PROMPTS, fitted.slopes_s, strict=True):
        group = runs[runs["prompt_tokens"] == size]
        assert slope == pytest.approx(np.polyfit(group["output_tokens"], group["seconds"], 1)[0], rel=1e-9)


def test_a_prompt_size_with_one_output_length_cannot_give_a_slope() -> None:
    with pytest.raises(UserError, match="prompt size 64: runs at one output length only"):
        fit_denoised(np.array([1, 1, 64, 64]), np.array([1, 8, 4, 4]), np.ones(4))


# --- the command ---------------------------------------------------------------------------------------------


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    return cli.main(args)


@pytest.fixture
def runs_file(tmp_path: Path) -> Path:
    path = tmp_path / "runs.csv"
    synthetic_runs(repeats=2, noise_s=0.005).assign(api="x").to_csv(path, index=False)
    return path


def test_json_has_the_stable_fields_and_the_idealized_runtime_beside(
    runs_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["denoise", "--runs", str(runs_file), "--model", "gpt-j-6b", "--profile", "ideal", "--json"]
    assert run_cli(args, monkeypatch) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["runs"] == 56 and record["prompt_tokens"] == list(PROMPTS)
    sizes = [str(p) for p in PROMPTS]
    for field in ("alpha_s", "denoised_alpha_s", "slope_by_prompt_s", "runs_by_prompt"):
        assert list(record[field]) == sizes, field
    assert record["beta_s"] == pytest.approx(BETA, rel=0.01)
    assert record["overhead_s"] == pytest.approx(OVERHEAD, abs=0.01)
    ideal = record["idealized"]
    assert (ideal["model"], ideal["hardware"], ideal["profile"], ideal["n_accelerators"]) == (
        "gpt-j-6b",
        "a100-sxm-80gb",
        "ideal",
        1,
    )
    assert list(ideal["alpha_s"]) == sizes and 0 < ideal["alpha_s"]["1"] < ideal["alpha_s"]["1024"]
    assert 0 < ideal["beta_s"] < record["beta_s"]  # a 6B model's ideal decode step is far below 40 ms


def test_table_without_a_model(runs_file: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(["denoise", "--runs", str(runs_file)], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "Denoised runtime from 56 runs" in out and "overhead" in out and "idealized" not in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "runs file not found"),
        ("prompt_tokens,output_tokens\n1,2\n", r"missing column\(s\) seconds"),
        ("prompt_tokens,output_tokens,seconds\n1,1,0.1\n1,x,0.2\n", r"runs.csv:3: output_tokens 'x' is not a number"),
        ("prompt_tokens,output_tokens,seconds\n1,1,0.1\n1,2,-0.2\n", r"runs.csv:3: seconds must be > 0"),
        ("prompt_tokens,output_tokens,seconds\n0,1,0.1\n", r"runs.csv:2: prompt_tokens must be a whole number ≥ 1"),
        ("prompt_tokens,output_tokens,seconds\n1,1,0.1\n1,1,0.2\n", "runs at one output length only"),
        ("prompt_tokens,output_tokens,seconds\n", "no runs"),
        ("", "not a readable CSV"),
    ],
)
def test_bad_files_are_one_line_errors(
    content: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "runs.csv"
    if content is not None:
        path.write_text(content)
    assert run_cli(["denoise", "--runs", str(path)], monkeypatch) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert re.search(message, captured.err), captured.err


def test_a_model_outside_the_paper_is_idealized_on_the_fewest_devices(
    runs_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["denoise", "--runs", str(runs_file), "--model", "gpt3-125m", "--profile", "ideal"]
    assert run_cli(args, monkeypatch) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "idealized: gpt3-125m on 1 × a100-sxm-80gb" in out and "not a model of the paper" in out
    assert run_cli([*args[:-2], "--model", "no-such-model"], monkeypatch) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
