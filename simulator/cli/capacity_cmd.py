"""`idealrt capacity`: the fewest devices (replicas × layout) serving QPS requests/s within a TTFT p99 and a
mean TPOT target, per hardware, side by side (cheapest per hour first).

The continuous-batching approximation (full statement: `simulator/planner/capacity.py`): each replica decodes
up to B sequences per step, d(B) from the simulator at the mean decode context; each new request's prefill runs
alone and pauses decoding, so tpot = d(B)/(1 − ρ), ρ = the replica's time share spent prefilling; replicas are
added until slot utilization ≤ 85 % of capacity(B) = 1/((E[o]−1)·d(B)/B + E[prefill]); TTFT p99 = the 99th
percentile wait of an M/G/1 queue of prefills (Pollaczek–Khinchine mean, exponential tail) + one decode step +
the 99th-percentile prefill. Optimistic: Poisson arrivals, perfectly balanced replicas, no queueing for a free
slot beyond the 85 % cap, no KV paging or preemption, tpot is a mean. Pessimistic: prefills never batched or
chunked, every decode step as if all B slots were full, p99s of the TTFT parts added. Lengths are independent.

Each hardware's answer is then confirmed by `idealrt serve` (--engine, default vllm, at most B sequences): one
replica fed QPS / R requests/s for --confirm-requests requests; its TTFT p99 and mean TPOT are shown next to
the closed form's (✗: serve misses a target; serve_* fields in --json; --confirm-requests 0 skips it).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from idealrt.simulator.cli.common import (
    add_context_override_argument,
    add_dtype_arguments,
    add_price_argument,
    add_profile_argument,
    console,
    hardware_list,
    print_json,
    print_warnings,
    seconds,
)
from idealrt.simulator.planner.options import CONFIRM_REQUESTS, DEFAULT_MAX_DEVICES
from idealrt.simulator.validation import DEGREE, DURATION_S, QPS, name_or_path

if TYPE_CHECKING:
    import pandas as pd

DISTRIBUTIONS = (
    "const:N | uniform:LOW:HIGH (inclusive) | lognormal:MEDIAN:SIGMA (median tokens, σ of ln length); "
    "evaluated at 512 fixed quantiles, so results are deterministic"
)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "capacity",
        help="fewest devices meeting TTFT p99 and TPOT targets at a QPS",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        type=name_or_path("model"),
        help="catalog id (see `idealrt models`) or a config.json path",
    )
    parser.add_argument("--hardware", required=True, help="catalog id(s), comma-separated")
    parser.add_argument("--qps", type=QPS, required=True, help="requests per second arriving (Poisson)")
    parser.add_argument("--prompt-dist", required=True, help=f"prompt tokens per request: {DISTRIBUTIONS}")
    parser.add_argument("--output-dist", required=True, help=f"output tokens per request: {DISTRIBUTIONS}")
    parser.add_argument(
        "--ttft-p99", type=DURATION_S, required=True, help="target 99th-percentile time to first token, s"
    )
    parser.add_argument("--tpot", type=DURATION_S, required=True, help="target mean time per output token, s")
    add_profile_argument(parser, default="auto")
    parser.add_argument(
        "--max-devices",
        type=DEGREE,
        default=DEFAULT_MAX_DEVICES,
        help=f"largest layout of one replica, devices (default {DEFAULT_MAX_DEVICES})",
    )
    add_dtype_arguments(parser)
    add_price_argument(parser, "the catalog's on-demand price; one USD figure for all, or HW=USD,HW=USD")
    add_context_override_argument(parser)
    parser.add_argument("--engine", default="vllm", help="serve preset confirming each answer (default vllm)")
    parser.add_argument(
        "--confirm-requests",
        type=int,
        default=CONFIRM_REQUESTS,
        help=f"requests serve simulates per confirmation (default {CONFIRM_REQUESTS}; 0: closed form only)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.planner.capacity import Targets, capacity_frame
    from idealrt.simulator.planner.distributions import parse_distribution
    from idealrt.simulator.planner.prices import parse_price_argument

    prompt = parse_distribution(args.prompt_dist, "--prompt-dist")
    output = parse_distribution(args.output_dist, "--output-dist")
    targets = Targets(ttft_p99_s=args.ttft_p99, tpot_s=args.tpot)
    hardware = hardware_list(args.hardware)
    frame = capacity_frame(
        args.model,
        hardware,
        args.qps,
        prompt,
        output,
        targets,
        profile=args.profile,
        max_devices=args.max_devices,
        weights_dtype=args.weights_dtype,
        kv_dtype=args.kv_dtype,
        price_usd_per_hour=parse_price_argument(args.price_usd_per_hour),
        allow_longer_context=args.allow_longer_context,
        engine=args.engine,
        confirm_requests=args.confirm_requests,
    )
    if args.json:
        print_json(
            {
                "model": args.model,
                "qps": args.qps,
                "prompt_dist": prompt.spec,
                "output_dist": output.spec,
                "mean_prompt_tokens": prompt.mean(),
                "mean_output_tokens": output.mean(),
                "ttft_p99_target_s": targets.ttft_p99_s,
                "tpot_target_s": targets.tpot_s,
                "notes": frame.attrs["notes"],
                "warnings": frame.attrs["warnings"],
                "options": frame.to_dict(orient="records"),
            }
        )
        return 0
    title = (
        f"{args.model} at {args.qps:g} req/s, prompt {prompt.spec} (mean {prompt.mean():.0f}), output "
        f"{output.spec} (mean {output.mean():.0f}); targets ttft p99 ≤ {seconds(targets.ttft_p99_s)}, "
        f"tpot ≤ {seconds(targets.tpot_s)}"
    )
    print_table(frame, title)
    return 0


def print_table(frame: pd.DataFrame, title: str) -> None:
    out = console()
    out.width = max(out.width, 180)
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = (
        "hardware",
        "devices",
        "replicas",
        "layout",
        "B",
        "ttft p99",
        "tpot",
        "tpot band",
        "serve ttft p99",
        "serve tpot",
        "slots used",
        "prefill share",
        "$/hour",
        "$/1M tok",
        "profile",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("hardware", "layout", "profile") else "right", no_wrap=True
        )
    for row in frame.itertuples():
        layout = f"{row.devices_per_replica}× tp{row.tp} pp{row.pp}" + (f" ep{row.ep}" if row.ep > 1 else "")
        table.add_row(
            row.hardware,
            str(row.devices),
            str(row.replicas),
            layout,
            str(row.batch),
            seconds(row.ttft_p99_s),
            seconds(row.tpot_s),
            f"{seconds(row.tpot_s_low)} – {seconds(row.tpot_s_high)}" if row.profile_kind != "ideal" else "—",
            _confirmed(row.serve_ttft_p99_s, row.serve_meets_targets),
            _confirmed(row.serve_tpot_s, row.serve_meets_targets),
            f"{100 * row.slot_utilization:.0f}%",
            f"{100 * row.prefill_utilization:.0f}%",
            f"{row.usd_per_hour:.2f}",
            f"{row.usd_per_million_tokens:.3g}",
            row.profile,
        )
    out.print(table)
    best = frame.iloc[0]
    replicas = f"{best.replicas} replica{'s' if best.replicas > 1 else ''}"
    out.print(
        f"cheapest: {best.devices} × {best.hardware} ({replicas} of {best.devices_per_replica}, "
        f"B = {best.batch}) at ${best.usd_per_hour:.2f}/hour"
    )
    for note in frame.attrs["notes"]:
        out.print(f"  {note}")
    print_warnings(frame)


def _confirmed(value: float | None, meets: bool | None) -> str:
    """A serve figure, marked ✗ when serve misses a target; — when not confirmed."""
    if value is None or value != value:
        return "—"
    return seconds(value) + ("" if meets else " ✗")
