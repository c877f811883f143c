"""Running `idealrt` on one argument list (in-process or as a real process) and judging the result.

A bad input must end with exit code 2 and exactly one stderr line `error: …`, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Verdict = Literal["rejected", "traceback", "multi_line", "accepted", "wrong_exit"]
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def verdict(self) -> Verdict:
        if "Traceback (most recent call last)" in self.stderr:
            return "traceback"
        if self.exit_code == 0:
            return "accepted"
        if self.exit_code != 2:
            return "wrong_exit"
        lines = self.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return "multi_line"
        return "rejected"

    def describe(self) -> str:
        return f"argv={list(self.argv)!r} exit={self.exit_code} stderr={self.stderr[-2000:]!r}"


def run_in_process(argv: list[str]) -> Outcome:
    """`simulator.cli.main(argv)`; an exception escaping it is recorded as a traceback on stderr."""
    from simulator.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc(file=err)
            code = 1
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue())


def run_process(argv: list[str], timeout_s: float = 120.0) -> Outcome:
    """`python -m simulator.cli …` in a fresh interpreter, importing this checkout."""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli", *argv],
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=timeout_s,
        check=False,
    )
    decode = lambda data: data.decode("utf-8", errors="replace")  # noqa: E731
    return Outcome(tuple(argv), done.returncode, decode(done.stdout), decode(done.stderr))
