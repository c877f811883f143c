"""End-to-end generation of small transformers built from specs: ttft, tpot and e2e per (batch, prompt, output).

The shapes are stand-ins for real models' architectures (GPT-2-like, Llama-like, Falcon-like), sized to run on the
device measured: ~20–30 M parameters on CPU, ~0.4 B on CUDA. Their specs are written next to the records so the
rows can name them by id.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

from idealrt.calibration.harness.grids import SweepPlan
from idealrt.calibration.harness.microbench import TORCH_DTYPES
from idealrt.calibration.harness.model import Generation, build_transformer, generate, parameter_count
from idealrt.calibration.records import E2EMetric, EndToEndMeasurement
from idealrt.simulator.model.spec import ModelSpec

SOURCE = "synthetic shape for `idealrt calibrate measure` (random weights)"


def benchmark_models(device_kind: str) -> list[ModelSpec]:
    """Three dense shapes: MHA/LayerNorm/GELU/learned positions, GQA/RMSNorm/SwiGLU/rotary, MQA parallel block."""
    if device_kind == "cuda":
        prefix, layers, hidden, heads, vocab = "cuda-small", 12, 1536, 12, 32768
    else:
        prefix, layers, hidden, heads, vocab = "cpu-tiny", 6, 512, 8, 8192
    common: dict[str, Any] = dict(
        num_layers=layers, hidden_size=hidden, num_heads=heads, vocab_size=vocab, max_context=4096, source=SOURCE
    )
    specs = [
        ModelSpec(
            id=f"{prefix}-gpt",
            name=f"{prefix} GPT-2-like (MHA, LayerNorm, GELU, learned positions)",
            ffn_dim=4 * hidden,
            mlp="gelu",
            norm="layernorm",
            position="learned",
            tied_embeddings=True,
            qkv_bias=True,
            attn_out_bias=True,
            mlp_bias=True,
            **common,
        ),
        ModelSpec(
            id=f"{prefix}-llama",
            name=f"{prefix} Llama-like (GQA, RMSNorm, SwiGLU, rotary)",
            num_kv_heads=heads // 4,
            ffn_dim=_swiglu_width(hidden),
            mlp="swiglu",
            norm="rmsnorm",
            position="rotary",
            tied_embeddings=False,
            **common,
        ),
        ModelSpec(
            id=f"{prefix}-mqa",
            name=f"{prefix} Falcon-like (MQA, parallel attention/MLP with one shared norm)",
            num_kv_heads=1,
            ffn_dim=4 * hidden,
            mlp="gelu",
            norm="layernorm",
            position="rotary",
            tied_embeddings=True,
            parallel_attention_mlp=True,
            norms_per_layer=1,
            **common,
        ),
    ]
    return [_with_counted_params(spec) for spec in specs]


def _with_counted_params(spec: ModelSpec) -> ModelSpec:
    counted = parameter_count(build_transformer(spec, "meta", torch.float32))
    return spec.model_copy(
        update={
            "published_params": float(counted),
            "params_source": "counted from the torch module calibration/harness/model.py builds",
        }
    )


def _swiglu_width(hidden: int) -> int:
    """Llama's rule: 2/3 of 4h, rounded up to a multiple of 128."""
    return -(-(8 * hidden // 3) // 128) * 128


def write_model_specs(specs: list[ModelSpec], models_dir: Path) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        data = spec.model_dump(mode="json", exclude_none=True)
        (models_dir / f"{spec.id}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def endtoend_sweep(
    specs: list[ModelSpec],
    plan: SweepPlan,
    device: torch.device,
    dataset: str,
    advance: Callable[[], None] = lambda: None,
) -> Iterator[list[EndToEndMeasurement]]:
    """Per model: `plan.e2e_policy.warmups` untimed requests at the largest batch and prompt. Then
    `plan.e2e_visits` rounds over every (model, batch, prompt, output) point, each visit timing requests until the
    policy's budget is spent, within its [min_repeats, max_repeats]. Yields once per visit, so that the caller can
    spread the visits through other sweeps: nothing until a point's last visit, then its records (one per metric,
    medians over the requests of all its visits)."""
    dtype, policy = plan.e2e_dtype, plan.e2e_policy
    largest_batch = max(batch for batch, _, _ in plan.e2e_points)
    largest_prompt = max(prompt for _, prompt, _ in plan.e2e_points)
    models = [build_transformer(spec, device, TORCH_DTYPES[dtype]) for spec in specs]
    for model in models:
        for _ in range(policy.warmups):
            generate(model, largest_batch, largest_prompt, 2)
    runs: dict[tuple[int, int], list[Generation]] = defaultdict(list)
    for visit in range(plan.e2e_visits):
        for model_index, (spec, model) in enumerate(zip(specs, models, strict=True)):
            for point_index, (batch, prompt, output) in enumerate(plan.e2e_points):
                point_runs = runs[model_index, point_index]
                started, timed = time.perf_counter(), 0
                while timed < policy.max_repeats and (
                    timed < policy.min_repeats or time.perf_counter() - started < policy.budget_s
                ):
                    point_runs.append(generate(model, batch, prompt, output, seed=len(point_runs)))
                    timed += 1
                advance()
                if visit < plan.e2e_visits - 1:
                    yield []
                    continue
                yield [
                    EndToEndMeasurement(
                        dataset=dataset,
                        model=spec.id,
                        batch=batch,
                        prompt_tokens=prompt,
                        output_tokens=output,
                        weights_dtype=dtype,
                        kv_dtype=dtype,
                        metric=metric,
                        time_s=statistics.median(seconds),
                        time_s_std=statistics.stdev(seconds) if len(seconds) > 1 else None,
                        repeats=len(seconds),
                    )
                    for metric, seconds in _metrics(point_runs).items()
                ]
    del models
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _metrics(runs: list[Generation]) -> dict[E2EMetric, list[float]]:
    """Per run: ttft, tpot (mean decode step; absent when there is no decode step) and e2e = ttft + Σ steps."""
    metrics: dict[E2EMetric, list[float]] = {
        "ttft": [run.ttft_s for run in runs],
        "e2e": [run.ttft_s + sum(run.decode_step_s) for run in runs],
    }
    if all(run.decode_step_s for run in runs):
        metrics["tpot"] = [statistics.mean(run.decode_step_s) for run in runs]
    return metrics
