"""`taskwatch`: the project's command line.

Each module in SUBCOMMAND_MODULES adds its own subcommands through `register(subparsers)`, setting
`run` (a function of the parsed arguments returning the exit code) as the parser's default.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

# Modules that add subcommands; a new one only needs to be listed here.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "taskwatch_local.ci",
    "taskwatch_local.demo",
    "taskwatch_local.local_up",
    "taskwatch_local.watch",
)

Run = Callable[[argparse.Namespace], int]


def build_parser(modules: Sequence[str] = SUBCOMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskwatch", description="Watch Huawei Cloud APIG async import/export tasks.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; usage errors exit with 2 (argparse's own convention)."""
    args = build_parser().parse_args(argv)
    run: Run = args.run
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
