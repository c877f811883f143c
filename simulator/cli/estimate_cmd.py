"""`idealrt estimate`: one request on one deployment — time, memory and a per-op breakdown."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from simulator.cli.common import (
    add_deployment_arguments, add_profile_argument, console, print_json, seconds, si,
)  # fmt: skip
from simulator.estimate import EstimateInputs, estimate_record, run_estimate


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("estimate", help="time, memory and per-op breakdown of one request",
                                 description=__doc__)  # fmt: skip
    add_deployment_arguments(parser)
    parser.add_argument("--batch", type=int, default=1, help="sequences in the request (default 1)")
    parser.add_argument("--prompt", type=int, required=True, help="prompt tokens per sequence")
    parser.add_argument("--output", type=int, required=True, help="output tokens per sequence")
    add_profile_argument(parser)
    parser.add_argument("--naive-attention", action="store_true", help="materialize the score matrix in HBM")
    head = parser.add_mutually_exclusive_group()
    head.add_argument("--lm-head-all-positions", dest="lm_head_all_positions", action="store_true", default=None,
                      help="prefill runs the LM head on every prompt position (default: as the profile says)")  # fmt: skip
    head.add_argument("--lm-head-last-only", dest="lm_head_all_positions", action="store_false",
                      help="prefill runs the LM head on the last position only")  # fmt: skip
    parser.add_argument("--no-memory-check", action="store_true",
                        help="estimate even when the model does not fit (then fits=false)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.set_defaults(handler=run)


def inputs_from_args(args: argparse.Namespace) -> EstimateInputs:
    return EstimateInputs(
        model=args.model, hardware=args.hardware, prompt_tokens=args.prompt, output_tokens=args.output,
        batch=args.batch, tp=args.tp, pp=args.pp, ep=args.ep, weights_dtype=args.weights_dtype,
        act_dtype=args.act_dtype, kv_dtype=args.kv_dtype, profile=args.profile,
        naive_attention=args.naive_attention, lm_head_all_positions=args.lm_head_all_positions,
        check_memory=not args.no_memory_check,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    sim, note = run_estimate(inputs_from_args(args))
    record = estimate_record(sim, note)
    if args.json:
        print_json(record)
    else:
        print_human(record)
    return 0


def print_human(record: dict[str, Any]) -> None:
    out = console()
    for phase, title in (("prefill", "Prefill (one pass over the prompt)"),
                         ("decode", f"Decode ({record['output_tokens'] - 1} steps, summed)")):  # fmt: skip
        rows = [row for row in record["ops"] if row["phase"] == phase]
        phase_time = sum(row["time_s"] for row in rows)
        if not phase_time:
            continue
        table = Table(title=title, title_justify="left")
        for column in ("op", "class", "runs", "FLOPs", "bytes", "FLOP/B", "bound", "time", "share"):
            table.add_column(column, justify="left" if column in ("op", "class", "bound") else "right")
        for row in rows:
            intensity = row["arithmetic_intensity"]
            table.add_row(
                row["name"], row["op_class"], str(row["runs_per_pass"]), si(row["flops"]), si(row["bytes"], "B"),
                "—" if intensity is None else f"{intensity:.3g}", row["bound"], seconds(row["time_s"]),
                f"{100 * row['time_s'] / phase_time:.1f}%",
            )  # fmt: skip
        out.print(table)
    d = record
    layout = f"tp={d['tp']} pp={d['pp']}" + (f" ep={d['ep']}" if d["ep"] > 1 else "")
    out.print(f"[bold]{d['model']}[/bold] on {d['n_accelerators']} × {d['hardware']} ({layout}), "
              f"batch {d['batch']}, prompt {d['prompt_tokens']}, output {d['output_tokens']}; "
              f"weights {d['weights_dtype']}, activations {d['act_dtype']}, KV {d['kv_dtype']}")  # fmt: skip
    out.print(f"{d['profile_note']}")
    band = d["profile"] != "ideal"
    for name, label in (("ttft_s", "time to first token"), ("tpot_s", "time per output token"),
                        ("e2e_s", "end to end")):  # fmt: skip
        extra = f"  (p10–p90 {seconds(d[name + '_low'])} – {seconds(d[name + '_high'])})" if band else ""
        out.print(f"  {label:<22} {seconds(d[name])}{extra}")
    out.print(f"  params {si(d['params_total'])} total, {si(d['params_active'])} active; "
              f"weights {si(d['weights_bytes'], 'B')}; KV cache {si(d['kv_cache_bytes_per_token'], 'B')}/token")  # fmt: skip
    out.print(f"  memory per device {si(d['memory_bytes_per_accelerator'], 'B')} of "
              f"{si(d['memory_capacity_bytes_per_accelerator'], 'B')} usable "
              f"(weights {si(d['weights_bytes_per_accelerator'], 'B')}, "
              f"KV {si(d['kv_cache_bytes_per_accelerator'], 'B')}, "
              f"activations {si(d['activation_bytes_per_accelerator'], 'B')}) — "
              f"{'fits' if d['fits'] else 'DOES NOT FIT'}")  # fmt: skip
    for warning in d["extrapolation"]:
        out.print(f"  [yellow]extrapolating:[/yellow] {warning}")
