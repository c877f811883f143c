"""`idealrt closed`: a closed model from a partial spec (totals, ranges, written assumptions): sample plausible
architectures that match the parameter totals within 2 %, run each on the fewest devices that hold it, and report
p10 / p50 / p90 of ttft, tpot, end-to-end time and cost per 1M tokens. Seeded: the same run gives the same numbers.
Spec format: `simulator/planner/partial_spec.py`; the shipped example is `--spec closed_model_gpt4_rumoured`
(the file is in the examples folder named under --spec)."""

from __future__ import annotations

import argparse

from idealrt.simulator.cli.common import (
    add_context_override_argument,
    add_dtype_arguments,
    add_price_argument,
    add_profile_argument,
    console,
    print_json,
    print_warnings,
    seconds,
)
from idealrt.simulator.examples_dir import EXAMPLES_DIR, shipped_example
from idealrt.simulator.validation import BATCH, SAMPLES, SEED, TOKENS, name_or_path

UNITS = {
    "ttft_s": "time to first token",
    "tpot_s": "time per output token",
    "e2e_s": "end to end",
    "usd_per_million_tokens": "$ per 1M tokens",
    "devices": "devices",
    "num_layers": "layers",
    "hidden_size": "hidden size",
    "ffn_dim": "MLP width (per expert for MoE)",
}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "closed", help="estimate a closed model from a partial spec (sampled)", description=__doc__
    )
    parser.add_argument(
        "--spec",
        required=True,
        type=name_or_path("partial spec"),
        help=f"partial spec YAML, or the name of a shipped example (in {EXAMPLES_DIR}: "
        f"{', '.join(sorted(path.stem for path in EXAMPLES_DIR.glob('*.yaml')))})",
    )
    parser.add_argument(
        "--hardware", required=True, type=name_or_path("hardware"), help="catalog id (see `idealrt hardware`)"
    )
    parser.add_argument("--prompt", type=TOKENS, required=True, help="prompt tokens per sequence")
    parser.add_argument("--output", type=TOKENS, required=True, help="output tokens per sequence")
    parser.add_argument("--batch", type=BATCH, default=1, help="sequences per request (default 1)")
    parser.add_argument("--samples", type=SAMPLES, default=100, help="architectures to accept (default 100)")
    parser.add_argument("--seed", type=SEED, default=0, help="sampling seed (default 0)")
    add_profile_argument(parser, default="auto")
    add_dtype_arguments(parser)
    add_price_argument(parser)
    add_context_override_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.planner.closed_model import closed_model_frame, percentiles
    from idealrt.simulator.planner.partial_spec import load_partial_spec
    from idealrt.simulator.planner.prices import parse_price_argument

    spec = load_partial_spec(shipped_example(args.spec))
    frame = closed_model_frame(
        spec,
        args.hardware,
        args.prompt,
        args.output,
        batch=args.batch,
        samples=args.samples,
        seed=args.seed,
        profile=args.profile,
        weights_dtype=args.weights_dtype,
        kv_dtype=args.kv_dtype,
        price_usd_per_hour=parse_price_argument(args.price_usd_per_hour),
        allow_longer_context=args.allow_longer_context,
    )
    summary = percentiles(frame)
    fitting = int(frame["fits"].sum()) if len(frame) else 0
    record = {
        "model": spec.id,
        "hardware": args.hardware,
        "prompt_tokens": args.prompt,
        "output_tokens": args.output,
        "batch": args.batch,
        "seed": args.seed,
        "profile_note": frame.attrs["profile_note"],
        "candidates_drawn": frame.attrs["drawn"],
        "candidates_consistent": frame.attrs["consistent"],
        "samples_accepted": frame.attrs["accepted"],
        "samples_fitting": fitting,
        "percentiles": summary,
        "assumptions": spec.assumptions,
        "warnings": frame.attrs["warnings"],
    }
    if args.json:
        print_json(record)
        return 0
    out = console()
    out.print(
        f"[bold]{spec.name}[/bold] on {args.hardware}: batch {args.batch}, prompt {args.prompt}, "
        f"output {args.output}; weights {args.weights_dtype}"
    )
    attrs = frame.attrs
    out.print(
        f"{attrs['consistent']} of {attrs['drawn']} candidate architectures match the totals within "
        f"{spec.tolerance:.0%} (seed {args.seed}); the first {attrs['accepted']} are used; {fitting} fit in "
        f"memory, each run on its fewest devices (tp in a server, then pipeline stages)"
    )
    out.print(frame.attrs["profile_note"])
    from rich.table import Table

    table = Table(title_justify="left")
    for column in ("quantity", "p10", "p50", "p90"):
        table.add_column(column, justify="left" if column == "quantity" else "right")
    for name, values in summary.items():
        cells = [_format(name, values[p]) for p in ("p10", "p50", "p90")]
        table.add_row(UNITS.get(name, name), *cells)
    out.print(table)
    out.print("assumptions:")
    for assumption in spec.assumptions:
        out.print(f"  - {assumption}")
    print_warnings(frame)
    return 0


def _format(name: str, value: float) -> str:
    if name.endswith("_s"):
        return seconds(value)
    if name.startswith("usd"):
        return f"{value:.3g}"
    return f"{value:.0f}"
