"""`idealrt predict`: a CSV (or Parquet) of cases in, the same rows with predicted times out.

Streamed: any number of cases in bounded memory, with a progress line on stderr once it runs over a second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from idealrt.simulator.cli.common import add_context_override_argument, add_profile_argument
from idealrt.simulator.validation import name_or_path, output_file, whole
from idealrt.simulator.worker_pool import MAX_DEFAULT_WORKERS, MAX_WORKERS, default_workers


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("predict", help="predict many cases from a CSV or Parquet file", description=__doc__)
    parser.add_argument(
        "--cases",
        required=True,
        type=name_or_path("cases file"),
        help="CSV or .parquet with model, hardware, tp, pp, batch, prompt_tokens, output_tokens "
        "[, ep, weights_dtype, act_dtype, kv_dtype, profile]",
    )
    parser.add_argument("--out", required=True, type=output_file, help="CSV (or .parquet) to write")
    add_profile_argument(parser)
    add_context_override_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    parser.add_argument(
        "--workers",
        type=whole(1, MAX_WORKERS),
        default=None,
        help=f"processes simulating (default: the cores available, at most {MAX_DEFAULT_WORKERS}); "
        "results are identical for any number",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.predict import predict_file

    written = predict_file(
        Path(args.cases),
        args.out,
        default_profile=args.profile,
        progress=not args.quiet,
        allow_longer_context=args.allow_longer_context,
        workers=default_workers() if args.workers is None else args.workers,
    )
    print(f"wrote {written} predictions to {args.out}")
    return 0
