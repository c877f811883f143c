"""The paper's second metric, denoised runtime (Narayanan et al., NeurIPS 2023): measured API runtimes fitted to

    runtime(p, o) = overhead + α'_p + β·(o − 1)

by the paper's procedure, on runs of known prompt tokens p, output tokens o and seconds:

1. per prompt size p, an OLS line of runtime on o;
2. one slope β for all of them, pooled by least squares (a common slope with one intercept per prompt size: the
   per-size slopes averaged with weights Σ (o − ō_p)²);
3. α_p = the pooled line at o = 1 (prompt encoding + first token, overhead included);
4. the per-request overhead = α_{p_min} − β: the shortest prompt's first token costs about one decode step, the rest
   is the API's fixed cost (network, queueing, tokenization);
5. the denoised α'_p = α_p − overhead.

HELM stores α'_p, β and the overhead (`inference_denoised_runtimes.json`) and adds the overhead back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.planner.idealized import (
    PAPER_WEIGHTS_DTYPE,
    IdealizedRuntime,
    Layout,
    decompose,
    fewest_deployment,
    paper_deployment,
)
from idealrt.simulator.planner.paper_models import PAPER_LAYOUTS
from idealrt.simulator.profile import resolve_profile

RUN_COLUMNS = ("prompt_tokens", "output_tokens", "seconds")


@dataclass(frozen=True)
class DenoisedRuntime:
    prompt_sizes: np.ndarray  # the distinct prompt sizes, ascending
    runs: np.ndarray  # runs per prompt size
    slopes_s: np.ndarray  # each prompt size's own OLS slope (s per output token)
    alpha_s: np.ndarray  # α_p: the pooled line at o = 1, overhead included
    beta_s: float
    overhead_s: float
    residual_rms_s: float  # of the pooled fit

    @property
    def denoised_alpha_s(self) -> np.ndarray:
        """α'_p = α_p − overhead."""
        return self.alpha_s - self.overhead_s

    def runtime(self, prompt: int, output: int) -> float:
        """overhead + α'_p + β·(o − 1) at a fitted prompt size."""
        index = np.flatnonzero(self.prompt_sizes == prompt)
        if index.size == 0:
            sizes = ", ".join(str(int(p)) for p in self.prompt_sizes)
            raise UserError(f"prompt {prompt} was not among the fitted prompt sizes ({sizes})")
        return float(self.alpha_s[index[0]] + self.beta_s * (output - 1))


def fit_denoised(prompt: np.ndarray, output: np.ndarray, seconds: np.ndarray) -> DenoisedRuntime:
    """The paper's fit (module docstring); every prompt size needs runs at two or more output lengths."""
    prompt, output, seconds = (np.asarray(x, dtype=np.float64) for x in (prompt, output, seconds))
    sizes = np.unique(prompt)
    centered_o, centered_t, slopes, runs, means = [], [], [], [], []
    for size in sizes:
        o, t = output[prompt == size], seconds[prompt == size]
        if np.unique(o).size < 2:
            raise UserError(
                f"prompt size {size:g}: runs at one output length only ({o[0]:g}); a slope needs two or more"
            )
        do, dt = o - o.mean(), t - t.mean()
        slopes.append(float(np.sum(do * dt) / np.sum(do * do)))
        centered_o.append(do)
        centered_t.append(dt)
        runs.append(o.size)
        means.append((o.mean(), t.mean()))
    do_all, dt_all = np.concatenate(centered_o), np.concatenate(centered_t)
    beta = float(np.sum(do_all * dt_all) / np.sum(do_all * do_all))
    alpha = np.asarray([t_mean - beta * (o_mean - 1) for o_mean, t_mean in means])
    residuals = dt_all - beta * do_all
    return DenoisedRuntime(
        prompt_sizes=sizes,
        runs=np.asarray(runs),
        slopes_s=np.asarray(slopes),
        alpha_s=alpha,
        beta_s=beta,
        overhead_s=float(alpha[0] - beta),
        residual_rms_s=float(np.sqrt(np.mean(residuals**2))),
    )


