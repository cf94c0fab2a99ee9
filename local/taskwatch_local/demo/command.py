"""The `taskwatch demo` subcommand: its arguments, and the exit code it returns."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from taskwatch_local.demo.checks import exit_code
from taskwatch_local.demo.run import run_demo

EXIT_INTERRUPTED = 130


def register(subcommands: Any) -> None:
    demo = subcommands.add_parser(
        "demo",
        help="run the whole pipeline locally as a CI story (exit 0 when it ends as scripted)",
        description="Emulated AWS and APIG, a CI pipeline submitting three tasks, live progress and a summary.",
    )
    demo.add_argument("--fast", action="store_true", help="shorter APIG tasks (1 s waiting, 1 s processing)")
    demo.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        result = run_demo(fast=args.fast, out=out)
    except KeyboardInterrupt:
        out.write("\ninterrupted: everything was stopped\n")
        return EXIT_INTERRUPTED
    code = exit_code(result)
    out.write(f"taskwatch demo: {'ok' if code == 0 else 'differed from the script'} in {result.elapsed:.1f}s\n")
    return code
