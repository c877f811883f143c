"""The one error type a user should ever see: a clear, one-line message and exit code 2."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class UserError(Exception):
    """Bad input from the user (unknown name, impossible parallelism, malformed file, model too big...).

    The CLI prints ``error: <message>`` on one line and exits with code 2; no traceback.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    """Control characters (newlines from a file name or a parser's message) written as escapes."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def shown(text: str, limit: int = 120) -> str:
    """User-supplied text as it may appear in a message: one line, control characters escaped, shortened."""
    text = one_line(text)
    return text if len(text) <= limit else f"{text[: limit - 20]}…({len(text):,} characters)"


def unknown_name_error(kind: str, name: str, known: Iterable[str]) -> UserError:
    """`unknown model 'lama-2-7b'; did you mean 'llama-2-7b'?` (or the list of known names)."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5) if len(name) < 200 else []
    if close:
        return UserError(f"unknown {kind} '{shown(name)}'; did you mean '{close[0]}'?")
    return UserError(f"unknown {kind} '{shown(name)}'; known: {', '.join(known)}")


def first_validation_problem(exc: ValidationError) -> str:
    """One line a person can act on: the first field pydantic rejected and why."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "file"
    extra = f" ({exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"field '{where}': {error['msg']}{extra}"
