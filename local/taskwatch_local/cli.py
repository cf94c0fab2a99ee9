"""`python -m taskwatch_local.cli`: the client's `taskwatch` command with the local commands added.

The `taskwatch` console script is the client's (taskwatch_cli.cli); in the dev venv it finds `demo`
and `local` through the entry point group `taskwatch.commands` that pyproject.toml registers. This
module adds them explicitly, for running from a source tree without that metadata.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from taskwatch_cli import cli as client_cli

# Modules that add subcommands with `register(subparsers)`; a new one is listed here and in pyproject.toml.
SUBCOMMAND_MODULES: tuple[str, ...] = ("taskwatch_local.demo", "taskwatch_local.local_up")


def build_parser(modules: Sequence[str] = SUBCOMMAND_MODULES) -> argparse.ArgumentParser:
    return client_cli.build_parser(modules, plugins=False)


def main(argv: Sequence[str] | None = None) -> int:
    return client_cli.main(argv, modules=SUBCOMMAND_MODULES, plugins=False)


if __name__ == "__main__":
    raise SystemExit(main())
