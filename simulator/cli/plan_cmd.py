"""`idealrt plan`: every feasible configuration of a model on some hardware, ranked, with the Pareto front of
cost per 1M tokens against end-to-end latency (★ marks Pareto-optimal rows)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.table import Table

from simulator.cli.common import (
    add_dtype_arguments,
    add_profile_argument,
    console,
    hardware_list,
    print_json,
    seconds,
    si,
)
from simulator.planner.options import DEFAULT_MAX_DEVICES, OBJECTIVES
from simulator.validation import BATCH, COUNT, DEGREE, TOKENS, name_or_path, output_file

if TYPE_CHECKING:
    import pandas as pd

TABLE_WIDTH = 150  # every column unabbreviated, even when piped


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "plan", help="rank every feasible layout and batch; cost–latency Pareto front", description=__doc__
    )
    parser.add_argument(
        "--model",
        required=True,
        type=name_or_path("model"),
        help="catalog id (see `idealrt models`) or a config.json path",
    )
    parser.add_argument("--hardware", required=True, help="catalog id(s), comma-separated (h100-sxm,a100-sxm-80gb)")
    parser.add_argument("--prompt", type=TOKENS, required=True, help="prompt tokens per sequence")
    parser.add_argument("--output", type=TOKENS, required=True, help="output tokens per sequence")
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=BATCH, default=1, help="sequences per request (default 1)")
    batch.add_argument(
        "--max-batch",
        action="store_true",
        help="each layout at the largest batch whose weights + KV cache + workspace fit",
    )
    parser.add_argument(
        "--objective",
        choices=list(OBJECTIVES),
        default="latency",
        help="rank by e2e latency, $ per 1M tokens or output tokens/s (default latency)",
    )
    add_profile_argument(parser, default="auto")
    parser.add_argument(
        "--max-devices",
        type=DEGREE,
        default=DEFAULT_MAX_DEVICES,
        help=f"largest layout considered, devices (default {DEFAULT_MAX_DEVICES})",
    )
    add_dtype_arguments(parser)
    parser.add_argument("--top", type=COUNT, default=20, help="rows shown (Pareto rows always shown; default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.add_argument(
        "--plot", type=output_file, metavar="FILE", help="write the cost–latency scatter with its Pareto front (PNG)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from simulator.planner.plan import plan_frame

    hardware = hardware_list(args.hardware)
    frame = plan_frame(
        args.model,
        hardware,
        args.prompt,
        args.output,
        batch=None if args.max_batch else args.batch,
        objective=args.objective,
        profile=args.profile,
        max_devices=args.max_devices,
        weights_dtype=args.weights_dtype,
        kv_dtype=args.kv_dtype,
    )
    batch_text = "max batch" if args.max_batch else f"batch {args.batch}"
    title = f"{args.model}: prompt {args.prompt}, output {args.output}, {batch_text}; ranked by {args.objective}"
    if args.plot:
        from simulator.plots.pareto import plot_pareto  # matplotlib only when a plot is asked for

        plot_pareto(frame, args.plot, f"{title}\nprofile: {', '.join(sorted(set(frame['profile'])))}")
    if args.json:
        print_json(
            {
                "model": args.model,
                "prompt_tokens": args.prompt,
                "output_tokens": args.output,
                "objective": args.objective,
                "max_batch": args.max_batch,
                "notes": frame.attrs["notes"],
                "configurations": frame.to_dict(orient="records"),
            }
        )
    else:
        print_table(frame, title, args.top)
        if args.plot:
            console().print(f"wrote {args.plot}")
    return 0


def print_table(frame: pd.DataFrame, title: str, top: int) -> None:
    out = console()
    out.width = max(out.width, TABLE_WIDTH)
    shown = frame[(frame["rank"] <= top) | frame["pareto"]]
    table = Table(title=title, title_justify="left")
    columns = (
        "#",
        "★",
        "hardware",
        "layout",
        "dev",
        "batch",
        "ttft",
        "tpot",
        "e2e",
        "out tok/s",
        "$/1M tok",
        "$/request",
        "mem/dev",
    )
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("★", "hardware", "layout") else "right",
            no_wrap=True,
            min_width=max(map(len, shown["hardware"])) if column == "hardware" else None,
        )
    for row in shown.itertuples():
        layout = f"tp{row.tp} pp{row.pp}" + (f" ep{row.ep}" if row.ep > 1 else "")
        table.add_row(
            str(row.rank),
            "★" if row.pareto else "",
            row.hardware,
            layout,
            str(row.devices),
            str(row.batch),
            seconds(row.ttft_s),
            seconds(row.tpot_s),
            seconds(row.e2e_s),
            si(row.output_tokens_per_s),
            f"{row.usd_per_million_tokens:.3g}",
            f"{row.usd_per_request:.3g}",
            f"{row.memory_gb_per_device:.1f} GB",
        )
    out.print(table)
    out.print(
        f"★ Pareto-optimal in $/1M tokens vs end-to-end latency: {int(frame['pareto'].sum())} of "
        f"{len(frame)} configurations (showing {len(shown)})"
    )
    for note in frame.attrs["notes"]:
        out.print(f"  {note}")
