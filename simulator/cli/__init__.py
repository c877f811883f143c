"""`idealrt` command line. Bad input: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from idealrt.simulator.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (`error: …`) and exit with code 2."""

    def error(self, message: str) -> NoReturn:
        from idealrt.simulator.errors import one_line

        print(f"error: {self.prog}: {one_line(message)}", file=sys.stderr)
        raise SystemExit(2)


def command_modules() -> list[str]:
    """Every `simulator/cli/*_cmd.py` (and `*_cmds.py`) module contributes sub-commands via `register`."""
    import idealrt.simulator.cli as package

    names = [info.name for info in pkgutil.iter_modules(package.__path__)]
    return sorted(f"idealrt.simulator.cli.{name}" for name in names if name.endswith(("_cmd", "_cmds")))


def entry_points(group: str) -> list[Any]:
    """The installed packages' entry points in `group` (importlib.metadata, imported only when asked)."""
    from importlib.metadata import entry_points as installed

    return list(installed(group=group))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Every built-in command, and the plugins' (packages with `idealrt.commands` entry points) unless `argv`
    names a built-in one: looking plugins up reads every installed package's metadata."""
    parser = OneLineParser(prog="idealrt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name in command_modules():
        importlib.import_module(name).register(commands)
    if argv is None or not argv or argv[0] not in commands.choices:
        for plugin in sorted(entry_points(group="idealrt.commands"), key=lambda ep: ep.name):
            plugin.load()(commands)
    return parser


def run() -> NoReturn:
    """The `idealrt` command: `main`, then exit without tearing the interpreter down. By then every file is closed
    and every worker process stopped; freeing each module and array one by one would only add time (about 50 ms
    after a large `predict`)."""
    code = main()
    if "logging" in sys.modules:  # flush and close what a command logged to
        sys.modules["logging"].shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `idealrt ... | head` stopped reading: the rest is not wanted
        pass
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `idealrt ... | head`
        return 0
