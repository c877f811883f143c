"""Capacity: the fewest devices (replicas × layout) that serve a stream of requests within latency targets.

The continuous-batching approximation, for one replica (a layout from `plan.layouts`) with at most B sequences
decoding at once, requests arriving at rate λ_r = QPS / R (R replicas, requests spread evenly):

1. Lengths. Prompt p and output o are independent; E[·] over their distributions (`distributions.py`).
2. Decode step. d(B) = the simulator's decode-step time at batch B and context c̄ = E[p] + E[o(o−1)]/(2E[o−1]),
   the mean context over all decode steps (steps are linear in context, so the mean step is the step at c̄).
   d(B) is taken with all B slots full even when fewer are busy (pessimistic).
3. Prefill. Each new request is prefilled alone, at its own prompt length, and pre-empts decoding (as vLLM's
   default scheduler does): S = prefill time at batch 1, prompt p; E[S], E[S²] and its 99th percentile S₉₉.
   Prefills are neither batched nor chunked (pessimistic for throughput, a simplification for tpot).
4. Throughput. The replica spends ρ = λ_r·E[S] of its time prefilling and the rest in decode steps of B tokens,
   so B slots sustain capacity(B) = 1 / ((E[o] − 1)·d(B)/B + E[S]) requests/s (Little's law with B in flight).
   R ≥ QPS / (cap · capacity(B)): slot utilization at most UTILIZATION_CAP, headroom for arrival bursts; slots
   filling up and requests queueing for one is otherwise not modelled (optimistic).
5. TPOT (a mean, not a percentile): tpot = d(B) / (1 − ρ), the decode step stretched by the prefills that
   interrupt it. Needs d(B) ≤ target and ρ ≤ 1 − d(B)/target.
6. TTFT p99 = W₉₉ + d(B) + S₉₉: the wait for prefills ahead (an M/G/1 queue of prefills: Poisson arrivals —
   optimistic for bursty traffic — service S), the decode step in progress, the request's own prefill. Summing
   the three 99th percentiles overstates the p99 of their sum (pessimistic). W₉₉ from the Pollaczek–Khinchine
   mean wait E[W] = λ_r·E[S²] / (2(1 − ρ)) (Kleinrock, "Queueing Systems" Vol. 1, 1975, ch. 5) with an
   exponential tail P(W > t) = ρ·exp(−ρt/E[W]) (P(W > 0) = ρ exactly; exponential shape from Kingman, "On queues
   in heavy traffic", J. R. Stat. Soc. B 24, 1962; exact for M/M/1):  W₉₉ = E[S²]·ln(100ρ) / (2E[S](1 − ρ)).
7. Memory. B is at most the largest batch whose weights + KV cache of B sequences at E[p] + E[o] tokens each
   + workspace fit (no paging or preemption modelled; KV at the mean final length: neither side of exact).

For each layout and B, R = the largest of the three bounds (4, 5, 6), each solved in closed form (6 by
bisection on ρ). The layout's answer is the B with the fewest devices R·n (ties: the smallest B). Per hardware:
fewest devices, then lower tpot; across hardware: lowest $/hour first. Costs from `request_cost` over one hour.

Confirmation. The chosen configuration of each hardware is then simulated with `serve` (engine preset, default
vLLM, its max_num_seqs set to B): one replica fed a Poisson stream of QPS / R (a random load balancer) with
lengths drawn from the same distributions. The `serve_*` fields report what the step-by-step engine sees —
queueing for a slot, batched prefills, paging — next to the closed form's answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from idealrt.simulator.bands import prediction_band
from idealrt.simulator.context_limits import context_overflow
from idealrt.simulator.counting import count_pass, counting_options
from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.pass_timing import time_pass
from idealrt.simulator.planner.cost import SECONDS_PER_HOUR, request_cost
from idealrt.simulator.planner.distributions import LengthDistribution
from idealrt.simulator.planner.options import CONFIRM_REQUESTS, DEFAULT_MAX_DEVICES
from idealrt.simulator.planner.plan import largest_batch, layouts
from idealrt.simulator.planner.prices import PriceOverride, price_for, unknown_priced_hardware
from idealrt.simulator.planner.profile_mix import profile_mix_warning
from idealrt.simulator.profile import Profile, resolve_profile
from idealrt.simulator.simulation import simulate
from idealrt.simulator.structure import Phase

SERVE_FIELDS = (
    "serve_engine",
    "serve_ttft_p50_s",
    "serve_ttft_p99_s",
    "serve_tpot_s",
    "serve_tpot_p99_s",
    "serve_output_tokens_per_s",
    "serve_mean_batch",
    "serve_meets_targets",
)
UTILIZATION_CAP = 0.85  # largest fraction of a replica's decode-slot capacity planned for
MAX_CONCURRENCY = 4096  # largest B searched per replica
_ROUNDING = 1e-9  # replica counts within this relative distance of an integer are that integer


@dataclass(frozen=True)
class Targets:
    ttft_p99_s: float
    tpot_s: float


@dataclass(frozen=True)
class PrefillStats:
    """Prefill time S of one request over the prompt distribution."""

    mean_s: float
    second_moment_s2: float
    p99_s: float


@dataclass(frozen=True)
class Sizing:
    batch: int  # B, the decode slots of one replica
    replicas: int
    step_s: float  # d(B)
    tpot_s: float
    ttft_p99_s: float
    prefill_utilization: float  # ρ
    slot_utilization: float  # per-replica QPS / capacity(B)
    replica_capacity_qps: float  # capacity(B)


def wait_p99(rho: np.ndarray, prefill: PrefillStats) -> np.ndarray:
    """99th percentile of the wait for the prefills ahead (step 6 of the module docstring)."""
    rho = np.asarray(rho, dtype=np.float64)
    scale = prefill.second_moment_s2 / (2 * prefill.mean_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = scale * np.log(100 * rho) / (1 - rho)
    return np.where(rho <= 0.01, 0.0, np.where(rho < 1, wait, np.inf))


def max_prefill_utilization(budget_s: np.ndarray, prefill: PrefillStats, iterations: int = 100) -> np.ndarray:
    """The largest ρ whose wait_p99 ≤ budget (0 where the budget is negative); wait_p99 grows with ρ."""
    budget = np.asarray(budget_s, dtype=np.float64)
    low, high = np.full_like(budget, 0.01), np.ones_like(budget)
    for _ in range(iterations):
        middle = (low + high) / 2
        ok = wait_p99(middle, prefill) <= budget
        low, high = np.where(ok, middle, low), np.where(ok, high, middle)
    return np.where(budget >= 0, low, 0.0)


def _ceil(x: np.ndarray) -> np.ndarray:
    return np.ceil(x * (1 - _ROUNDING))


def size_replicas(
    step_s: np.ndarray,
    prefill: PrefillStats,
    decode_tokens: float,
    qps: float,
    targets: Targets,
    cap: float = UTILIZATION_CAP,
) -> Sizing | None:
    """Fewest replicas, and the smallest B achieving it, for decode-step times step_s[B − 1], B = 1 … len;
    None when no B meets the targets at any replica count."""
    step = np.asarray(step_s, dtype=np.float64)
    slots = np.arange(1, len(step) + 1, dtype=np.float64)
    capacity = 1 / (decode_tokens * step / slots + prefill.mean_s)
    by_slots = _ceil(qps / (cap * capacity))
    headroom = 1 - step / targets.tpot_s if decode_tokens > 0 else np.ones_like(step)
    with np.errstate(divide="ignore"):
        by_tpot = np.where(headroom > 0, _ceil(qps * prefill.mean_s / headroom), np.inf)
        rho_max = max_prefill_utilization(targets.ttft_p99_s - step - prefill.p99_s, prefill)
        by_ttft = np.where(rho_max > 0, _ceil(qps * prefill.mean_s / rho_max), np.inf)
    replicas = np.maximum(np.maximum(by_slots, by_tpot), np.maximum(by_ttft, 1))
    if not np.isfinite(replicas).any():
        return None
    best = int(np.argmin(replicas))
    count = int(replicas[best])
    rho = qps / count * prefill.mean_s
    return Sizing(
        batch=best + 1,
        replicas=count,
        step_s=float(step[best]),
        tpot_s=float(step[best] / (1 - rho)) if decode_tokens > 0 else 0.0,
        ttft_p99_s=float(wait_p99(np.array(rho), prefill) + step[best] + prefill.p99_s),
        prefill_utilization=rho,
        slot_utilization=qps / count / float(capacity[best]),
        replica_capacity_qps=float(capacity[best]),
    )


def decode_context(prompt: LengthDistribution, output: LengthDistribution) -> float:
    """Mean KV context over all decode steps: step k of a request sits at p + k, k = 1 … o − 1."""
    o = output.grid()
    steps = np.mean(o - 1)
    return prompt.mean() + (float(np.mean(o * (o - 1))) / (2 * steps) if steps > 0 else 0.0)


def prefill_stats(deployment: Deployment, profile: Profile, prompt: LengthDistribution) -> PrefillStats:
    grid = prompt.grid()
    lengths = np.append(grid, prompt.quantile(0.99))
    times = simulate(deployment, profile, 1, lengths, 1).ttft_s
    return PrefillStats(float(np.mean(times[:-1])), float(np.mean(times[:-1] ** 2)), float(times[-1]))


def step_times(deployment: Deployment, profile: Profile, max_batch: int, context: float) -> np.ndarray:
    """d(B) for B = 1 … max_batch: one decode step at KV context `context` (at least 2: a prompt token and the
    first output token), one decode pass over every B at once."""
    batches = np.arange(1, max_batch + 1, dtype=np.float64)
    counts = count_pass(deployment, Phase.DECODE, batches, 1.0, max(context, 2.0), counting_options(profile))
    return np.asarray(time_pass(counts, profile.params(), detail=False).total)


def capacity_frame(
    model: str,
    hardware: list[str],
    qps: float,
    prompt: LengthDistribution,
    output: LengthDistribution,
    targets: Targets,
    profile: str = DEFAULT_PROFILE,
    max_devices: int = DEFAULT_MAX_DEVICES,
    weights_dtype: str = "bf16",
    kv_dtype: str | None = None,
    price_usd_per_hour: PriceOverride = None,
    allow_longer_context: bool = False,
    engine: str = "vllm",
    confirm_requests: int = CONFIRM_REQUESTS,
) -> pd.DataFrame:
    """The fewest-device configuration per hardware meeting the targets, cheapest per hour first.
    Raises UserError with the best achievable tpot and ttft p99 when no hardware meets them, and when the
    longest prompt and output the distributions give exceed the model's context (unless allowed). Each answer is
    confirmed by `serve` over `confirm_requests` requests of one replica (0: no confirmation; the serve_* fields
    are None)."""
    if qps <= 0 or targets.ttft_p99_s <= 0 or targets.tpot_s <= 0:
        raise UserError("--qps, --ttft-p99 and --tpot must be > 0")
    spec = load_model(model)
    context_warning = context_overflow(
        spec, int(np.max(prompt.grid())), int(np.max(output.grid())), allow_longer=allow_longer_context
    )
    devices = [load_hardware(hardware_id) for hardware_id in hardware]
    unknown_priced_hardware(price_usd_per_hour, [device.id for device in devices])
    rows, notes, best_tpot, best_ttft = [], [], (math.inf, ""), (math.inf, "")
    for device in devices:
        chosen, note = resolve_profile(profile, device)
        notes.append(f"{device.id}: {note}")
        candidates = []
        for layout in layouts(spec, device, max_devices, weights_dtype, kv_dtype):
            slots = min(
                largest_batch(layout, chosen, math.ceil(prompt.mean()), math.ceil(output.mean())), MAX_CONCURRENCY
            )
            if slots < 1:
                continue
            step = step_times(layout, chosen, slots, decode_context(prompt, output))
            prefill = prefill_stats(layout, chosen, prompt)
            label = f"{device.id} {_layout_text(layout)}"
            best_tpot = min(best_tpot, (float(step[0]), label))
            best_ttft = min(best_ttft, (float(step[0]) + prefill.p99_s, label))
            sizing = size_replicas(step, prefill, output.mean() - 1, qps, targets)
            if sizing is not None:
                candidates.append((sizing.replicas * layout.n_accelerators, sizing.tpot_s, layout, sizing))
        if candidates:
            _, _, layout, sizing = min(candidates, key=lambda c: (c[0], c[1]))
            price = price_for(price_usd_per_hour, device.id)
            row = capacity_row(layout, sizing, qps, prompt, output, chosen, price)
            confirmed, note = confirm_row(
                layout, chosen, sizing, qps, prompt, output, targets, engine, confirm_requests
            )
            rows.append(row | confirmed)
            if note:
                notes.append(f"{device.id}: {note}")
        else:
            notes.append(f"{device.id}: no layout of up to {max_devices} devices per replica meets the targets")
    if not rows and not math.isfinite(best_tpot[0]):
        raise UserError(
            f"no layout of up to {max_devices} devices per replica of {', '.join(hardware)} holds one request of "
            f"the mean lengths ({math.ceil(prompt.mean())} prompt + {math.ceil(output.mean())} output tokens) "
            f"of {spec.id} in memory"
        )
    if not rows:
        raise UserError(
            f"no configuration meets tpot ≤ {targets.tpot_s * 1e3:.3g} ms and ttft p99 ≤ {targets.ttft_p99_s:.3g} s"
            f"; best achievable (an idle replica, batch 1): tpot {best_tpot[0] * 1e3:.3g} ms ({best_tpot[1]}), "
            f"ttft p99 {best_ttft[0]:.3g} s ({best_ttft[1]})"
        )
    frame = pd.DataFrame(rows).sort_values(["usd_per_hour", "devices"], kind="mergesort").reset_index(drop=True)
    frame.attrs["notes"] = notes
    frame.attrs["warnings"] = [w for w in (context_warning, profile_mix_warning(frame)) if w is not None]
    return frame


def capacity_row(
    layout: Deployment,
    sizing: Sizing,
    qps: float,
    prompt: LengthDistribution,
    output: LengthDistribution,
    profile: Profile,
    price_usd_per_hour: float | None = None,
) -> dict:
    """One hardware's answer (field names are the `capacity --json` API); cost is one hour of the fleet."""
    devices = sizing.replicas * layout.n_accelerators
    hour = SECONDS_PER_HOUR
    cost = request_cost(
        layout.hardware,
        devices,
        hour * sizing.prefill_utilization,
        hour * (1 - sizing.prefill_utilization),
        round(hour * qps * prompt.mean()),
        round(hour * qps * output.mean()),
        price_usd_per_hour=price_usd_per_hour,
    )
    band = prediction_band(profile, layout.hardware)
    return {
        "hardware": layout.hardware.id,
        "devices": devices,
        "replicas": sizing.replicas,
        "tp": layout.tp,
        "pp": layout.pp,
        "ep": layout.ep,
        "devices_per_replica": layout.n_accelerators,
        "batch": sizing.batch,
        "ttft_p99_s": sizing.ttft_p99_s,
        "tpot_s": sizing.tpot_s,
        "decode_step_s": sizing.step_s,
        "prefill_utilization": sizing.prefill_utilization,
        "slot_utilization": sizing.slot_utilization,
        "replica_capacity_qps": sizing.replica_capacity_qps,
        "usd_per_hour": cost.usd,
        "usd_per_million_tokens": cost.usd_per_million_tokens,
        "usd_per_million_input_tokens": cost.usd_per_million_input_tokens,
        "usd_per_million_output_tokens": cost.usd_per_million_output_tokens,
        "price_usd_per_device_hour": cost.price_usd_per_device_hour,
        "ttft_p99_s_low": sizing.ttft_p99_s * band.low_factor,
        "ttft_p99_s_high": sizing.ttft_p99_s * band.high_factor,
        "tpot_s_low": sizing.tpot_s * band.low_factor,
        "tpot_s_high": sizing.tpot_s * band.high_factor,
        "profile": profile.name,
        "profile_kind": profile.kind,
        "band_note": band.source,
    }


