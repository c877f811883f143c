"""Validating numbers once, where they enter: command-line options (argparse `type=` functions) and the cells
of case files. Each check names the valid range in its message.

Limits, and why they are where they are:
- MAX_TOKENS = 2**24 (16.8 M) tokens per sequence: above the longest published context window (Llama 4 Scout,
  10 M tokens; Meta, "The Llama 4 herd", 2025-04-05), so no real request is refused.
- MAX_BATCH = 2**20 sequences per request: three orders of magnitude above the largest serving batches in the
  shipped measurements (Argonne LLM-Inference-Bench: 64; Vidur: 128).
- MAX_DEGREE = 2**16 devices per parallel dimension or layout: above the largest announced GPU clusters
  trained as one job (Llama 3: 16,384 H100s; Dubey et al. 2024, section 3.3).
- Rates, durations and prices: finite and positive, ≤ 1e9 requests/s, ≤ 1e6 s (11.6 days), ≤ $1e6 per
  device-hour — far above any real target, low enough that products stay finite.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from idealrt.simulator.errors import UserError, shown

MAX_TOKENS = 2**24
MAX_BATCH = 2**20
MAX_DEGREE = 2**16
MAX_SEED = 2**63 - 1  # a signed 64-bit integer, as seeds are stored and printed
MAX_QPS = 1e9
MAX_DURATION_S = 1e6
MAX_PRICE_USD_PER_HOUR = 1e6

# Largest value of each integer column of a cases CSV (`predict`).
CASE_COLUMN_LIMITS = {
    "tp": MAX_DEGREE,
    "pp": MAX_DEGREE,
    "ep": MAX_DEGREE,
    "batch": MAX_BATCH,
    "prompt_tokens": MAX_TOKENS,
    "output_tokens": MAX_TOKENS,
}

# Linux PATH_MAX and NAME_MAX.
MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255

_WHOLE = re.compile(r"[+-]?[0-9]+")


class InvalidNumber(ValueError):
    """A number outside its domain; the message says what was given and what is valid."""


def whole_number(text: object, low: int, high: int) -> int:
    """`text` as an integer in [low, high]: decimal digits only (no '1e3', '1.0', '0x10')."""
    raw = str(text).strip()
    if not _WHOLE.fullmatch(raw):
        raise InvalidNumber(f"must be a whole number in [{low:,}, {high:,}] (got '{shown(raw)}')")
    number = int(raw)
    if number < low:
        raise InvalidNumber(f"must be ≥ {low:,} (got {shown(raw)}; valid: {low:,} to {high:,})")
    if number > high:
        raise InvalidNumber(f"must be ≤ {high:,} (got {shown(raw)}; valid: {low:,} to {high:,})")
    return number


def real_number(text: object, low: float, high: float, *, low_open: bool = False) -> float:
    """`text` as a finite float in [low, high] (or (low, high] when `low_open`)."""
    raw = str(text).strip()
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    try:
        number = float(raw)
    except ValueError:
        raise InvalidNumber(f"must be a number in {interval} (got '{shown(raw)}')") from None
    if not math.isfinite(number):
        raise InvalidNumber(f"must be a finite number in {interval} (got {shown(raw)})")
    if number < low or (low_open and number == low):
        raise InvalidNumber(f"must be {'>' if low_open else '≥'} {low:g} (got {shown(raw)}; valid: {interval})")
    if number > high:
        raise InvalidNumber(f"must be ≤ {high:g} (got {shown(raw)}; valid: {interval})")
    return number


def option_type(parse: Callable[[str], object], name: str) -> Callable[[str], object]:
    """An argparse `type=` callable; argparse reports the failure as one line naming the option."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except InvalidNumber as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its fallback message
    return convert


def whole(low: int, high: int) -> Callable[[str], object]:
    return option_type(lambda text: whole_number(text, low, high), "whole number")


def real(low: float, high: float, *, low_open: bool = False) -> Callable[[str], object]:
    return option_type(lambda text: real_number(text, low, high, low_open=low_open), "number")


TOKENS = whole(1, MAX_TOKENS)
BATCH = whole(1, MAX_BATCH)
DEGREE = whole(1, MAX_DEGREE)
COUNT = whole(1, MAX_BATCH)
SEED = whole(0, MAX_SEED)
# `closed`: at most MAX_ROUNDS × ROUND_SIZE = 204,800 candidates are drawn (simulator/planner/partial_spec.py).
SAMPLES = whole(1, 200_000)
QPS = real(0.0, MAX_QPS, low_open=True)
DURATION_S = real(0.0, MAX_DURATION_S, low_open=True)
PRICE = real(0.0, MAX_PRICE_USD_PER_HOUR)


def check_path_text(text: str, what: str) -> str:
    """A file name as given on the command line or in a file, refused early when no file could have it."""
    if not text.strip():
        raise UserError(f"no {what} given (empty name)")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise UserError(f"{what} '{shown(text)}' contains control characters; no file has that name")
    if len(text) > MAX_PATH_CHARS or any(len(part) > MAX_NAME_CHARS for part in text.split("/")):
        raise UserError(
            f"{what} '{shown(text)}' is too long for a file name "
            f"({len(text):,} characters; at most {MAX_PATH_CHARS} in all and {MAX_NAME_CHARS} per folder name)"
        )
    return text


def name_or_path(what: str) -> Callable[[str], object]:
    """argparse `type=` for a catalog id or a file path: refused at once when no id or file could have it."""

    def convert(text: str) -> str:
        try:
            return check_path_text(text, what)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def input_folder(text: str) -> Path:
    """argparse `type=` for a folder to read (a data directory)."""
    try:
        path = Path(check_path_text(text, "data folder"))
        if not path.is_dir():
            raise UserError(f"data folder '{shown(text)}' {'is a file' if path.exists() else 'does not exist'}")
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"data folder '{shown(text)}': {exc.strerror or exc}") from None
    return path


def output_file(text: str) -> Path:
    """A path a file can be written to: its folder exists or can be created, a file can be created in it, and
    the path itself is not a folder. Checked before any work is done, so a typo does not cost a whole run."""
    try:
        return writable_path(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def writable_path(text: str | Path) -> Path:
    """The path, once a probe shows a file can be created there (the probe file is removed again)."""
    path = Path(check_path_text(str(text), "output file"))
    where = shown(str(path))
    if path.is_dir():
        raise UserError(f"output file '{where}' is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as the writers do: missing folders are created
    except OSError as exc:
        raise UserError(f"cannot write '{where}': cannot create its folder ({exc.strerror or exc})") from None
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write '{where}': {exc.strerror or exc}") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path
