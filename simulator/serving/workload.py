"""Request streams: Poisson arrivals (or all at t = 0) with lengths drawn from a distribution, or a trace file.

Lengths are drawn by inverse transform from the distributions `capacity` takes (`const`, `uniform`,
`lognormal`; `simulator.planner.distributions`), with a seeded generator: the same seed, the same requests.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idealrt.simulator.errors import UserError
from idealrt.simulator.planner.distributions import LengthDistribution, parse_distribution

# ShareGPT as the vLLM paper measured it: mean prompt 161.31 and mean output 337.99 tokens (Kwon et al.,
# "Efficient Memory Management for Large Language Model Serving with PagedAttention", SOSP 2023, Fig. 11a).
# The spread is not published there: σ = 1 (of ln length) is an assumption; the medians follow from
# mean = median · exp(σ²/2).
SHAREGPT_MEAN_PROMPT = 161.31
SHAREGPT_MEAN_OUTPUT = 337.99
SHAREGPT_SIGMA = 1.0
SHAREGPT_MAX_TOKENS = 4096  # lengths clipped, as benchmark scripts drop longer conversations


def sharegpt_distributions() -> tuple[LengthDistribution, LengthDistribution]:
    factor = math.exp(SHAREGPT_SIGMA**2 / 2)
    return (
        parse_distribution(f"lognormal:{SHAREGPT_MEAN_PROMPT / factor:.2f}:{SHAREGPT_SIGMA}"),
        parse_distribution(f"lognormal:{SHAREGPT_MEAN_OUTPUT / factor:.2f}:{SHAREGPT_SIGMA}"),
    )


@dataclass(frozen=True)
class Workload:
    """Requests in arrival order (arrays of equal length)."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray  # int
    output_tokens: np.ndarray  # int, ≥ 1
    description: str

    def __len__(self) -> int:
        return len(self.arrival_s)


def generate(
    requests: int,
    rate: float,
    prompt: LengthDistribution,
    output: LengthDistribution,
    seed: int = 0,
    max_tokens: int | None = None,
) -> Workload:
    """`requests` requests at Poisson `rate` per second (math.inf: all at t = 0)."""
    if requests < 1:
        raise UserError(f"--requests must be ≥ 1 (got {requests})")
    if not rate > 0:
        raise UserError(f"--rate must be > 0 or inf (got {rate})")
    rng = np.random.default_rng(seed)
    gaps = np.zeros(requests) if math.isinf(rate) else rng.exponential(1 / rate, requests)
    arrival = np.cumsum(gaps) - (0.0 if math.isinf(rate) else gaps[0])
    prompts = prompt.quantile(_open_unit(rng, requests)).astype(np.int64)
    outputs = output.quantile(_open_unit(rng, requests)).astype(np.int64)
    if max_tokens is not None:
        prompts, outputs = np.minimum(prompts, max_tokens), np.minimum(outputs, max_tokens)
    where = "offline (all at t = 0)" if math.isinf(rate) else f"Poisson {rate:g} req/s"
    return Workload(
        arrival, prompts, outputs, f"{requests} requests, {where}, prompt {prompt.spec}, output {output.spec}"
    )


def _open_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.clip(rng.random(n), 1e-12, 1 - 1e-12)


def read_trace(path: Path) -> Workload:
    """A CSV with columns arrival_s, prompt_tokens, output_tokens (sorted by arrival here)."""
    if not path.is_file():
        raise UserError(f"trace file not found: {path}")
    rows = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        needed = ("arrival_s", "prompt_tokens", "output_tokens")
        if reader.fieldnames is None or any(name not in reader.fieldnames for name in needed):
            raise UserError(f"{path}: expected columns {', '.join(needed)} (got {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            try:
                arrival, prompt, output = float(row["arrival_s"]), int(row["prompt_tokens"]), int(row["output_tokens"])
            except (TypeError, ValueError):
                raise UserError(f"{path}:{line}: arrival_s must be a number, token counts whole numbers") from None
            if arrival < 0 or not math.isfinite(arrival) or prompt < 1 or output < 1:
                raise UserError(f"{path}:{line}: arrival_s ≥ 0 and token counts ≥ 1 required")
            rows.append((arrival, prompt, output))
    if not rows:
        raise UserError(f"{path}: no requests")
    rows.sort(key=lambda r: r[0])
    table = np.array(rows, dtype=np.float64)
    return Workload(table[:, 0], table[:, 1].astype(np.int64), table[:, 2].astype(np.int64), f"trace {path}")