def confirm_row(
    layout: Deployment,
    profile: Profile,
    sizing: Sizing,
    qps: float,
    prompt: LengthDistribution,
    output: LengthDistribution,
    targets: Targets,
    engine: str,
    requests: int,
) -> tuple[dict, str]:
    """The serve_* fields of one hardware's answer (None when not confirmed) and a note on why not."""
    from idealrt.simulator.serving.confirm import Slo, replica_record
    from idealrt.simulator.serving.engines import load_engine

    empty: dict = dict.fromkeys(SERVE_FIELDS)
    if requests <= 0:
        return empty, ""
    try:
        policy = load_engine(engine, max_num_seqs=sizing.batch)
        record = replica_record(layout, profile, policy, qps / sizing.replicas, prompt, output, requests)
    except UserError as exc:
        return empty, f"not confirmed by serve ({exc})"
    return {
        "serve_engine": engine,
        "serve_ttft_p50_s": record["ttft_s_p50"],
        "serve_ttft_p99_s": record["ttft_s_p99"],
        "serve_tpot_s": record["tpot_s_mean"],
        "serve_tpot_p99_s": record["tpot_s_p99"],
        "serve_output_tokens_per_s": record["output_tokens_per_s"] * sizing.replicas,
        "serve_mean_batch": record["mean_batch"],
        "serve_meets_targets": Slo(targets.ttft_p99_s, targets.tpot_s).met(record),
    }, ""


def _layout_text(layout: Deployment) -> str:
    return f"tp={layout.tp} pp={layout.pp}" + (f" ep={layout.ep}" if layout.ep > 1 else "")
