"""The `estimate` use case: one request on one deployment, as the public JSON record (field names are API)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from idealrt.simulator.bands import prediction_band
from idealrt.simulator.context_limits import context_overflow
from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.memory import model_sizes
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.parameters import parameter_counts
from idealrt.simulator.profile import Profile, resolve_profile
from idealrt.simulator.report import fused_bound, host_overhead_s, op_rows
from idealrt.simulator.simulation import Simulation, simulate

GB = 1e9


@dataclass(frozen=True)
class EstimateInputs:
    model: str
    hardware: str
    prompt_tokens: int
    output_tokens: int
    batch: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    weights_dtype: str = "bf16"
    act_dtype: str | None = None
    kv_dtype: str | None = None
    profile: str = DEFAULT_PROFILE
    naive_attention: bool = False
    lm_head_all_positions: bool | None = None  # None: what the profile says the stack does
    check_memory: bool = True
    allow_longer_context: bool = False  # estimate prompt + output beyond the model's max_context (and say so)


def build_deployment(inputs: EstimateInputs) -> Deployment:
    for name in ("batch", "prompt_tokens", "output_tokens"):
        if getattr(inputs, name) < 1:
            raise UserError(f"--{name.split('_')[0]} must be ≥ 1 (got {getattr(inputs, name)})")
    return Deployment(
        model=load_model(inputs.model),
        hardware=load_hardware(inputs.hardware),
        tp=inputs.tp,
        pp=inputs.pp,
        ep=inputs.ep,
        weights_dtype=inputs.weights_dtype,
        act_dtype=inputs.act_dtype,
        kv_dtype=inputs.kv_dtype,
    )


def run_estimate(inputs: EstimateInputs) -> tuple[Simulation, str]:
    """The simulation and a note on which profile was used (and why, for `auto`)."""
    deployment = build_deployment(inputs)
    context_overflow(
        deployment.model, inputs.prompt_tokens, inputs.output_tokens, allow_longer=inputs.allow_longer_context
    )
    profile, note = resolve_profile(inputs.profile, deployment.hardware)
    sim = simulate(
        deployment,
        profile,
        inputs.batch,
        inputs.prompt_tokens,
        inputs.output_tokens,
        inputs.lm_head_all_positions,
        inputs.naive_attention,
    )
    if inputs.check_memory and not bool(sim.memory.fits[0]):
        raise UserError(does_not_fit_message(sim))
    return sim, note


def does_not_fit_message(sim: Simulation, case: int = 0) -> str:
    from idealrt.simulator.placement import fewest_devices  # the search needs the simulator; imported on the error path

    d = sim.deployment
    memory = sim.memory
    need = float(memory.total_bytes[case])
    parts = (
        f"weights {memory.weights_bytes[case] / GB:.1f} GB + KV cache {memory.kv_cache_bytes[case] / GB:.1f} GB"
        f" + activations {memory.activation_bytes[case] / GB:.1f} GB"
    )
    layout = f"tp={d.tp} pp={d.pp}" + (f" ep={d.ep}" if d.ep > 1 else "")
    message = (
        f"{d.model.id} does not fit on {d.n_accelerators} × {d.hardware.id} ({layout}): needs {need / GB:.1f} GB"
        f" per device ({parts}), has {memory.capacity_bytes / GB:.1f} GB usable"
    )
    fit = fewest_devices(d, sim.profile, int(sim.batch[case]), int(sim.prompt[case]), int(sim.output[case]))
    if fit is None:
        return message + "; no layout within 64 pipeline stages of full nodes fits"
    return message + f"; {fit.n_accelerators} × {d.hardware.id} would fit (--tp {fit.tp} --pp {fit.pp})"


def interval(profile: Profile, value: float) -> tuple[float, float]:
    """p10–p90 band from the profile's fit residuals (log(measured/predicted)); the ideal profile has none.
    Without the hardware's validated error: `simulator.bands.prediction_band` is the band `estimate` shows."""
    return value * math.exp(profile.fit.log_residual_p10), value * math.exp(profile.fit.log_residual_p90)


