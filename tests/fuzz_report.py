"""Count what the fuzz suite finds: `HYPOTHESIS_PROFILE=fuzz python tests/fuzz_report.py`.

Runs the generators of `tests/fuzz/` without stopping at the first failure and prints, for bad inputs, how many
were refused properly (exit 2, one `error:` line) and how many gave a traceback, a multi-line message, another
exit code or were silently accepted; for valid cases, the violations of each invariant. A sample of bad inputs
also runs as real processes. Exit status 1 when anything but a proper refusal or a pending-fix invariant is seen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz import bad_arguments, bad_files, outcome, valid_cases
from fuzz.settings import SCALE, active_profile, examples
from hypothesis import given, settings

EXAMPLES_SHOWN = 3


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def add(self, verdict: str, detail: str) -> None:
        self.counts[verdict] += 1
        shown = self.examples.setdefault(verdict, [])
        if len(shown) < EXAMPLES_SHOWN:
            shown.append(detail)


def bad_inputs(tally: Tally, process_tally: Tally, scratch: Path) -> None:
    @settings(max_examples=examples("bad_arguments"))
    @given(bad_arguments.bad_command_lines())
    def arguments(argv: list[str]) -> None:
        result = outcome.run_in_process(argv)
        tally.add(result.verdict, result.describe())

    @settings(max_examples=examples("bad_files"))
    @given(bad_files.bad_files())
    def files(kind_and_content: tuple[bad_files.FileKind, bytes]) -> None:
        kind, content = kind_and_content
        result = outcome.run_in_process(bad_files.place(kind, content, scratch))
        tally.add(result.verdict, f"{kind.name} {content[:80]!r}: {result.describe()}")

    @settings(max_examples=examples("processes"))
    @given(bad_arguments.bad_command_lines())
    def processes(argv: list[str]) -> None:
        if any("\x00" in arg for arg in argv):  # the OS cannot pass a NUL inside an argument
            return
        result = outcome.run_process(argv)
        process_tally.add(result.verdict, result.describe())

    arguments()
    files()
    processes()


def pending_inputs(tally: Tally) -> None:
    """Bad inputs whose refusal needs a change in a file the core redesign owns (counted apart)."""

    @settings(max_examples=max(1, examples("bad_arguments") // 50))
    @given(bad_arguments.bad_command_lines(bad_arguments.PENDING_OPTIONS))
    def pending(argv: list[str]) -> None:
        result = outcome.run_in_process(argv)
        tally.add(result.verdict, result.describe())

    pending()


def invariants(tally: Tally) -> None:
    @settings(max_examples=examples("valid_cases"))
    @given(valid_cases.valid_cases())
    def cases(case: valid_cases.Case) -> None:
        broken = valid_cases.violations(case)
        tally.add("cases", repr(case))
        for name in sorted(broken):
            tally.add(name, repr(case))

    cases()


def print_tally(title: str, tally: Tally) -> None:
    total = sum(n for verdict, n in tally.counts.items() if verdict in VERDICTS)
    print(f"{title}: {total}")
    for verdict in VERDICTS:
        print(f"  {verdict:<12} {tally.counts[verdict]}")
    for verdict, shown in tally.examples.items():
        if verdict != "rejected":
            for detail in shown:
                print(f"    {verdict}: {detail[:400]}")


VERDICTS = ("rejected", "traceback", "multi_line", "accepted", "wrong_exit", "timeout")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-valid", action="store_true", help="bad inputs only")
    parser.add_argument("--skip-bad", action="store_true", help="valid cases only")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every example count (quick looks)")
    args = parser.parse_args()
    SCALE[0] = args.scale
    print(f"hypothesis profile: {active_profile()}")
    bad, processes, valid, pending = Tally(), Tally(), Tally(), Tally()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="idealrt-fuzz-") as scratch:
        if not args.skip_bad:
            bad_inputs(bad, processes, Path(scratch))
            print_tally("bad inputs, in-process", bad)
            print_tally("bad inputs, real processes", processes)
            pending_inputs(pending)
            print_tally("pending the core redesign (predict --out, explain numbers), not counted", pending)
    if not args.skip_valid:
        invariants(valid)
        print(f"valid cases: {valid.counts['cases']} (each with its prompt/output/batch neighbours, every profile)")
        for name in ("finite", "monotone", "fits", "ideal_bound", "tpot_prompt", "memory_for"):
            pending = valid_cases.PENDING_FIXES.get(name)
            note = f"  (pending fix: {pending})" if pending and valid.counts[name] else ""
            print(f"  {name:<12} {valid.counts[name]} violations{note}")
            for detail in valid.examples.get(name, [])[:EXAMPLES_SHOWN]:
                print(f"    {detail}")
    print(f"elapsed {time.perf_counter() - start:.0f} s")
    failures = sum(t.counts[v] for t in (bad, processes) for v in VERDICTS if v != "rejected")
    failures += sum(valid.counts[n] for n in ("finite", "monotone", "fits"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
