"""Running `idealrt` on one argument list (in-process or as a real process) and judging the result.

A bad input must end with exit code 2 and exactly one stderr line `error: …`, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Verdict = Literal["rejected", "traceback", "multi_line", "accepted", "wrong_exit", "timeout"]
# A bad input must be refused quickly; one still running after this long is recorded as a timeout.
IN_PROCESS_LIMIT_S = 60
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def verdict(self) -> Verdict:
        if self.exit_code is None:
            return "timeout"
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
    from idealrt.simulator.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _too_slow)
    signal.setitimer(signal.ITIMER_REAL, IN_PROCESS_LIMIT_S)
    code: int | None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except _TooSlow:
            code = None
        except BaseException:
            traceback.print_exc(file=err)
            code = 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue())


class _TooSlow(BaseException):
    pass


def _too_slow(signum: int, frame: object) -> None:
    raise _TooSlow


def run_process(argv: list[str], timeout_s: float = 120.0) -> Outcome:
    """`python -m simulator.cli …` in a fresh interpreter, importing this checkout."""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LC_ALL": "C.UTF-8"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "idealrt.simulator.cli", *argv],
            capture_output=True,
            env=env,
            cwd=REPO,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(tuple(argv), None, "", "")
    decode = lambda data: data.decode("utf-8", errors="replace")  # noqa: E731
    return Outcome(tuple(argv), done.returncode, decode(done.stdout), decode(done.stderr))
