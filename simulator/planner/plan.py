"""`plan`: every feasible configuration of a model on some hardware, ranked, with the cost–latency Pareto front.

Layouts (`layouts`): tensor parallelism (tp) inside one server, dividing its device count, and valid for the
model (`check_parallelism`: heads, KV heads and MLP widths divisible); expert parallelism (ep) over the divisors of the expert count, MoE
only; pipeline stages (pp) 1, 2, …; n = tp·pp·ep ≤ max_devices. A layout spanning several servers is built of
whole servers — its tp·ep groups fill them — as in Narayanan et al. (2021), "Efficient Large-Scale Language
Model Training on GPU Clusters Using Megatron-LM": tensor parallelism within a node, pipeline across nodes.

Batch: given, or (max batch) the largest whose weights + KV cache + activation workspace fit on the fullest
device (`largest_batch`). Every configuration is simulated once; cost comes from `request_cost` (input tokens
are charged the prefill time, output tokens the decode time). A configuration is Pareto-optimal when no other
is at least as good in both cost per 1M tokens and end-to-end latency, and better in one.

Objective `throughput-per-dollar` (needs an SLO: a TTFT p99 and a mean TPOT): each layout's largest Poisson
rate that `serve` sustains within the SLO on one replica (engine preset, default vLLM; requests of the given
prompt and output), turned into output tokens per dollar at that rate (rate × output tokens: below saturation
throughput equals the arrival rate; `slo_*` columns); ranked by it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.bands import prediction_band
from idealrt.simulator.context_limits import context_overflow
from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.deployment import Deployment, check_parallelism
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.placement import fewest_devices, memory_for
from idealrt.simulator.planner.cost import SECONDS_PER_HOUR, device_price, request_cost
from idealrt.simulator.planner.options import DEFAULT_MAX_DEVICES, MAX_BATCH, OBJECTIVES, SLO_OBJECTIVE
from idealrt.simulator.planner.prices import PriceOverride, price_for, unknown_priced_hardware
from idealrt.simulator.planner.profile_mix import profile_mix_warning
from idealrt.simulator.profile import Profile, resolve_profile
from idealrt.simulator.simulation import simulate

GB = 1e9


def layouts(
    model: ModelSpec,
    hardware: HardwareSpec,
    max_devices: int = DEFAULT_MAX_DEVICES,
    weights_dtype: str = "bf16",
    kv_dtype: str | None = None,
) -> list[Deployment]:
    """Every valid (tp, pp, ep) of at most `max_devices` devices, in (ep, tp, pp) order."""
    node = hardware.devices_per_node
    experts = model.moe.num_experts if model.moe is not None else 1
    found = []
    for ep in (e for e in range(1, experts + 1) if experts % e == 0):
        for tp in (t for t in range(1, node + 1) if node % t == 0):  # TP groups tile a server
            group = tp * ep
            stages_allowed = (max_devices if group % node == 0 else min(max_devices, node)) // group
            for pp in range(1, min(stages_allowed, model.num_layers) + 1):
                try:
                    check_parallelism(model, tp, pp, ep)
                    found.append(
                        Deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights_dtype=weights_dtype, kv_dtype=kv_dtype)
                    )
                except UserError:  # heads not divisible, or no link spec for a group that spans servers
                    continue
    return found


def largest_batch(
    deployment: Deployment, profile: Profile, prompt: float, output: float, limit: int = MAX_BATCH
) -> int:
    """The largest batch (≤ limit) whose memory fits; 0 when batch 1 does not.

    Memory is convex in the sequences per expert-parallel group g = ⌈batch/ep⌉ (weights, plus KV cache linear
    in g, plus the largest op's workspace: a maximum of affine terms), so the line through g = 1 and g = 2 bounds
    the fitting g from above; one vectorized memory evaluation up to that bound finds the exact answer.
    """
    ep = deployment.ep
    probe = memory_for(deployment, profile, np.array([ep, 2.0 * ep]), prompt, output)  # type: ignore[arg-type]
    if not bool(probe.fits[0]):
        return 0
    base, second = (float(x) for x in probe.total_bytes)
    slope = second - base
    groups = limit if slope <= 0 else math.floor((probe.capacity_bytes - base) / slope) + 1
    bound = min(limit, groups * ep)
    batches = np.arange(1, bound + 1, dtype=np.float64)
    fits = memory_for(deployment, profile, batches, prompt, output).fits  # type: ignore[arg-type]
    return int(np.argmin(fits)) if not fits.all() else bound


def configuration_row(
    deployment: Deployment,
    profile: Profile,
    batch: int,
    prompt: int,
    output: int,
    price_usd_per_hour: float | None = None,
) -> dict:
    """One simulated configuration as a plan row (field names are the `plan --json` API); the price is the
    catalog's unless given."""
    sim = simulate(deployment, profile, batch, prompt, output)
    ttft, tpot, e2e, decode = (float(x[0]) for x in (sim.ttft_s, sim.tpot_s, sim.e2e_s, sim.decode_s))
    busy = float(np.ravel(sim.prefill.device_busy)[0] + np.sum(sim.decode_step_weights * sim.decode.device_busy))
    cost = request_cost(
        deployment.hardware,
        deployment.n_accelerators,
        ttft,
        decode,
        batch * prompt,
        batch * output,
        busy_s=busy,
        price_usd_per_hour=price_usd_per_hour,
    )
    band = prediction_band(profile, deployment.hardware)
    return {
        "hardware": deployment.hardware.id,
        "tp": deployment.tp,
        "pp": deployment.pp,
        "ep": deployment.ep,
        "devices": deployment.n_accelerators,
        "batch": batch,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_s": e2e,
        "ttft_s_low": ttft * band.low_factor,
        "ttft_s_high": ttft * band.high_factor,
        "tpot_s_low": tpot * band.low_factor,
        "tpot_s_high": tpot * band.high_factor,
        "e2e_s_low": e2e * band.low_factor,
        "e2e_s_high": e2e * band.high_factor,
        "output_tokens_per_s": batch * output / e2e,
        "tokens_per_s": batch * (prompt + output) / e2e,
        "usd_per_request": cost.usd,
        "usd_per_sequence": cost.usd / batch,
        "usd_per_million_tokens": cost.usd_per_million_tokens,
        "usd_per_million_input_tokens": cost.usd_per_million_input_tokens,
        "usd_per_million_output_tokens": cost.usd_per_million_output_tokens,
        "utilization": cost.utilization,
        "memory_gb_per_device": float(sim.memory.total_bytes[0]) / GB,
        "memory_capacity_gb_per_device": sim.memory.capacity_bytes / GB,
        "fits": bool(sim.memory.fits[0]),
        "price_usd_per_device_hour": cost.price_usd_per_device_hour,
        "profile": profile.name,
        "profile_kind": profile.kind,
        "band_note": band.source,
    }


def pareto_mask(cost: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """True where no other point is ≤ in both and < in one (both minimized)."""
    cost, latency = np.asarray(cost, dtype=np.float64), np.asarray(latency, dtype=np.float64)
    no_worse = (cost[None, :] <= cost[:, None]) & (latency[None, :] <= latency[:, None])
    better = (cost[None, :] < cost[:, None]) | (latency[None, :] < latency[:, None])
    return ~np.any(no_worse & better, axis=1)


def rank(frame: pd.DataFrame, objective: str) -> pd.DataFrame:
    """Best first by the objective; ties broken by latency, then cost, then fewer devices."""
    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")
    column, ascending = OBJECTIVES[objective]
    keys = [column] + [k for k in ("e2e_s", "usd_per_million_tokens", "devices") if k != column]
    ranked = frame.sort_values(keys, ascending=[ascending] + [True] * (len(keys) - 1), kind="mergesort")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def hardware_rows(
    model: ModelSpec,
    hardware: HardwareSpec,
    profile: Profile,
    prompt: int,
    output: int,
    batch: int | None,
    max_devices: int,
    weights_dtype: str,
    kv_dtype: str | None,
    price_usd_per_hour: float | None = None,
) -> list[dict]:
    """Rows of every layout that fits on one hardware (batch None: each layout's largest batch)."""
    rows = []
    for layout in layouts(model, hardware, max_devices, weights_dtype, kv_dtype):
        size = largest_batch(layout, profile, prompt, output) if batch is None else batch
        if size < 1:
            continue
        row = configuration_row(layout, profile, size, prompt, output, price_usd_per_hour)
        if row["fits"]:
            rows.append(row)
    return rows


def plan_frame(
    model: str,
    hardware: list[str],
    prompt: int,
    output: int,
    batch: int | None = 1,
    objective: str = "latency",
    profile: str = DEFAULT_PROFILE,
    max_devices: int = DEFAULT_MAX_DEVICES,
    weights_dtype: str = "bf16",
    kv_dtype: str | None = None,
    price_usd_per_hour: PriceOverride = None,
    allow_longer_context: bool = False,
    slo_ttft_p99_s: float | None = None,
    slo_tpot_s: float | None = None,
    engine: str = "vllm",
    slo_requests: int = 400,
) -> pd.DataFrame:
    """Every feasible configuration, ranked by `objective`, with a `pareto` column; batch None: max batch.
    Objective `throughput-per-dollar` needs slo_ttft_p99_s and slo_tpot_s (see the module docstring).

    `frame.attrs["notes"]` holds the profile used per hardware and why a hardware had no feasible layout;
    `frame.attrs["warnings"]` a request beyond the model's context (when allowed) and rows that mix profiles.
    Raises UserError (one line, naming the memory needed) when no hardware has one.
    """
    for name, value in (("prompt", prompt), ("output", output), ("max-devices", max_devices)):
        if value < 1:
            raise UserError(f"--{name} must be ≥ 1 (got {value})")
    if batch is not None and batch < 1:
        raise UserError(f"--batch must be ≥ 1 (got {batch})")
    if objective not in OBJECTIVES and objective != SLO_OBJECTIVE:
        raise UserError(f"unknown objective '{objective}'; choose one of {', '.join([*OBJECTIVES, SLO_OBJECTIVE])}")
    if objective == SLO_OBJECTIVE and not (slo_ttft_p99_s and slo_tpot_s and slo_ttft_p99_s > 0 and slo_tpot_s > 0):
        raise UserError(f"--objective {SLO_OBJECTIVE} needs --slo-ttft-p99 and --slo-tpot (seconds, > 0)")
    spec = load_model(model)
    context_warning = context_overflow(spec, prompt, output, allow_longer=allow_longer_context)
    profiles: dict[str, Profile] = {}
    rows: list[dict] = []
    notes: list[str] = []
    misses: list[str] = []
    first_miss: tuple[HardwareSpec, Profile] | None = None
    devices = [load_hardware(hardware_id) for hardware_id in hardware]
    unknown_priced_hardware(price_usd_per_hour, [device.id for device in devices])
    for device in devices:
        chosen, note = resolve_profile(profile, device)
        profiles[device.id] = chosen
        notes.append(f"{device.id}: {note}")
        found = hardware_rows(
            spec,
            device,
            chosen,
            prompt,
            output,
            batch,
            max_devices,
            weights_dtype,
            kv_dtype,
            price_for(price_usd_per_hour, device.id),
        )
        if not found:
            first_miss = first_miss or (device, chosen)
            misses.append(
                no_fit_clause(spec, device, chosen, batch or 1, prompt, output, max_devices, weights_dtype, kv_dtype)
            )
        rows.extend(found)
    if not rows:
        assert first_miss is not None
        device, chosen = first_miss
        single = Deployment(spec, device, weights_dtype=weights_dtype, kv_dtype=kv_dtype)
        raise UserError(memory_needed(single, chosen, batch or 1, prompt, output) + "; " + "; ".join(misses))
    notes.extend(misses)
    frame = pd.DataFrame(rows)
    frame.attrs.update(weights_dtype=weights_dtype, kv_dtype=kv_dtype)
    frame["pareto"] = pareto_mask(frame["usd_per_million_tokens"].to_numpy(), frame["e2e_s"].to_numpy())
    if objective == SLO_OBJECTIVE:
        assert slo_ttft_p99_s is not None and slo_tpot_s is not None
        frame = slo_columns(frame, spec, profiles, prompt, output, (slo_ttft_p99_s, slo_tpot_s), engine, slo_requests)
        frame.attrs["notes"] = notes + frame.attrs.get("notes", [])
        notes = frame.attrs["notes"]
        frame = frame.sort_values(
            ["slo_output_tokens_per_usd", "e2e_s", "usd_per_million_tokens", "devices"],
            ascending=[False, True, True, True],
            kind="mergesort",
            na_position="last",
        ).reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        frame.attrs["notes"] = notes
        return frame
    ranked = rank(frame, objective)
    ranked.attrs["notes"] = notes
    ranked.attrs["warnings"] = [w for w in (context_warning, profile_mix_warning(ranked)) if w is not None]
    return ranked


def slo_columns(
    frame: pd.DataFrame,
    spec: ModelSpec,
    profiles: dict[str, Profile],
    prompt: int,
    output: int,
    slo: tuple[float, float],
    engine: str,
    requests: int,
) -> pd.DataFrame:
    """Per layout: `slo_max_rate_per_s` (one replica, serve), `slo_output_tokens_per_s` at that rate and
    `slo_output_tokens_per_usd` (NaN where serve cannot simulate the model; a note says why)."""
    from idealrt.simulator.planner.distributions import parse_distribution
    from idealrt.simulator.serving.confirm import Slo, max_sustainable_rate
    from idealrt.simulator.serving.engines import load_engine

    policy = load_engine(engine)
    lengths = parse_distribution(f"const:{prompt}"), parse_distribution(f"const:{output}")
    rates, tokens, per_usd, notes = [], [], [], []
    done: dict[tuple, tuple[float, float, float]] = {}
    weights_dtype, kv_dtype = frame.attrs.get("weights_dtype", "bf16"), frame.attrs.get("kv_dtype")
    for row in frame.itertuples():
        key = (row.hardware, row.tp, row.pp, row.ep)
        if key not in done:
            device = load_hardware(row.hardware)
            layout = Deployment(
                spec, device, tp=row.tp, pp=row.pp, ep=row.ep, weights_dtype=weights_dtype, kv_dtype=kv_dtype
            )
            try:
                rate, _ = max_sustainable_rate(
                    layout, profiles[row.hardware], policy, *lengths, Slo(*slo), requests=requests
                )
            except UserError as exc:
                notes.append(f"{row.hardware} tp={row.tp} pp={row.pp}: not simulated by serve ({exc})")
                done[key] = (float("nan"),) * 3
            else:
                out_per_s = rate * output  # below saturation a replica's throughput is its arrival rate
                usd_per_s = device_price(device) * layout.n_accelerators / SECONDS_PER_HOUR
                done[key] = (rate, out_per_s, out_per_s / usd_per_s)
        rate, out_per_s, out_per_usd = done[key]
        rates.append(rate)
        tokens.append(out_per_s)
        per_usd.append(out_per_usd)
    frame = frame.assign(slo_max_rate_per_s=rates, slo_output_tokens_per_s=tokens, slo_output_tokens_per_usd=per_usd)
    frame.attrs["notes"] = notes
    return frame


def memory_needed(single: Deployment, profile: Profile, batch: int, prompt: int, output: int) -> str:
    """`<model> needs 812 GB at batch 1 (weights … + KV cache … + activations …)`, on one device's terms."""
    memory = memory_for(single, profile, batch, prompt, output)
    weights, kv, activations = (
        float(x[0]) / GB for x in (memory.weights_bytes, memory.kv_cache_bytes, memory.activation_bytes)
    )
    return (
        f"{single.model.id} needs {weights + kv + activations:.0f} GB at batch {batch} (weights {weights:.1f} GB"
        f" + KV cache {kv:.1f} GB + activations {activations:.1f} GB)"
    )


def no_fit_clause(
    spec: ModelSpec,
    device: HardwareSpec,
    profile: Profile,
    batch: int,
    prompt: int,
    output: int,
    max_devices: int,
    weights_dtype: str,
    kv_dtype: str | None,
) -> str:
    """Why one hardware has no feasible layout, and how many devices would fit (tp in a server, then pp)."""
    clause = f"no layout of up to {max_devices} × {device.id} fits"
    start = Deployment(spec, device, weights_dtype=weights_dtype, kv_dtype=kv_dtype)
    fit = fewest_devices(start, profile, batch, prompt, output)
    if fit is not None and fit.n_accelerators > max_devices:
        clause += f" ({fit.n_accelerators} × {device.id} would: --tp {fit.tp} --pp {fit.pp}; raise --max-devices)"
    return clause
