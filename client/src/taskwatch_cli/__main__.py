"""`python -m taskwatch_cli` runs the `taskwatch` command."""

from __future__ import annotations

from taskwatch_cli.cli import main

raise SystemExit(main())
