"""Planner defaults the command line shows before any planning code is imported (kept free of heavy imports)."""

from __future__ import annotations

DEFAULT_MAX_DEVICES = 64
MAX_BATCH = 16384  # the largest batch `largest_batch` reports; serving engines cap concurrency far lower
# objective → (column, ascending)
OBJECTIVES: dict[str, tuple[str, bool]] = {
    "latency": ("e2e_s", True),
    "cost": ("usd_per_million_tokens", True),
    "throughput": ("output_tokens_per_s", False),
}
CONFIRM_REQUESTS = 1000  # requests `serve` simulates to confirm each `capacity` answer
SLO_OBJECTIVE = "throughput-per-dollar"  # plan: output tokens per $ at the largest rate serve sustains within an SLO
PAPER_WEIGHTS_DTYPE = "fp16"  # Narayanan et al. (2023) ran Megatron-LM in fp16
