"""`idealrt calibrate …`: measurement (and, as they land, fitting and validation) of calibration data.

Registered through the `idealrt.commands` entry point; `register` receives the top-level sub-parsers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from idealrt.calibration.fit_cmd import add_fit_command, add_validate_command
from idealrt.simulator.errors import UserError

CommandAdder = Callable[[argparse._SubParsersAction], None]


def register(subparsers: argparse._SubParsersAction) -> None:
    calibrate = subparsers.add_parser(
        "calibrate", help="measure hardware and fit calibration profiles", description=__doc__
    )
    commands = calibrate.add_subparsers(dest="calibrate_command", required=True, parser_class=type(calibrate))
    for add_command in CALIBRATE_COMMANDS:
        add_command(commands)


def add_measure_command(commands: argparse._SubParsersAction) -> None:
    measure = commands.add_parser(
        "measure",
        help="time GEMMs, attention, memory-bound ops, collectives and small-model generation",
        description="Run the torch measurement harness on one device and write a data directory: "
        "provenance.json, ops/<dataset>.csv, e2e/<dataset>.csv, models/*.yaml and hardware.yaml.",
    )
    measure.add_argument("--device", required=True, choices=("cpu", "cuda"), help="what to measure")
    measure.add_argument(
        "--quick", action="store_true", help="reduced sweeps (a few minutes on a laptop CPU) instead of the full ones"
    )
    measure.add_argument("--out", required=True, type=Path, help="data directory to write (created if missing)")
    measure.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch intra-op threads (default: every CPU this process may use)",
    )
    measure.set_defaults(handler=run_measure)


def run_measure(args: argparse.Namespace) -> int:
    try:
        from idealrt.calibration.harness.run import measure
    except ImportError as exc:
        raise UserError(f"calibrate measure needs torch (pip install 'idealrt[measure]'): {exc}") from None
    command = shlex.join(["idealrt", *sys.argv[1:]]) if sys.argv[1:2] == ["calibrate"] else None
    summary = measure(args.device, args.out, quick=args.quick, threads=args.threads, command=command)
    for line in summary.lines():
        print(line)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# Sub-commands of `idealrt calibrate`, in help order.
CALIBRATE_COMMANDS: tuple[CommandAdder, ...] = (add_measure_command, add_fit_command, add_validate_command)
