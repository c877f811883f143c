"""`idealrt paper`: the idealized runtime and cost of Narayanan et al. (NeurIPS 2023) for the models they compared.

Per model at batch 1: the devices the paper ran it on (`--layout fewest`: the fewest that hold it), α_p (prompt
encoding + first token) at a few prompt sizes, β (time per additional output token), and the idealized runtime and
cost of example requests; then the same on newer GPUs. The models are the paper's stand-in architectures
(`--published-architectures` for the catalog's); α_p between the tabulated prompt sizes as HELM computes it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from idealrt.simulator.cli.common import add_profile_argument, console, print_json
from idealrt.simulator.dtypes import BYTES_PER_ELEMENT
from idealrt.simulator.errors import UserError
from idealrt.simulator.planner.options import PAPER_WEIGHTS_DTYPE
from idealrt.simulator.validation import PRICE, name_or_path, output_file

if TYPE_CHECKING:
    from idealrt.simulator.planner.idealized import PaperComparison

DEFAULT_HARDWARE = "a100-sxm-80gb"
DEFAULT_PROFILE = "megatron-a100-2022"
MODERN_HARDWARE = ("h100-sxm", "h200-sxm", "b200")
ALPHA_COLUMNS = ("1", "512", "1920")
LAYOUTS = ("paper", "fewest")  # simulator.planner.idealized.LAYOUTS, kept here so the parser imports nothing heavy
INTERPOLATIONS = ("helm", "linear")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("paper", help="the paper's idealized runtime and cost per model", description=__doc__)
    parser.add_argument(
        "--hardware",
        default=DEFAULT_HARDWARE,
        type=name_or_path("hardware"),
        help=f"catalog id (default {DEFAULT_HARDWARE})",
    )
    add_profile_argument(parser, default=DEFAULT_PROFILE)
    parser.add_argument(
        "--price-usd-per-hour",
        type=PRICE,
        default=None,
        help="per device-hour (default: the paper's $4.096 on A100s, else the catalog's)",
    )
    parser.add_argument(
        "--weights-dtype",
        default=PAPER_WEIGHTS_DTYPE,
        choices=sorted(BYTES_PER_ELEMENT),
        help=f"weights and math (default {PAPER_WEIGHTS_DTYPE}, as in the paper)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="paper",
        help="paper: the GPUs the paper profiled each model on (default); fewest: the fewest devices that hold it",
    )
    parser.add_argument(
        "--published-architectures",
        action="store_true",
        help="the catalog's published architectures instead of the paper's stand-ins",
    )
    parser.add_argument(
        "--interpolation",
        choices=INTERPOLATIONS,
        default="helm",
        help="α_p between tabulated prompt sizes: helm (smallest size ≥ p scaled by p/size; default) or linear",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per model")
    parser.add_argument("--plot", type=output_file, metavar="FILE", help="write a PNG of α_p against prompt size")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    comparison = _comparison(args.hardware, args.profile, args, args.price_usd_per_hour)
    if args.json:
        print_json(comparison.records)
    else:
        print_table(comparison)
        for hardware in MODERN_HARDWARE:
            if hardware != comparison.hardware.id:
                print_modern(hardware, args)
    if args.plot:
        from idealrt.simulator.plots.alpha_curves import plot_alpha_curves

        where = "the paper's layouts" if args.layout == "paper" else "the fewest devices holding a 2048-token request"
        note = f"{args.weights_dtype} weights on {where}"
        written = plot_alpha_curves(comparison.runtimes, args.plot, note)
        print(f"wrote {written}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _comparison(
    hardware: str, profile: str, args: argparse.Namespace, price_usd_per_hour: float | None = None
) -> PaperComparison:
    from idealrt.simulator.planner.idealized import paper_comparison

    return paper_comparison(
        hardware,
        profile,
        price_usd_per_hour,
        weights_dtype=args.weights_dtype,
        layout=args.layout,
        architecture="published" if args.published_architectures else "paper",
        interpolation=args.interpolation,
    )


def print_modern(hardware: str, args: argparse.Namespace) -> None:
    try:
        comparison = _comparison(hardware, "auto", args)
    except UserError as exc:
        console().print(f"\n[yellow]{hardware} skipped:[/yellow] {exc}")
        return
    print_table(comparison)


def print_table(comparison: PaperComparison) -> None:
    from idealrt.simulator.planner.idealized import EXAMPLE_REQUESTS, PAPER_NAMES

    out = console()
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"Idealized runtime at batch 1 on {comparison.hardware.id}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    columns = ["model", "GPUs", "tp×pp", *(f"α{p} ms" for p in ALPHA_COLUMNS), "β ms"]
    for prompt, output in EXAMPLE_REQUESTS:
        columns += [f"{prompt}/{output} s", "¢/req"]
    columns += ["$/1M in", "$/1M out"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "tp×pp") else "right", no_wrap=True)
    for record in comparison.records:
        name = PAPER_NAMES.get(record["model"], record["model"])
        if record.get("error"):
            table.add_row(name, "—", record["error"][:90])
            continue
        row = [name, str(record["n_accelerators"]), f"{record['tp']}×{record['pp']}"]
        row += [f"{record['alpha_s'][p] * 1e3:.4g}" for p in ALPHA_COLUMNS] + [f"{record['beta_s'] * 1e3:.4g}"]
        for request in record["requests"]:
            row += [f"{request['runtime_s']:.3g}", f"{request['usd'] * 100:.3g}"]
        last = record["requests"][-1]
        row += [f"{last['usd_per_million_input_tokens']:.3g}", f"{last['usd_per_million_output_tokens']:.4g}"]
        table.add_row(*row)
    out.print()
    out.print(table)
    placed = [r for r in comparison.records if not r.get("error")]
    worst = max((r["decomposition_max_relative_error"] for r in placed), default=0.0)
    prompt, output = EXAMPLE_REQUESTS[-1]
    first = comparison.records[0]
    names = ", ".join(f"{name} = {model}" for model, name in PAPER_NAMES.items())
    out.print(f"{comparison.profile_note}; weights {first['weights_dtype']}; {names}")
    layout = "the paper's" if first["layout"] == "paper" else "the fewest devices holding a 2048-token request"
    architecture = "the paper's stand-ins" if first["architecture"] == "paper" else "as published"
    out.print(
        f"layouts: {layout}; architectures: {architecture}; α_p between tabulated sizes: {first['interpolation']}"
    )
    shapes = [
        f"{PAPER_NAMES.get(r['model'], r['model'])} {r['num_layers']}×{r['hidden_size']}/{r['num_heads']}h "
        f"{r['mlp']} {r['ffn_dim']} v{r['vocab_size']}"
        for r in placed
        if r["architecture_source"].startswith("paper variant")
    ]
    if shapes:
        out.print(f"stand-ins (layers×width/heads, MLP, vocab): {'; '.join(shapes)}")
    out.print(f"price: {comparison.price_note}")
    out.print(
        f"p/o s, ¢/req: runtime and cents of a request of p prompt and o output tokens; $/1M in, out: "
        f"from the {prompt}/{output} request"
    )
    out.print(f"α_p + β·(o−1) is within {100 * worst:.2g}% of the simulated end-to-end time on the paper's grid")
