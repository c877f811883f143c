"""Python API: the CLI's answers as pandas DataFrames (column names as in the `--json` records).

    from idealrt.simulator import api
    api.estimate("llama-3.1-70b", "h100-sxm", prompt=1024, output=256, tp=4)   # one row
    api.estimate_ops("llama-3.1-70b", "h100-sxm", prompt=1024, output=256, tp=4)  # one row per op and phase
    api.predict("cases.csv", profile="auto")                                   # the cases with predictions
    api.paper(hardware="a100-sxm-80gb", profile="ideal")                       # one row per paper model
    api.plan("llama-3.1-70b", ["h100-sxm", "a100-sxm-80gb"], prompt=1024, output=256)  # ranked layouts
    api.capacity("llama-3.1-70b", ["h100-sxm"], qps=20, prompt_dist="const:1024", output_dist="const:256",
                 ttft_p99_s=2.0, tpot_s=0.05)                                  # fewest devices per hardware
    api.compare("llama-3.1-70b", ["h100-sxm", "mi300x"], prompt=1024, output=256,
                price_usd_per_hour={"mi300x": 2.5})                            # one row per hardware
    api.serve("llama-3.1-8b", "a100-sxm-80gb", engine="vllm", requests=1000, rate=8)  # one row: serving stats

Options of `estimate` are the fields of `simulator.estimate.EstimateInputs` (batch, tp, pp, ep, weights_dtype,
act_dtype, kv_dtype, profile, naive_attention, lm_head_all_positions, check_memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from idealrt.simulator.case_files import read_cases
from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.errors import UserError
from idealrt.simulator.estimate import EstimateInputs, estimate_record, run_estimate
from idealrt.simulator.planner.capacity import Targets, capacity_frame
from idealrt.simulator.planner.compare import Layout as CompareLayout
from idealrt.simulator.planner.compare import compare_frame
from idealrt.simulator.planner.distributions import parse_distribution
from idealrt.simulator.planner.idealized import (
    PAPER_WEIGHTS_DTYPE,
    Architecture,
    Interpolation,
    Layout,
    paper_comparison,
)
from idealrt.simulator.planner.plan import plan_frame
from idealrt.simulator.predict import predict_cases
from idealrt.simulator.report import op_rows


def estimate(model: str, hardware: str, prompt: int, output: int, **options: Any) -> pd.DataFrame:
    """One row: the `estimate --json` record without its nested `ops` (see `estimate_ops`); `extrapolation`
    joined into one '; '-separated string."""
    sim, note = run_estimate(_inputs(model, hardware, prompt, output, options))
    record = estimate_record(sim, note)
    record.pop("ops")
    record["extrapolation"] = "; ".join(record["extrapolation"])
    return pd.DataFrame([record])


def estimate_ops(model: str, hardware: str, prompt: int, output: int, **options: Any) -> pd.DataFrame:
    """One row per (phase, op): FLOPs, bytes, arithmetic intensity, time and its terms, the bound."""
    sim, _ = run_estimate(_inputs(model, hardware, prompt, output, options))
    return pd.DataFrame(op_rows(sim))


def predict(cases: pd.DataFrame | str | Path, profile: str = DEFAULT_PROFILE) -> pd.DataFrame:
    """The cases (a DataFrame or a CSV path, columns as for `idealrt predict`) with the prediction columns."""
    if isinstance(cases, pd.DataFrame):
        return predict_cases(cases, default_profile=profile, source="cases")
    path = Path(cases)
    return predict_cases(read_cases(path), default_profile=profile, source=str(path))


def paper(
    hardware: str = "a100-sxm-80gb",
    profile: str = "megatron-a100-2022",
    price_usd_per_hour: float | None = None,
    weights_dtype: str = PAPER_WEIGHTS_DTYPE,
    layout: Layout = "paper",
    architecture: Architecture = "paper",
    interpolation: Interpolation = "helm",
) -> pd.DataFrame:
    """One row per model of Narayanan et al. (2023): the `paper --json` fields, with `alpha_s` spread into columns
    `alpha_s_<prompt>` and each example request's figures into `<field>_p<prompt>_o<output>`. `layout`: "paper"
    (the GPUs the paper used) or "fewest"; `architecture`: "paper" (its stand-ins) or "published";
    `interpolation`: "helm" or "linear" (α_p between the tabulated prompt sizes)."""
    comparison = paper_comparison(
        hardware,
        profile,
        price_usd_per_hour,
        weights_dtype=weights_dtype,
        layout=layout,
        architecture=architecture,
        interpolation=interpolation,
    )
    return pd.DataFrame([_flat_paper_record(record) for record in comparison.records])


def _flat_paper_record(record: dict[str, Any]) -> dict[str, Any]:
    flat = {key: value for key, value in record.items() if key not in ("alpha_s", "requests")}
    for size, alpha in (record.get("alpha_s") or {}).items():
        flat[f"alpha_s_{size}"] = alpha
    for request in record.get("requests", []):
        suffix = f"p{request['prompt_tokens']}_o{request['output_tokens']}"
        for key, value in request.items():
            if key not in ("prompt_tokens", "output_tokens"):
                flat[f"{key}_{suffix}"] = value
    return flat


def _inputs(model: str, hardware: str, prompt: int, output: int, options: dict[str, Any]) -> EstimateInputs:
    allowed = set(EstimateInputs.__dataclass_fields__) - {"model", "hardware", "prompt_tokens", "output_tokens"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UserError(f"unknown estimate option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return EstimateInputs(model=model, hardware=hardware, prompt_tokens=prompt, output_tokens=output, **options)


def plan(model: str, hardware: list[str], prompt: int, output: int, **options: Any) -> pd.DataFrame:
    """Every feasible layout, ranked, with a `pareto` column (options: batch (None: the largest that fits),
    objective, profile, max_devices, weights_dtype, kv_dtype)."""
    return plan_frame(model, hardware, prompt, output, **options)


def capacity(
    model: str,
    hardware: list[str],
    qps: float,
    prompt_dist: str,
    output_dist: str,
    ttft_p99_s: float,
    tpot_s: float,
    **options: Any,
) -> pd.DataFrame:
    """The fewest devices per hardware serving `qps` within the targets; distributions as on the command line
    (`const:N`, `uniform:LOW:HIGH`, `lognormal:MEDIAN:SIGMA`)."""
    return capacity_frame(
        model,
        hardware,
        qps,
        parse_distribution(prompt_dist, "prompt_dist"),
        parse_distribution(output_dist, "output_dist"),
        Targets(ttft_p99_s, tpot_s),
        **options,
    )


def compare(
    model: str,
    hardware: list[str],
    prompt: int,
    output: int,
    tp: int | None = None,
    pp: int | None = None,
    ep: int | None = None,
    **options: Any,
) -> pd.DataFrame:
    """One row per hardware, each on the fewest devices that hold the request unless tp/pp/ep are given; the
    columns of `plan` (profile, band, price, cost). Options: batch, profile, weights_dtype, act_dtype, kv_dtype,
    price_usd_per_hour (a number, or {hardware id: number}), allow_longer_context."""
    given = (tp, pp, ep)
    layout = None if given == (None, None, None) else CompareLayout(*(value or 1 for value in given))
    return compare_frame(model, hardware, prompt, output, layout=layout, **options)


def serve(model: str, hardware: str, **options: Any) -> pd.DataFrame:
    """One row: the `serve --json` record. Options are the fields of `simulator.serving.serve.ServeInputs`
    (tp, pp, weights_dtype, act_dtype, kv_dtype, profile, engine, requests, rate, prompt_dist, output_dist, trace,
    seed, replicas) plus any engine parameter to override (max_num_seqs, max_num_batched_tokens, block_size,
    memory_fraction, watermark, chunked_prefill, mixed_batches, reserve_full_output)."""
    from idealrt.simulator.serving.engines import EnginePolicy
    from idealrt.simulator.serving.serve import ServeInputs, run_serve

    fields = set(ServeInputs.__dataclass_fields__) - {"model", "hardware", "engine_overrides"}
    engine_fields = set(EnginePolicy.__dataclass_fields__) - {"name"}
    unknown = sorted(set(options) - fields - engine_fields)
    if unknown:
        raise UserError(
            f"unknown serve option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields | engine_fields))}"
        )
    overrides = tuple((key, value) for key, value in options.items() if key in engine_fields)
    inputs = {key: value for key, value in options.items() if key in fields}
    return pd.DataFrame([run_serve(ServeInputs(model, hardware, engine_overrides=overrides, **inputs)).record])
