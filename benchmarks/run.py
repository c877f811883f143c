"""`make bench`: how fast idealrt answers, measured as a user meets it (whole processes, start-up included), side
by side with llm-analysis 0.2.2 on the same machine in the same run.

Figures (medians of repeated runs; wall clock on this machine, so other load shows):
- `idealrt --help` and one `idealrt estimate` process;
- `idealrt predict` over 100,000 mixed cases (8 deployments; batch 1–256, prompt 1–32k, output 1–4k), process
  start and CSV in and out included, and the same per estimate against llm-analysis's `infer`;
- streaming: `idealrt predict` over 1,000,000 cases (`--large`: 10,000,000), with the process's peak resident memory;
- plan and capacity: (layout, batch) candidates evaluated per second (memory of every batch of every layout as
  `plan` sizes batches; the decode step of every batch of every layout as `capacity` does);
- serve: 10,000 requests (`benchmarks/serve.py`).

llm-analysis runs in its own virtual environment (`.venv-peers/`, created by `make bench-peers`); without it the
bench says so and reports idealrt's figures alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
IDEALRT = [sys.executable, "-m", "idealrt.simulator.cli"]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
SWEEP_SIZE = 100_000
DEPLOYMENTS = [
    ("llama-3.1-8b", "h100-sxm", 1, "bf16"),
    ("llama-3.1-70b", "h100-sxm", 4, "bf16"),
    ("mixtral-8x7b", "a100-sxm-80gb", 2, "bf16"),
    ("gpt3-175b", "a100-sxm-80gb", 8, "bf16"),
    ("qwen2.5-7b", "l40s", 1, "bf16"),
    ("deepseek-v3", "h200-sxm", 8, "fp8"),
    ("gemma-2-27b", "mi300x", 1, "bf16"),
    ("mistral-7b", "a10g", 1, "bf16"),
]


def write_cases(path: Path, size: int, seed: int = 0) -> None:
    """Mixed cases: a deployment each, batch 1–256, prompt 1–32k, output 1–4k (log-uniform, as sweeps are), each
    prompt capped so that prompt + output fits the model's context."""
    from idealrt.simulator.model.catalog import load_model

    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(DEPLOYMENTS), size)
    context = np.array([load_model(model).max_context for model, *_ in DEPLOYMENTS])[chosen]

    def log_uniform(high: int) -> np.ndarray:
        return np.floor(np.exp(rng.uniform(0, np.log(high + 1), size))).astype(np.int64)

    batch, output = log_uniform(256), np.minimum(log_uniform(4096), context // 2)
    prompt = np.maximum(np.minimum(log_uniform(32768), context - output), 1)
    with path.open("w") as handle:
        handle.write("model,hardware,tp,pp,weights_dtype,batch,prompt_tokens,output_tokens\n")
        rows = (DEPLOYMENTS[i] for i in chosen)
        for (model, hardware, tp, dtype), b, p, o in zip(rows, batch, prompt, output, strict=True):
            handle.write(f"{model},{hardware},{tp},1,{dtype},{b},{p},{o}\n")


def timed(command: list[str], repeats: int) -> tuple[float, int]:
    """Median wall seconds of the command and the largest peak RSS (KB) of its runs."""
    seconds, peak = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        seconds.append(time.perf_counter() - started)
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return statistics.median(seconds), peak


def candidates_per_second() -> dict[str, float]:
    """(layout, batch) candidates per second, as plan and capacity evaluate them."""
    from idealrt.simulator.counting import CountingOptions, count_pass
    from idealrt.simulator.hardware import load_hardware
    from idealrt.simulator.memory import memory_use
    from idealrt.simulator.model.catalog import load_model
    from idealrt.simulator.planner.capacity import step_times
    from idealrt.simulator.planner.plan import layouts
    from idealrt.simulator.profile import load_profile
    from idealrt.simulator.structure import Phase

    hardware = load_hardware("h100-sxm")
    profile = load_profile("h100-sxm-kernels")
    candidates = layouts(load_model("llama-3.1-70b"), hardware)
    batches = np.arange(1, 4097, dtype=np.float64)
    for layout in candidates:  # first use compiles or loads each layout's formulas
        step_times(layout, profile, 8, 2048.0)
    started = time.perf_counter()
    for layout in candidates:
        counts = count_pass(layout, Phase.PREFILL, batches, 1024.0, 1024.0, CountingOptions())
        memory_use(layout, counts, np.full_like(batches, 1024.0), np.full_like(batches, 256.0), 0.9)
    plan_rate = len(candidates) * len(batches) / (time.perf_counter() - started)
    started = time.perf_counter()
    for layout in candidates:
        step_times(layout, profile, len(batches), 2048.0)
    capacity_rate = len(candidates) * len(batches) / (time.perf_counter() - started)
    return {"plan": plan_rate, "capacity": capacity_rate}


def llm_analysis_seconds_per_estimate() -> float | None:
    """llm-analysis's `infer` per call (its own venv), or None when that venv is absent."""
    if not PEERS_PYTHON.exists():
        return None
    script = ROOT / "benchmarks" / "peers.py"
    result = subprocess.run([str(PEERS_PYTHON), str(script)], check=True, capture_output=True, text=True)
    return float(json.loads(result.stdout.strip().splitlines()[-1])["seconds_per_estimate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="stream 10,000,000 cases instead of 1,000,000")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "simulator", "hardware_specs", "calibration"], cwd=ROOT)
    rows: list[tuple[str, str, str]] = []
    help_s, _ = timed([*IDEALRT, "--help"], 7)
    rows.append(("`idealrt --help` (process)", f"{help_s:.2f} s", "≤ 0.3 s"))
    estimate = [*IDEALRT, "estimate", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--tp", "4"]
    estimate_s, _ = timed([*estimate, "--prompt", "1024", "--output", "256", "--json"], 7)
    rows.append(("one `idealrt estimate` (process)", f"{estimate_s:.2f} s", "≤ 0.6 s"))
    with tempfile.TemporaryDirectory() as directory:
        cases, out = Path(directory) / "cases.csv", Path(directory) / "out.csv"
        write_cases(cases, SWEEP_SIZE)
        predict = [*IDEALRT, "predict", "--cases", str(cases), "--out", str(out), "--quiet", "--profile", "auto"]
        subprocess.run(predict, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)  # first use compiles formulas
        predict_s, _ = timed(predict, 3)
        per_estimate = predict_s / SWEEP_SIZE
        rows.append((f"`idealrt predict`, {SWEEP_SIZE:,} mixed cases (process)", f"{predict_s:.2f} s", "≤ 0.5 s"))
        peer = llm_analysis_seconds_per_estimate()
        if peer is None:
            rows.append(("llm-analysis 0.2.2", "absent (`make bench-peers` installs it)", "—"))
        else:
            rows.append(("llm-analysis 0.2.2 `infer`, per estimate", f"{peer * 1e6:.0f} µs", "—"))
            rows.append(
                (
                    "idealrt predict per estimate, ratio",
                    f"{per_estimate * 1e6:.1f} µs, {peer / per_estimate:.0f}×",
                    "≥ 100×",
                )
            )
        large = 10_000_000 if args.large else 1_000_000
        write_cases(cases, large, seed=1)
        stream_s, peak_kb = timed(predict, 1)
        rows.append(
            (
                f"`idealrt predict` streaming {large:,} cases",
                f"{stream_s:.1f} s, peak RSS {peak_kb / 1024:.0f} MB",
                "≤ 1 GB",
            )
        )
    rates = candidates_per_second()
    rows.append(("plan: (layout, batch) memory candidates", f"{rates['plan']:,.0f} /s", "≥ 1,000,000 /s"))
    rows.append(("capacity: (layout, batch) decode-step candidates", f"{rates['capacity']:,.0f} /s", "≥ 1,000,000 /s"))
    sys.path.insert(0, str(ROOT))
    from benchmarks.serve import serve_seconds

    rows.append(("`serve`, 10,000 requests", f"{serve_seconds():.2f} s", "≤ 1 s"))
    print(f"make bench, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs\n")
    print("| what | measured | target |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
