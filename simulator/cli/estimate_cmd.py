"""`idealrt estimate`: one request on one deployment — time, memory and a per-op breakdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idealrt.simulator.cli.common import (
    add_context_override_argument,
    add_deployment_arguments,
    add_profile_argument,
    console,
    print_json,
    seconds,
    si,
)
from idealrt.simulator.validation import BATCH, TOKENS, output_file

if TYPE_CHECKING:
    import pandas as pd

    from idealrt.simulator.estimate import EstimateInputs
    from idealrt.simulator.simulation import Simulation


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "estimate", help="time, memory and per-op breakdown of one request", description=__doc__
    )
    add_deployment_arguments(parser)
    parser.add_argument("--batch", type=BATCH, default=1, help="sequences in the request (default 1)")
    parser.add_argument("--prompt", type=TOKENS, required=True, help="prompt tokens per sequence")
    parser.add_argument("--output", type=TOKENS, required=True, help="output tokens per sequence")
    add_profile_argument(parser)
    parser.add_argument("--naive-attention", action="store_true", help="materialize the score matrix in HBM")
    head = parser.add_mutually_exclusive_group()
    head.add_argument(
        "--lm-head-all-positions",
        dest="lm_head_all_positions",
        action="store_true",
        default=None,
        help="prefill runs the LM head on every prompt position (default: as the profile says)",
    )
    head.add_argument(
        "--lm-head-last-only",
        dest="lm_head_all_positions",
        action="store_false",
        help="prefill runs the LM head on the last position only",
    )
    parser.add_argument(
        "--no-memory-check", action="store_true", help="estimate even when the model does not fit (then fits=false)"
    )
    add_context_override_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.add_argument(
        "--ops", action="store_true", help="after the summary, a table per phase: every op's FLOPs, bytes, bound, time"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="split the calibrated time into datasheet roofline, kernel inefficiency, "
        "latency/host overhead and communication",
    )
    parser.add_argument(
        "--plot",
        type=output_file,
        metavar="FILE",
        help="write a roofline PNG to FILE and, next to it, the time by op class "
        "(FILE_time.png) and, under a calibrated profile, the ideal → calibrated parts "
        "(FILE_ideal_to_calibrated.png)",
    )
    parser.set_defaults(handler=run)


def inputs_from_args(args: argparse.Namespace) -> EstimateInputs:
    from idealrt.simulator.estimate import EstimateInputs

    return EstimateInputs(
        model=args.model,
        hardware=args.hardware,
        prompt_tokens=args.prompt,
        output_tokens=args.output,
        batch=args.batch,
        tp=args.tp,
        pp=args.pp,
        ep=args.ep,
        weights_dtype=args.weights_dtype,
        act_dtype=args.act_dtype,
        kv_dtype=args.kv_dtype,
        profile=args.profile,
        naive_attention=args.naive_attention,
        lm_head_all_positions=args.lm_head_all_positions,
        check_memory=not args.no_memory_check,
        allow_longer_context=args.allow_longer_context,
    )


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.estimate import estimate_record, run_estimate

    sim, note = run_estimate(inputs_from_args(args))
    record = estimate_record(sim, note)
    breakdown = ideal_to_calibrated_parts(sim, args.lm_head_all_positions) if args.breakdown else None
    if args.json:
        if breakdown is not None:
            record["ideal_to_calibrated"] = breakdown.drop(columns="share").to_dict(orient="index")
        print_json(record)
    else:
        print_summary(record)
        if args.ops:
            print_op_tables(record)
        if args.breakdown:
            print_breakdown(breakdown)
    if args.plot:
        for path in write_plots(sim, args.plot, breakdown, args.lm_head_all_positions):
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def ideal_to_calibrated_parts(sim: Simulation, lm_head_all_positions: bool | None) -> pd.DataFrame | None:
    """None under the ideal profile: the roofline is the whole prediction, there is nothing to break down."""
    if sim.profile.kind == "ideal":
        return None
    from idealrt.simulator.planner.breakdown import ideal_to_calibrated

    return ideal_to_calibrated(
        sim.deployment, sim.profile, int(sim.batch[0]), int(sim.prompt[0]), int(sim.output[0]), lm_head_all_positions
    )


def print_breakdown(breakdown: pd.DataFrame | None) -> None:
    out = console()
    if breakdown is None:
        out.print(
            "breakdown: under the 'ideal' profile the prediction is the datasheet roofline itself; "
            "nothing to break down"
        )
        return
    from rich.table import Table

    table = Table(title="Ideal → calibrated (parts add up to the calibrated time)", title_justify="left")
    for column in ("part", "prefill", "decode (all steps)", "end to end", "share"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for part, row in breakdown.iterrows():
        table.add_row(
            str(part).replace("_", " "),
            seconds(row["prefill_s"]),
            seconds(row["decode_s"]),
            seconds(row["e2e_s"]),
            f"{100 * row['share']:.1f}%",
        )
    totals = breakdown[["prefill_s", "decode_s", "e2e_s"]].sum()
    table.add_row("total", *(seconds(totals[name]) for name in ("prefill_s", "decode_s", "e2e_s")), "100%")
    out.print(table)


def write_plots(
    sim: Simulation, path: Path, breakdown: pd.DataFrame | None, lm_head_all_positions: bool | None
) -> list[Path]:
    """The roofline at `path`, the time by op class beside it, and the ideal → calibrated parts when calibrated."""
    from idealrt.simulator.plots.figure import simulation_title
    from idealrt.simulator.plots.roofline import plot_roofline
    from idealrt.simulator.plots.time_breakdown import plot_time_breakdown

    sibling = path.with_suffix("")
    written = [plot_roofline(sim, path), plot_time_breakdown(sim, f"{sibling}_time.png")]
    if breakdown is None:
        breakdown = ideal_to_calibrated_parts(sim, lm_head_all_positions)
    if breakdown is not None:
        from idealrt.simulator.plots.ideal_to_calibrated import plot_ideal_to_calibrated

        written.append(plot_ideal_to_calibrated(breakdown, f"{sibling}_ideal_to_calibrated.png", simulation_title(sim)))
    return written


def print_summary(record: dict[str, Any]) -> None:
    out = console()
    d = record
    layout = f"tp={d['tp']} pp={d['pp']}" + (f" ep={d['ep']}" if d["ep"] > 1 else "")
    out.print(
        f"[bold]{d['model']}[/bold] on {d['n_accelerators']} × {d['hardware']} ({layout}), "
        f"batch {d['batch']}, prompt {d['prompt_tokens']}, output {d['output_tokens']}; "
        f"weights {d['weights_dtype']}, activations {d['act_dtype']}, KV {d['kv_dtype']}"
    )
    out.print(f"{d['profile_note']}")
    band = d["profile"] != "ideal"
    for name, label in (
        ("ttft_s", "time to first token"),
        ("tpot_s", "time per output token"),
        ("e2e_s", "end to end"),
    ):
        extra = f"  (band {seconds(d[name + '_low'])} – {seconds(d[name + '_high'])})" if band else ""
        out.print(f"  {label:<22} {seconds(d[name])}{extra}")
    if band:
        out.print(f"  band: {d['band_note']}")
    fused = d["fused_bound"]
    out.print(
        f"  fused bound            TTFT {seconds(fused['ttft_s'])}, TPOT {seconds(fused['tpot_s'])}  "
        "(whole pass: max(FLOPs / peak, bytes / bandwidth))"
    )
    out.print(
        f"  params {si(d['params_total'])} total, {si(d['params_active'])} active; "
        f"weights {si(d['weights_bytes'], 'B')}; KV cache {si(d['kv_cache_bytes_per_token'], 'B')}/token"
    )
    out.print(
        f"  memory per device {si(d['memory_bytes_per_accelerator'], 'B')} of "
        f"{si(d['memory_capacity_bytes_per_accelerator'], 'B')} usable "
        f"(weights {si(d['weights_bytes_per_accelerator'], 'B')}, "
        f"KV {si(d['kv_cache_bytes_per_accelerator'], 'B')}, "
        f"activations {si(d['activation_bytes_per_accelerator'], 'B')}) — "
        f"{'fits' if d['fits'] else 'DOES NOT FIT'}"
    )
    for warning in d["extrapolation"]:
        out.print(f"  [yellow]extrapolating:[/yellow] {warning}")


def print_op_tables(record: dict[str, Any]) -> None:
    out = console()
    for phase, title in (
        ("prefill", "Prefill (one pass over the prompt)"),
        ("decode", f"Decode ({record['output_tokens'] - 1} steps, summed)"),
    ):
        rows = [row for row in record["ops"] if row["phase"] == phase]
        phase_time = sum(row["time_s"] for row in rows)
        if not phase_time:
            continue
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in ("op", "class", "runs", "FLOPs", "bytes", "FLOP/B", "bound", "time", "share"):
            table.add_column(column, justify="left" if column in ("op", "class", "bound") else "right")
        for row in rows:
            intensity = row["arithmetic_intensity"]
            table.add_row(
                row["name"],
                row["op_class"],
                str(row["runs_per_pass"]),
                si(row["flops"]),
                # collectives move no device memory of their own: show the bytes they put on the wire
                si(row["wire_bytes"], "B") + " wire" if row["op_class"] == "collective" else si(row["bytes"], "B"),
                "—" if intensity is None else f"{intensity:.3g}",
                row["bound"],
                seconds(row["time_s"]),
                f"{100 * row['time_s'] / phase_time:.1f}%",
            )
        out.print(table)
