"""Engine presets (`engines.yaml`, every value with its source) and the policy a simulation runs under."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from idealrt.simulator.errors import UserError, unknown_name_error
from idealrt.simulator.files import read_mapping

ENGINES_FILE = Path(__file__).with_name("engines.yaml")
MIN_BATCHED_TOKENS = 2048  # vLLM's floor for max_num_batched_tokens (vllm/config.py _DEFAULT_MAX_NUM_BATCHED_TOKENS)


@dataclass(frozen=True)
class EnginePolicy:
    """How an engine batches, pages and admits (field meanings: the header of engines.yaml)."""

    name: str
    chunked_prefill: bool
    mixed_batches: bool
    max_num_seqs: int
    max_num_batched_tokens: int | None  # None: the longest request of the workload, at least MIN_BATCHED_TOKENS
    block_size: int
    memory_fraction: float
    memory_fraction_of: Literal["total", "free"]
    reserve_full_output: bool
    watermark: float

    def token_budget(self, longest_request: int) -> int:
        if self.max_num_batched_tokens is not None:
            return self.max_num_batched_tokens
        return max(longest_request, MIN_BATCHED_TOKENS)

    def check(self) -> None:
        if self.max_num_seqs < 1 or self.block_size < 1:
            raise UserError(f"engine {self.name}: max_num_seqs and block_size must be ≥ 1")
        if self.max_num_batched_tokens is not None and self.max_num_batched_tokens < 1:
            raise UserError(f"engine {self.name}: max_num_batched_tokens must be ≥ 1")
        if not 0 < self.memory_fraction <= 1 or not 0 <= self.watermark < 1:
            raise UserError(f"engine {self.name}: memory_fraction must be in (0, 1] and watermark in [0, 1)")
        if self.memory_fraction_of not in ("total", "free"):
            raise UserError(f"engine {self.name}: memory_fraction_of must be 'total' or 'free'")


def engine_table() -> dict[str, dict[str, Any]]:
    """The presets as written: name → {parameter: {value, source}, description}."""
    return read_mapping(ENGINES_FILE, "engine presets")


def engine_names() -> list[str]:
    return sorted(engine_table())


def load_engine(name: str, **overrides: Any) -> EnginePolicy:
    """A preset with some parameters replaced (None values are ignored)."""
    table = engine_table()
    if name not in table:
        raise unknown_name_error("engine", name, table)
    entry = table[name]
    names = [f.name for f in fields(EnginePolicy) if f.name != "name"]
    missing = [key for key in names if key not in entry]
    if missing:
        raise UserError(f"{ENGINES_FILE}: engine {name} lacks {', '.join(missing)}")
    policy = EnginePolicy(name=name, **{key: entry[key]["value"] for key in names})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise UserError(f"unknown engine parameter(s) {', '.join(unknown)}; known: {', '.join(names)}")
    policy = replace(policy, **{key: value for key, value in overrides.items() if value is not None})
    policy.check()
    return policy
