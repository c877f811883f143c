"""`make bench`: how fast idealrt estimates.

- single call: `run_estimate` + `estimate_record` for one request (what `idealrt estimate --json` does after start-up),
  after a warm-up call (formula compilation is cached per process);
- vectorized sweep: `predict_cases` over 100,000 cases of mixed models, hardware, parallelism and request shapes
  (what `idealrt predict` does).
Prints estimates per second; writes nothing.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from simulator.estimate import EstimateInputs, estimate_record, run_estimate
from simulator.predict import predict_cases

SINGLE = EstimateInputs(model="llama-3.1-70b", hardware="h100-sxm", tp=4, prompt_tokens=1024, output_tokens=256)
SWEEP_SIZE = 100_000
DEPLOYMENTS = [
    ("llama-3.1-8b", "h100-sxm", 1),
    ("llama-3.1-70b", "h100-sxm", 4),
    ("mixtral-8x7b", "a100-sxm-80gb", 2),
    ("gpt3-175b", "a100-sxm-80gb", 8),
    ("qwen2.5-7b", "l40s", 1),
    ("deepseek-v3", "h200-sxm", 8),
    ("gemma-2-27b", "mi300x", 1),
    ("mistral-7b", "a10g", 1),
]


def single_call(repeats: int = 20) -> float:
    """Seconds per estimate."""
    estimate_record(*run_estimate(SINGLE))
    started = time.perf_counter()
    for _ in range(repeats):
        estimate_record(*run_estimate(SINGLE))
    return (time.perf_counter() - started) / repeats


def sweep_cases(size: int = SWEEP_SIZE, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(DEPLOYMENTS), size)
    return pd.DataFrame(
        {
            "model": [DEPLOYMENTS[i][0] for i in chosen],
            "hardware": [DEPLOYMENTS[i][1] for i in chosen],
            "tp": [str(DEPLOYMENTS[i][2]) for i in chosen],
            "pp": "1",
            "batch": rng.integers(1, 33, size).astype(str),
            "prompt_tokens": rng.integers(1, 4097, size).astype(str),
            "output_tokens": rng.integers(1, 1025, size).astype(str),
            "weights_dtype": np.where(np.array([DEPLOYMENTS[i][0] for i in chosen]) == "deepseek-v3", "fp8", "bf16"),
        }
    )


def sweep() -> tuple[float, int]:
    cases = sweep_cases()
    predict_cases(cases.head(100))  # warm-up: compile the formulas of every deployment
    started = time.perf_counter()
    result = predict_cases(cases)
    return time.perf_counter() - started, len(result)


def main() -> None:
    per_call = single_call()
    print(
        f"single estimate ({SINGLE.model} on {SINGLE.tp} × {SINGLE.hardware}, p={SINGLE.prompt_tokens}, "
        f"o={SINGLE.output_tokens}): {per_call * 1e3:.1f} ms per call = {1 / per_call:,.0f} estimates/s"
    )
    seconds, rows = sweep()
    print(
        f"vectorized predict over {rows:,} cases ({len(DEPLOYMENTS)} deployments): {seconds:.2f} s = "
        f"{rows / seconds:,.0f} estimates/s"
    )


if __name__ == "__main__":
    main()
