"""`predict`: many cases from a CSV, vectorized — cases sharing a deployment are simulated as one array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.errors import UserError, shown
from simulator.estimate import EstimateInputs, build_deployment, extrapolation_warnings, interval
from simulator.files import read_csv
from simulator.parameters import parameter_counts
from simulator.profile import resolve_profile
from simulator.simulation import simulate
from simulator.validation import CASE_COLUMN_LIMITS, MAX_BATCH, InvalidNumber, whole_number

REQUIRED_COLUMNS = ("model", "hardware", "tp", "pp", "batch", "prompt_tokens", "output_tokens")
OPTIONAL_COLUMNS = ("ep", "weights_dtype", "act_dtype", "kv_dtype", "profile")
INTEGER_COLUMNS = ("tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens")
DEPLOYMENT_COLUMNS = ("model", "hardware", "tp", "pp", "ep", "weights_dtype", "act_dtype", "kv_dtype", "profile")
OUTPUT_COLUMNS = (
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "n_accelerators",
    "fits",
    "ttft_s_low",
    "ttft_s_high",
    "tpot_s_low",
    "tpot_s_high",
    "e2e_s_low",
    "e2e_s_high",
    "memory_bytes_per_accelerator",
    "extrapolation",
)


def read_cases(path: Path) -> pd.DataFrame:
    """The cases CSV as text cells (validated per column by `predict_cases`); one-line errors for a file that
    is missing, not UTF-8 text, not CSV, or holds no case."""
    frame = read_csv(path, "cases", dtype=str, keep_default_na=False)
    if frame.empty:
        raise UserError(f"{shown(str(path))}: no cases (a header row and no data rows)")
    return frame


def predict_cases(cases: pd.DataFrame, default_profile: str = "ideal", source: str = "cases") -> pd.DataFrame:
    """The cases with the output columns appended. Errors name the CSV line (header = line 1)."""
    cases = _normalized(cases, default_profile, source)
    results = pd.DataFrame(index=cases.index, columns=list(OUTPUT_COLUMNS), dtype=object)
    for key, group in cases.groupby(list(DEPLOYMENT_COLUMNS), sort=False, dropna=False):
        settings = dict(zip(DEPLOYMENT_COLUMNS, key, strict=True))
        first_line = int(group.index[0]) + 2
        try:
            inputs = EstimateInputs(
                model=settings["model"],
                hardware=settings["hardware"],
                prompt_tokens=1,
                output_tokens=1,
                tp=settings["tp"],
                pp=settings["pp"],
                ep=settings["ep"],
                weights_dtype=settings["weights_dtype"],
                act_dtype=settings["act_dtype"] or None,
                kv_dtype=settings["kv_dtype"] or None,
                profile=settings["profile"],
            )
            deployment = build_deployment(inputs)
            profile, _ = resolve_profile(inputs.profile, deployment.hardware.id)
        except UserError as exc:
            raise UserError(f"{source}:{first_line}: {exc}") from None
        sim = simulate(
            deployment,
            profile,
            group["batch"].to_numpy(),
            group["prompt_tokens"].to_numpy(),
            group["output_tokens"].to_numpy(),
        )
        block = {
            "ttft_s": sim.ttft_s,
            "tpot_s": sim.tpot_s,
            "e2e_s": sim.e2e_s,
            "n_accelerators": np.full(len(group), deployment.n_accelerators),
            "fits": sim.memory.fits,
            "memory_bytes_per_accelerator": sim.memory.total_bytes,
        }
        low, high = interval(profile, 1.0)
        params_total = parameter_counts(deployment.model).total
        for name in ("ttft_s", "tpot_s", "e2e_s"):
            block[f"{name}_low"], block[f"{name}_high"] = block[name] * low, block[name] * high
        block["extrapolation"] = [
            "; ".join(
                extrapolation_warnings(
                    profile,
                    {
                        "batch": b,
                        "prompt_tokens": p,
                        "output_tokens": o,
                        "tp": deployment.tp,
                        "pp": deployment.pp,
                        "prefill_tokens": b * p,
                        "params_total": params_total,
                    },
                )
            )
            for b, p, o in zip(group["batch"], group["prompt_tokens"], group["output_tokens"], strict=True)
        ]
        for name, values in block.items():
            results.loc[group.index, name] = list(values)
    return pd.concat([cases, results], axis=1)


def _normalized(cases: pd.DataFrame, default_profile: str, source: str) -> pd.DataFrame:
    missing = [name for name in REQUIRED_COLUMNS if name not in cases.columns]
    if missing:
        raise UserError(f"{source}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}")
    cases = cases.reset_index(drop=True).copy()
    defaults = {"ep": "1", "weights_dtype": "bf16", "act_dtype": "", "kv_dtype": "", "profile": default_profile}
    for name, default in defaults.items():
        if name not in cases.columns:
            cases[name] = default
        cases[name] = cases[name].fillna("").astype(str).str.strip().replace("", default)
    for name in INTEGER_COLUMNS:
        cases[name] = [_positive_int(value, name, source, index + 2) for index, value in enumerate(cases[name])]
    return cases


def _positive_int(value: object, column: str, source: str, line: int) -> int:
    high = CASE_COLUMN_LIMITS.get(column, MAX_BATCH)
    try:
        return whole_number(value, 1, high)
    except InvalidNumber as exc:
        raise UserError(f"{shown(source)}:{line}: column '{column}' {exc}") from None
