"""A closed model on hardware: run each architecture sampled from a partial spec, summarize the spread.

Each accepted architecture (`partial_spec.sample_architectures`) runs on the fewest devices that hold it, in
`placement.fewest_devices`' order (tensor parallelism inside a server, then pipeline stages of full servers);
identical architectures are simulated once. The summary is p10 / p50 / p90 over the samples that fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from idealrt.simulator.context_limits import context_overflow
from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.placement import fewest_devices
from idealrt.simulator.planner.cost import request_cost
from idealrt.simulator.planner.partial_spec import PartialSpec, sample_architectures
from idealrt.simulator.planner.prices import PriceOverride, price_for
from idealrt.simulator.profile import Profile, resolve_profile
from idealrt.simulator.simulation import simulate

SUMMARY_COLUMNS = (
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "usd_per_million_tokens",
    "devices",
    "num_layers",
    "hidden_size",
    "ffn_dim",
)


def closed_model_frame(
    spec: PartialSpec,
    hardware: str,
    prompt: int,
    output: int,
    batch: int = 1,
    samples: int = 100,
    seed: int = 0,
    profile: str = DEFAULT_PROFILE,
    weights_dtype: str = "bf16",
    kv_dtype: str | None = None,
    price_usd_per_hour: PriceOverride = None,
    allow_longer_context: bool = False,
) -> pd.DataFrame:
    """One row per accepted architecture: its dimensions, counts, the fewest-device layout that holds it
    (tp inside a server, then pipeline stages) and its times and cost. attrs: drawn, accepted, profile note,
    warnings (a request beyond the spec's context, when allowed)."""
    if min(prompt, output, batch, samples) < 1:
        raise UserError("--prompt, --output, --batch and --samples must be ≥ 1")
    context_warning = context_overflow(spec, prompt, output, allow_longer=allow_longer_context)
    device = load_hardware(hardware)
    price = price_for(price_usd_per_hour, device.id)
    chosen, note = resolve_profile(profile, device)
    models, drawn, consistent = sample_architectures(spec, samples, seed)
    results: dict[tuple, dict] = {}  # samples often repeat an architecture: simulate each distinct one once
    rows = []
    for model in models:
        key = (model.num_layers, model.hidden_size, model.num_heads, model.kv_heads, model.ffn_dim, model.moe)
        if key not in results:
            start = Deployment(model, device, weights_dtype=weights_dtype, kv_dtype=kv_dtype)
            results[key] = _simulate_on_fewest(start, chosen, batch, prompt, output, price)
        rows.append(
            {
                "sample": model.id,
                "num_layers": model.num_layers,
                "hidden_size": model.hidden_size,
                "num_heads": model.num_heads,
                "num_kv_heads": model.kv_heads,
                "ffn_dim": model.ffn_dim,
                **results[key],
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs |= {"drawn": drawn, "consistent": consistent, "accepted": len(models), "profile_note": note}
    frame.attrs["warnings"] = [] if context_warning is None else [context_warning]
    return frame


def _simulate_on_fewest(
    start: Deployment, profile: Profile, batch: int, prompt: int, output: int, price_usd_per_hour: float | None
) -> dict:
    """Times and cost on the fewest devices that hold the model (`fewest_devices`: tp in a server, then
    pipeline stages of full servers)."""
    layout = fewest_devices(start, profile, batch, prompt, output)
    if layout is None:
        return {"fits": False}
    sim = simulate(layout, profile, batch, prompt, output)
    ttft, decode = float(sim.ttft_s[0]), float(sim.decode_s[0])
    cost = request_cost(
        layout.hardware,
        layout.n_accelerators,
        ttft,
        decode,
        batch * prompt,
        batch * output,
        price_usd_per_hour=price_usd_per_hour,
    )
    return {
        "fits": True,
        "devices": layout.n_accelerators,
        "tp": layout.tp,
        "pp": layout.pp,
        "ttft_s": ttft,
        "tpot_s": float(sim.tpot_s[0]),
        "e2e_s": float(sim.e2e_s[0]),
        "usd_per_million_tokens": cost.usd_per_million_tokens,
    }


def percentiles(frame: pd.DataFrame, columns: tuple[str, ...] = SUMMARY_COLUMNS) -> dict[str, dict[str, float]]:
    """p10 / p50 / p90 of each column over the samples that fit."""
    fitting = frame[frame["fits"]] if "fits" in frame else frame
    return {
        column: dict(
            zip(("p10", "p50", "p90"), (float(v) for v in np.percentile(fitting[column], [10, 50, 90])), strict=True)
        )
        for column in columns
        if column in fitting and len(fitting)
    }
