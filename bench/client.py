"""8. The CI client (client/, `taskwatch-cli`): what installing it adds to an empty venv, and how fast
`taskwatch --help` starts there (every CI job pays it once per call)."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import PY, ROOT
from bench.stats import median

UV = Path(PY).parent / "uv"
GOAL_BYTES = 2 * 1024 * 1024


@dataclass
class ClientSize:
    installed_bytes: int  # site-packages growth, the `taskwatch` script aside
    distributions: list[str]  # what the install brought, itself included
    help_s: list[float]


def _site_bytes(venv: Path) -> int:
    files = venv.glob("lib/python*/site-packages/**/*")
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())


def _run(*argv: object) -> str:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True).stdout  # noqa: S603


def bench_client(workdir: Path, repeats: int) -> ClientSize:
    """Build the wheel from a copy of the tree (client/ and the layer sources its symlink points at), install it
    into an empty venv, and time `taskwatch --help`."""
    tree = workdir / "client-tree"
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(ROOT / "client", tree / "client", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "layers/common/taskwatch", tree / "layers/common/taskwatch", ignore=ignore)
    dist, venv = workdir / "client-dist", workdir / "client-venv"
    _run(UV, "build", "--wheel", "--offline", "--python", PY, "--out-dir", dist, tree / "client")
    _run(UV, "venv", "--quiet", "--python", PY, venv)
    before = _site_bytes(venv)
    (wheel,) = dist.glob("*.whl")
    _run(UV, "pip", "install", "--offline", "--quiet", "--python", venv / "bin/python", wheel)
    listed = _run(UV, "pip", "list", "--python", venv / "bin/python", "--format", "freeze")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _run(venv / "bin/taskwatch", "--help")
        times.append(time.perf_counter() - started)
    return ClientSize(_site_bytes(venv) - before, listed.split(), times)


def client_lines(c: ClientSize) -> tuple[list[str], list[str]]:
    """The section's lines, and its line of the closing summary."""
    ok = c.installed_bytes < GOAL_BYTES
    lines = [
        "## 8. The CI client",
        "",
        "| what | figure |",
        "|---|---|",
        f"| `taskwatch-cli` installed into an empty venv (from its wheel, dependencies resolved) | "
        f"{c.installed_bytes / 1024:.0f} KiB: {', '.join(c.distributions)} |",
        f"| `taskwatch --help` in that venv, wall time (median of {len(c.help_s)}) | "
        f"{median(c.help_s) * 1000:.0f} ms |",
        "",
        "`submit`, `wait` and `status` need only the standard library; starting tasks and `--direct` add the "
        "`apig` extra (huaweicloudsdkcore and its dependencies).",
        "",
    ]
    verdict = "**met**" if ok else "**NOT met**"
    return lines, [f"CI client {c.installed_bytes / 1024:.0f} KiB installed (goal < 2 MB: {verdict})"]
