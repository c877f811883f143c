"""`idealrt compare`: one request side by side across hardware — each on the fewest devices that hold it (tp inside
a server, then pipeline stages) unless --tp/--pp/--ep give the layout — with its profile, the band of that profile
on that hardware, and the cost per 1M tokens."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from idealrt.simulator.cli.common import (
    add_context_override_argument,
    add_dtype_arguments,
    add_price_argument,
    add_profile_argument,
    console,
    print_json,
    print_warnings,
    seconds,
    si,
)

if TYPE_CHECKING:
    import pandas as pd


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare", help="one request side by side across hardware, with profiles, bands and cost", description=__doc__
    )
    parser.add_argument("--model", required=True, help="catalog id (see `idealrt models`) or a config.json path")
    parser.add_argument("--hardware", required=True, help="catalog ids, comma-separated (h100-sxm,mi300x,b200)")
    parser.add_argument("--prompt", type=int, required=True, help="prompt tokens per sequence")
    parser.add_argument("--output", type=int, required=True, help="output tokens per sequence")
    parser.add_argument("--batch", type=int, default=1, help="sequences per request (default 1)")
    for flag, what in (("--tp", "tensor-parallel degree"), ("--pp", "pipeline stages"), ("--ep", "expert groups")):
        parser.add_argument(flag, type=int, default=None, help=f"{what} on every hardware (default: fewest devices)")
    add_profile_argument(parser)
    add_dtype_arguments(parser)
    add_price_argument(parser, "the catalog's on-demand price; one USD figure for all, or HW=USD,HW=USD")
    add_context_override_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.planner.compare import Layout, compare_frame
    from idealrt.simulator.planner.prices import parse_price_argument

    given = (args.tp, args.pp, args.ep)
    layout = None if given == (None, None, None) else Layout(*(value or 1 for value in given))
    frame = compare_frame(
        args.model,
        [name.strip() for name in args.hardware.split(",") if name.strip()],
        args.prompt,
        args.output,
        batch=args.batch,
        layout=layout,
        profile=args.profile,
        weights_dtype=args.weights_dtype,
        act_dtype=args.act_dtype,
        kv_dtype=args.kv_dtype,
        price_usd_per_hour=parse_price_argument(args.price_usd_per_hour),
        allow_longer_context=args.allow_longer_context,
    )
    if args.json:
        print_json(
            {
                "model": args.model,
                "prompt_tokens": args.prompt,
                "output_tokens": args.output,
                "batch": args.batch,
                "notes": frame.attrs["notes"],
                "warnings": frame.attrs["warnings"],
                "hardware": frame.to_dict(orient="records"),
            }
        )
        return 0
    how = "fewest devices that fit" if layout is None else f"tp{layout.tp} pp{layout.pp} ep{layout.ep}"
    title = f"{args.model}: batch {args.batch}, prompt {args.prompt}, output {args.output}; {how}"
    print_table(frame, title)
    return 0


def print_table(frame: pd.DataFrame, title: str) -> None:
    out = console()
    out.width = max(out.width, 170)
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = ("hardware", "layout", "dev", "ttft", "tpot", "e2e", "e2e band", "out tok/s", "$/hour", "$/1M tok")
    for column in (*columns, "mem/dev", "profile"):
        table.add_column(column, justify="left" if column in ("hardware", "layout", "profile") else "right")
    for row in frame.itertuples():
        table.add_row(
            row.hardware,
            f"tp{row.tp} pp{row.pp}" + (f" ep{row.ep}" if row.ep > 1 else ""),
            str(row.devices),
            seconds(row.ttft_s),
            seconds(row.tpot_s),
            seconds(row.e2e_s),
            f"{seconds(row.e2e_s_low)} – {seconds(row.e2e_s_high)}" if row.profile_kind != "ideal" else "—",
            si(row.output_tokens_per_s),
            f"{row.devices * row.price_usd_per_device_hour:.2f}",
            f"{row.usd_per_million_tokens:.3g}",
            f"{row.memory_gb_per_device:.1f} GB",
            row.profile,
        )
    out.print(table)
    for note in frame.attrs["notes"]:
        out.print(f"  {note}")
    for band in frame.drop_duplicates("hardware").itertuples():
        if band.profile_kind != "ideal":
            out.print(f"  band {band.hardware}: {band.band_note}")
    print_warnings(frame)
