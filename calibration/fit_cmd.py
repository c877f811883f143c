"""`idealrt calibrate fit` and `idealrt calibrate validate`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
from pathlib import Path

from idealrt.simulator.errors import UserError, shown
from idealrt.simulator.validation import input_folder, output_file

# The shipped data directory, named here without importing the data store (pandas) at parser construction.
SHIPPED_DATA_DIR = Path(__file__).parent / "data"

SECTIONS = ("lower-bound", "kernels", "megatron", "end-to-end", "cpu")


def add_fit_command(commands: argparse._SubParsersAction) -> None:
    fit = commands.add_parser(
        "fit",
        help="fit a profile (JSON) to measurements",
        description="Kernel recipe: fit each op class's constants to op-level records (a `calibrate measure` "
        "directory, or --hardware ID for the shipped kernel datasets). End-to-end recipe (--end-to-end DATASETS): "
        "fit --free constants to request timings on top of a --base profile, choosing the stack's behaviours "
        "(LM head on all prompt positions or not; naive or flash attention) by which fits best. Deterministic.",
    )
    fit.add_argument(
        "--data", type=input_folder, default=SHIPPED_DATA_DIR, help="data directory (default: shipped data)"
    )
    fit.add_argument("--out", type=output_file, required=True, help="profile JSON to write")
    fit.add_argument("--hardware", help="kernel recipe on the shipped datasets registered for this hardware id")
    fit.add_argument("--end-to-end", dest="end_to_end", help="comma-separated end-to-end datasets to fit")
    fit.add_argument("--base", default="ideal", help="end-to-end: profile supplying the constants not fitted")
    fit.add_argument("--free", help="end-to-end: comma-separated constants to fit (default: the Megatron set)")
    fit.add_argument("--name", help="profile name (default from the recipe)")
    fit.set_defaults(handler=run_fit)


def _command() -> str:
    return shlex.join(["idealrt", *sys.argv[1:]])


def require_fit_extras(command: str) -> None:
    """Fitting needs jax and scipy, which the base install leaves out: say so in one line, not a traceback."""
    missing = [name for name in ("jax", "scipy") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"calibrate {command} needs {' and '.join(missing)} (pip install 'idealrt[fit]')")


def run_fit(args: argparse.Namespace) -> int:
    require_fit_extras("fit")
    from idealrt.calibration.recipes import (
        MEGATRON_FREE,
        MEGATRON_INITIAL,
        end_to_end_profile,
        kernel_profile,
        measured_kernel_profile,
    )
    from idealrt.simulator.profile import load_profile

    if args.end_to_end:
        datasets = [name.strip() for name in args.end_to_end.split(",") if name.strip()]
        free = tuple(name.strip() for name in args.free.split(",")) if args.free is not None else MEGATRON_FREE
        base = load_profile(args.base)
        unknown = [name for name in free if name not in base.params()]
        if unknown:
            raise UserError(
                f"--free: unknown profile constant(s) {shown(', '.join(unknown))}; "
                f"known: {', '.join(sorted(base.params()))}"
            )
        initial = {name: MEGATRON_INITIAL.get(name, 1e-4 if name.endswith("_s") else 0.5) for name in free}
        profile, _ = end_to_end_profile(
            name=args.name or "-".join(datasets),
            description=f"fitted end to end on {', '.join(datasets)}",
            datasets=datasets,
            base=base,
            free_names=free,
            initial=initial,
            data_dir=args.data,
            command=_command(),
        )
    elif args.hardware:
        profile, _ = kernel_profile(args.hardware, args.data, command=_command(), name=args.name)
    else:
        if args.data == SHIPPED_DATA_DIR:
            raise UserError(
                "say what to fit: --data DIR (a `calibrate measure` directory), --hardware ID, or --end-to-end DATASETS"
            )
        profile, _ = measured_kernel_profile(args.data, command=_command())
        if args.name:
            profile = profile.model_copy(update={"name": args.name})
    from idealrt.simulator.profile import write_profile

    write_profile(profile, args.out)
    fit = profile.fit
    print(
        f"wrote {args.out}: profile '{profile.name}', {fit.n_points} points, fitted median error "
        f"{fit.median_abs_error:.1%}, held-out median error {fit.held_out_median_abs_error:.1%} "
        f"({fit.held_out_method})"
    )
    return 0


def add_validate_command(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate",
        help="error of the profiles on data their fits did not see",
        description="Sections: lower-bound (ideal ≤ every measurement), kernels (held-out shapes), megatron "
        "(leave one model out; minutes), end-to-end (datasets no fit used), cpu (closed loop on --cpu-data).",
    )
    validate.add_argument(
        "--sections",
        default=",".join(s for s in SECTIONS if s != "cpu"),
        help=f"comma-separated, among {', '.join(SECTIONS)}",
    )
    validate.add_argument(
        "--cpu-data", type=input_folder, help="a `calibrate measure --device cpu` directory (adds cpu)"
    )
    validate.add_argument("--plot", type=output_file, help="predicted-vs-measured scatter (PNG)")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(handler=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from idealrt.calibration import validate as checks

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    if args.cpu_data and "cpu" not in sections:
        sections.append("cpu")
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise UserError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if "cpu" in sections and args.cpu_data is None:
        raise UserError("section cpu needs --cpu-data DIR (from `idealrt calibrate measure --device cpu`)")
    report = checks.Report()
    runners = {
        "lower-bound": lambda: checks.lower_bound(report),
        "kernels": lambda: checks.kernels(report),
        "megatron": lambda: checks.megatron(report),
        "end-to-end": lambda: checks.end_to_end(report),
        "cpu": lambda: checks.cpu_loop(report, args.cpu_data),
    }
    for section in sections:
        print(f"validating {section} …", file=sys.stderr, flush=True)
        runners[section]()
    if args.plot:
        from idealrt.calibration.scatter import plot_scatter

        print(f"wrote {plot_scatter(report.points, args.plot)}", file=sys.stderr)
    if args.json:
        json.dump([row.as_dict() for row in report.rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_rows(report.rows)
    return 0


def print_rows(rows: list) -> None:
    from rich.table import Table

    from idealrt.simulator.cli.common import console

    table = Table(
        title="Prediction error on data the fits did not see (|predicted / measured − 1|); "
        "lower-bound rows: measured / ideal − 1"
    )
    for column in ("section", "data", "n", "median", "p90", "max", "note"):
        table.add_column(column, justify="right" if column in ("n", "median", "p90", "max") else "left")
    for row in rows:
        table.add_row(
            row.section,
            row.group,
            str(row.n),
            f"{row.median_abs_error:.1%}",
            f"{row.p90_abs_error:.1%}",
            f"{row.max_abs_error:.1%}",
            row.note,
        )
    console().print(table)
