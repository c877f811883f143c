"""`idealrt predict`: a CSV of cases in, the same rows with predicted times out (vectorized)."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.common import add_profile_argument


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("predict", help="predict many cases from a CSV", description=__doc__)
    parser.add_argument(
        "--cases",
        required=True,
        type=Path,
        help="CSV with model, hardware, tp, pp, batch, prompt_tokens, output_tokens "
        "[, ep, weights_dtype, act_dtype, kv_dtype, profile]",
    )
    parser.add_argument("--out", required=True, type=Path, help="CSV to write")
    add_profile_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from simulator.predict import predict_cases, read_cases

    cases = read_cases(args.cases)
    result = predict_cases(cases, default_profile=args.profile, source=str(args.cases))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(args.out, index=False)
    print(f"wrote {len(result)} predictions to {args.out}")
    return 0