def read_runs(path: Path) -> pd.DataFrame:
    """A CSV of measured runs (columns prompt_tokens, output_tokens, seconds; others ignored), checked."""
    if not path.is_file():
        raise UserError(f"runs file not found: {path}")
    try:
        runs = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0] if str(exc) else 'empty'})") from None
    missing = [column for column in RUN_COLUMNS if column not in runs.columns]
    if missing:
        have = ", ".join(map(str, runs.columns)) or "none"
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (have: {have}); need {', '.join(RUN_COLUMNS)}")
    if runs.empty:
        raise UserError(f"{path}: no runs")
    for column in RUN_COLUMNS:
        values = pd.to_numeric(runs[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=np.float64)))
        if bad.size:
            raise UserError(f"{path}:{bad[0] + 2}: {column} {runs[column].iloc[bad[0]]!r} is not a number")
        runs[column] = values
    for column, low in (("prompt_tokens", 1), ("output_tokens", 1)):
        values = runs[column].to_numpy()
        bad = np.flatnonzero((values < low) | (values != np.round(values)))
        if bad.size:
            raise UserError(f"{path}:{bad[0] + 2}: {column} must be a whole number ≥ {low} (got {values[bad[0]]:g})")
    bad = np.flatnonzero(runs["seconds"].to_numpy() <= 0)
    if bad.size:
        raise UserError(f"{path}:{bad[0] + 2}: seconds must be > 0 (got {runs['seconds'].iloc[bad[0]]:g})")
    return runs


def denoise_file(path: Path) -> DenoisedRuntime:
    runs = read_runs(path)
    try:
        return fit_denoised(runs["prompt_tokens"], runs["output_tokens"], runs["seconds"])
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class IdealizedBeside:
    """The idealized runtime of the model the runs measured, at the fitted prompt sizes."""

    runtime: IdealizedRuntime
    profile_note: str
    layout_source: str
    alpha_s: np.ndarray  # idealized α_p at the fitted prompt sizes (HELM interpolation)


def idealized_beside(
    fitted: DenoisedRuntime,
    model: str,
    hardware: str,
    profile: str,
    layout: Layout = "paper",
    weights_dtype: str = PAPER_WEIGHTS_DTYPE,
) -> IdealizedBeside:
    """The same model's idealized α_p and β: a paper model on the paper's layout (or `fewest`), any other model
    (catalog id or config.json) on the fewest devices, with its published architecture."""
    spec = load_hardware(hardware)
    chosen, note = resolve_profile(profile, spec)
    if model in PAPER_LAYOUTS:
        placed = paper_deployment(model, spec, chosen, weights_dtype, layout)
        deployment, layout_source = placed.deployment, placed.layout_source
    else:
        deployment = fewest_deployment(load_model(model), spec, chosen, weights_dtype)
        layout_source = "fewest devices that hold a 2048-token request (not a model of the paper)"
    runtime = decompose(deployment, chosen)
    return IdealizedBeside(runtime, note, layout_source, runtime.alpha(fitted.prompt_sizes))


def denoised_record(fitted: DenoisedRuntime, beside: IdealizedBeside | None) -> dict[str, Any]:
    """The `denoise --json` object (field names are public)."""
    sizes = [str(int(p)) for p in fitted.prompt_sizes]
    record: dict[str, Any] = {
        "runs": int(np.sum(fitted.runs)),
        "prompt_tokens": [int(p) for p in fitted.prompt_sizes],
        "runs_by_prompt": dict(zip(sizes, (int(n) for n in fitted.runs), strict=True)),
        "beta_s": fitted.beta_s,
        "overhead_s": fitted.overhead_s,
        "alpha_s": dict(zip(sizes, map(float, fitted.alpha_s), strict=True)),
        "denoised_alpha_s": dict(zip(sizes, map(float, fitted.denoised_alpha_s), strict=True)),
        "slope_by_prompt_s": dict(zip(sizes, map(float, fitted.slopes_s), strict=True)),
        "residual_rms_s": fitted.residual_rms_s,
        "idealized": None,
    }
    if beside is not None:
        d = beside.runtime.deployment
        record["idealized"] = {
            "model": d.model.id,
            "hardware": d.hardware.id,
            "profile": beside.runtime.profile.name,
            "profile_note": beside.profile_note,
            "n_accelerators": d.n_accelerators,
            "tp": d.tp,
            "pp": d.pp,
            "layout_source": beside.layout_source,
            "beta_s": beside.runtime.beta_s,
            "alpha_s": dict(zip(sizes, map(float, beside.alpha_s), strict=True)),
        }
    return record
