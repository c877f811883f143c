"""`idealrt plan`: every feasible configuration of a model on some hardware, ranked, with the Pareto front of
cost per 1M tokens against end-to-end latency (★ marks Pareto-optimal rows)."""

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
    si,
)
from idealrt.simulator.planner.options import DEFAULT_MAX_DEVICES, OBJECTIVES, SLO_OBJECTIVE
from idealrt.simulator.validation import BATCH, COUNT, DEGREE, TOKENS, name_or_path, output_file

if TYPE_CHECKING:
    import pandas as pd

TABLE_WIDTH = 190  # every column unabbreviated, even when piped


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
        choices=[*OBJECTIVES, SLO_OBJECTIVE],
        default="latency",
        help="rank by e2e latency, $ per 1M tokens, output tokens/s, or output tokens per $ at the largest rate "
        "`serve` sustains within --slo-ttft-p99 and --slo-tpot (default latency)",
    )
    parser.add_argument("--slo-ttft-p99", type=float, help=f"{SLO_OBJECTIVE}: TTFT p99 target, s")
    parser.add_argument("--slo-tpot", type=float, help=f"{SLO_OBJECTIVE}: mean TPOT target, s")
    parser.add_argument("--engine", default="vllm", help=f"{SLO_OBJECTIVE}: serve preset (default vllm)")
    add_profile_argument(parser, default="auto")
    parser.add_argument(
        "--max-devices",
        type=DEGREE,
        default=DEFAULT_MAX_DEVICES,
        help=f"largest layout considered, devices (default {DEFAULT_MAX_DEVICES})",
    )
    add_dtype_arguments(parser)
    add_price_argument(parser, "the catalog's on-demand price; one USD figure for all, or HW=USD,HW=USD")
    add_context_override_argument(parser)
    parser.add_argument("--top", type=COUNT, default=20, help="rows shown (Pareto rows always shown; default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.add_argument(
        "--plot", type=output_file, metavar="FILE", help="write the cost–latency scatter with its Pareto front (PNG)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.planner.plan import plan_frame
    from idealrt.simulator.planner.prices import parse_price_argument

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
        price_usd_per_hour=parse_price_argument(args.price_usd_per_hour),
        allow_longer_context=args.allow_longer_context,
        slo_ttft_p99_s=args.slo_ttft_p99,
        slo_tpot_s=args.slo_tpot,
        engine=args.engine,
    )
    batch_text = "max batch" if args.max_batch else f"batch {args.batch}"
    title = f"{args.model}: prompt {args.prompt}, output {args.output}, {batch_text}; ranked by {args.objective}"
    if args.plot:
        from idealrt.simulator.plots.pareto import plot_pareto  # matplotlib only when a plot is asked for

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
                "warnings": frame.attrs["warnings"],
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
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns: tuple[str, ...] = (
        "#",
        "★",
        "hardware",
        "layout",
        "dev",
        "batch",
        "ttft",
        "tpot",
        "e2e",
        "e2e band",
        "out tok/s",
        "$/1M tok",
        "$/request",
        "mem/dev",
        "profile",
    )
    slo = "slo_output_tokens_per_usd" in frame.columns
    if slo:
        columns = (*columns, "SLO rate", "SLO out tok/$")
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("★", "hardware", "layout", "profile") else "right",
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
            f"{seconds(row.e2e_s_low)} – {seconds(row.e2e_s_high)}" if row.profile_kind != "ideal" else "—",
            si(row.output_tokens_per_s),
            f"{row.usd_per_million_tokens:.3g}",
            f"{row.usd_per_request:.3g}",
            f"{row.memory_gb_per_device:.1f} GB",
            row.profile,
            *((f"{row.slo_max_rate_per_s:.3g}/s", si(row.slo_output_tokens_per_usd)) if slo else ()),
        )
    out.print(table)
    out.print(
        f"★ Pareto-optimal in $/1M tokens vs end-to-end latency: {int(frame['pareto'].sum())} of "
        f"{len(frame)} configurations (showing {len(shown)})"
    )
    for note in frame.attrs["notes"]:
        out.print(f"  {note}")
    print_warnings(frame)
