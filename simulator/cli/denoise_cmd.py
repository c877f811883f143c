"""`idealrt denoise --runs FILE`: the paper's denoised runtime from measured API runs.

Fits runtime = overhead + α'_p + β·(o − 1) to runs of (prompt_tokens, output_tokens, seconds) by the procedure of
Narayanan et al. (NeurIPS 2023): per prompt size an OLS line on o, one pooled slope β, overhead = α_{p_min} − β.
With --model, prints the idealized α_p and β of the same model beside them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from idealrt.simulator.cli.common import add_profile_argument, console, print_json

DEFAULT_HARDWARE = "a100-sxm-80gb"
DEFAULT_PROFILE = "megatron-a100-2022"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "denoise", help="the paper's denoised runtime (α'_p, β, overhead) from measured runs", description=__doc__
    )
    parser.add_argument(
        "--runs", type=Path, required=True, metavar="FILE", help="CSV with prompt_tokens, output_tokens, seconds"
    )
    parser.add_argument("--model", help="catalog id or config.json: print its idealized runtime beside the fit")
    parser.add_argument("--hardware", default=DEFAULT_HARDWARE, help=f"for --model (default {DEFAULT_HARDWARE})")
    add_profile_argument(parser, default=DEFAULT_PROFILE)
    parser.add_argument(
        "--layout",
        choices=("paper", "fewest"),
        default="paper",
        help="for a paper model: the paper's GPUs (default) or the fewest that hold it",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.planner.denoise import denoise_file, denoised_record, idealized_beside

    fitted = denoise_file(args.runs)
    beside = None
    if args.model:
        beside = idealized_beside(fitted, args.model, args.hardware, args.profile, args.layout)
    record = denoised_record(fitted, beside)
    if args.json:
        print_json(record)
    else:
        print_record(record, args.runs)
    return 0


def print_record(record: dict[str, Any], path: Path) -> None:
    from rich import box
    from rich.table import Table

    out = console()
    ideal = record["idealized"]
    table = Table(
        title=f"Denoised runtime from {record['runs']} runs in {path}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    columns = ["prompt", "runs", "slope ms/tok", "α_p ms", "α'_p ms"]
    if ideal:
        columns += ["idealized α_p ms", "α'_p / idealized"]
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for size in map(str, record["prompt_tokens"]):
        denoised = record["denoised_alpha_s"][size]
        row = [size, str(record["runs_by_prompt"][size]), f"{record['slope_by_prompt_s'][size] * 1e3:.4g}"]
        row += [f"{record['alpha_s'][size] * 1e3:.4g}", f"{denoised * 1e3:.4g}"]
        if ideal:
            alpha = ideal["alpha_s"][size]
            row += [f"{alpha * 1e3:.4g}", f"{denoised / alpha:.3g}"]
        table.add_row(*row)
    out.print()
    out.print(table)
    line = (
        f"β {record['beta_s'] * 1e3:.4g} ms per output token; overhead {record['overhead_s'] * 1e3:.4g} ms per request"
    )
    if ideal:
        line += f"; idealized β {ideal['beta_s'] * 1e3:.4g} ms ({record['beta_s'] / ideal['beta_s']:.3g}× measured/idealized)"
    out.print(line)
    out.print(f"pooled fit residual rms {record['residual_rms_s'] * 1e3:.3g} ms")
    if ideal:
        out.print(
            f"idealized: {ideal['model']} on {ideal['n_accelerators']} × {ideal['hardware']} "
            f"(tp {ideal['tp']} × pp {ideal['pp']}; {ideal['layout_source']}), {ideal['profile_note']}"
        )
