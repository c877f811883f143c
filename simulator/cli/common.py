"""Arguments and formatting shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.dtypes import BYTES_PER_ELEMENT
from idealrt.simulator.validation import DEGREE, name_or_path

if TYPE_CHECKING:
    from rich.console import Console


def add_deployment_arguments(parser: argparse.ArgumentParser, *, hardware_required: bool = True) -> None:
    parser.add_argument(
        "--model",
        required=True,
        type=name_or_path("model"),
        help="catalog id (see `idealrt models`) or a config.json path",
    )
    parser.add_argument(
        "--hardware",
        required=hardware_required,
        type=name_or_path("hardware"),
        help="catalog id (see `idealrt hardware`) or a hardware spec YAML path",
    )
    parser.add_argument("--tp", type=DEGREE, default=1, help="tensor-parallel degree (default 1)")
    parser.add_argument("--pp", type=DEGREE, default=1, help="pipeline-parallel stages (default 1)")
    parser.add_argument("--ep", type=DEGREE, default=1, help="expert-parallel groups (MoE only; default 1)")
    add_dtype_arguments(parser)


def add_dtype_arguments(parser: argparse.ArgumentParser) -> None:
    dtypes = sorted(BYTES_PER_ELEMENT)
    parser.add_argument(
        "--weights-dtype",
        default="bf16",
        choices=dtypes,
        help="block weights (default bf16; int8/int4 are weight-only)",
    )
    parser.add_argument(
        "--act-dtype",
        default=None,
        choices=dtypes,
        help="activations and GEMM math (default: follows the weights; bf16 for int8/int4)",
    )
    parser.add_argument(
        "--kv-dtype",
        default=None,
        choices=dtypes,
        help="KV cache (default: the activation dtype, bf16 if that is 8-bit)",
    )


def hardware_list(text: str) -> list[str]:
    """`--hardware a,b`: the ids, at least one."""
    from idealrt.simulator.errors import UserError, shown

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UserError(f"--hardware '{shown(text)}': give at least one hardware id (comma-separated)")
    return names


def add_profile_argument(parser: argparse.ArgumentParser, default: str = DEFAULT_PROFILE) -> None:
    parser.add_argument(
        "--profile",
        default=default,
        type=name_or_path("profile"),
        help=f"ideal | auto | a shipped profile name | a profile.json path (default {default})",
    )


def add_context_override_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-longer-context",
        action="store_true",
        help="estimate prompt + output beyond the model's max_context (refused otherwise); the output says so",
    )


def add_price_argument(parser: argparse.ArgumentParser, default_text: str = "the catalog's on-demand price") -> None:
    parser.add_argument(
        "--price-usd-per-hour",
        default=None,
        metavar="USD",
        help=f"price of one device-hour (default: {default_text}); needed for parts the catalog has no price for",
    )


def print_warnings(frame: Any) -> None:
    """A planner frame's `attrs["warnings"]` (mixed profiles, a request beyond the model's context), in yellow."""
    out = console()
    for warning in frame.attrs.get("warnings", []):
        out.print(f"[yellow]warning:[/yellow] {warning}")


def print_json(value: Any) -> None:
    """Strict JSON (no NaN or Infinity literals): a number that is not finite is written as null."""
    json.dump(_finite(value), sys.stdout, indent=2, allow_nan=False, default=_jsonable)
    sys.stdout.write("\n")


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def console() -> Console:
    """Rich output; at least 120 columns wide even when piped, so tables do not fold."""
    from rich.console import Console

    width = Console().width
    return Console(highlight=False, soft_wrap=False, width=max(width, 120))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """1.23e12 → '1.23 T' + unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == 0:
        return f"0 {unit}".strip()
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".strip()
    return f"{value:.{digits}g} {unit}".strip()


def seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"