def extrapolation_warnings(profile: Profile, values: dict[str, float]) -> list[str]:
    """Inputs outside the range the profile was fitted on: predictions there are extrapolations."""
    warnings = []
    for name, (low, high) in profile.valid_range.items():
        if name in values and not low <= values[name] <= high:
            warnings.append(f"{name} {values[name]:g} outside the fitted range [{low:g}, {high:g}]")
    if profile.transfer_summary:  # carried to hardware it was not fitted on (simulator.profile_transfer)
        warnings.append(profile.transfer_summary)
    return warnings


def context_warnings(sim: Simulation, case: int = 0) -> list[str]:
    """The request's length beyond the model's context, as a warning (run_estimate refuses it unless allowed)."""
    warning = context_overflow(sim.deployment.model, int(sim.prompt[case]), int(sim.output[case]), allow_longer=True)
    return [] if warning is None else [warning]


def estimate_record(sim: Simulation, profile_note: str, case: int = 0) -> dict[str, Any]:
    """The `estimate --json` object for one case."""
    d = sim.deployment
    counts = parameter_counts(d.model)
    weights_bytes, kv_per_token = model_sizes(d)
    prefill_flops, decode_flops = sim.phase_totals("flops")
    prefill_bytes, decode_bytes = sim.phase_totals("bytes")
    ttft, tpot, e2e = (float(x[case]) for x in (sim.ttft_s, sim.tpot_s, sim.e2e_s))
    record: dict[str, Any] = {
        "model": d.model.id,
        "hardware": d.hardware.id,
        "tp": d.tp,
        "pp": d.pp,
        "ep": d.ep,
        "batch": int(sim.batch[case]),
        "prompt_tokens": int(sim.prompt[case]),
        "output_tokens": int(sim.output[case]),
        "weights_dtype": d.weights_dtype,
        "act_dtype": d.activation_dtype,
        "kv_dtype": d.kv_cache_dtype,
        "profile": sim.profile.name,
        "profile_note": profile_note,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_s": e2e,
    }
    band = prediction_band(sim.profile, d.hardware)
    for name, value in (("ttft_s", ttft), ("tpot_s", tpot), ("e2e_s", e2e)):
        record[f"{name}_low"], record[f"{name}_high"] = band.around(value)
    record["band_note"] = band.source
    memory = sim.memory
    record |= {
        "n_accelerators": d.n_accelerators,
        "params_total": counts.total,
        "params_active": counts.active,
        "weights_bytes": weights_bytes,
        "kv_cache_bytes_per_token": kv_per_token,
        "prefill_flops": float(prefill_flops[case]),
        "decode_flops": float(decode_flops[case]),
        "prefill_bytes": float(prefill_bytes[case]),
        "decode_bytes": float(decode_bytes[case]),
        "memory_bytes_per_accelerator": float(memory.total_bytes[case]),
        "weights_bytes_per_accelerator": float(memory.weights_bytes[case]),
        "kv_cache_bytes_per_accelerator": float(memory.kv_cache_bytes[case]),
        "activation_bytes_per_accelerator": float(memory.activation_bytes[case]),
        "memory_capacity_bytes_per_accelerator": memory.capacity_bytes,
        "fits": bool(memory.fits[case]),
        "fused_bound": fused_bound(sim, case),
        "prefill_host_overhead_s": host_overhead_s(sim.prefill, case),
        "decode_host_overhead_s": host_overhead_s(sim.decode, case, sim.decode_step_weights[case]),
        "extrapolation": context_warnings(sim, case)
        + extrapolation_warnings(
            sim.profile,
            {
                "batch": record["batch"],
                "prompt_tokens": record["prompt_tokens"],
                "output_tokens": record["output_tokens"],
                "params_total": counts.total,
                "tp": d.tp,
                "pp": d.pp,
                "prefill_tokens": record["batch"] * record["prompt_tokens"],
            },
        ),
        "ops": op_rows(sim, case),
    }
    return record
