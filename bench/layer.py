"""6. Package size: the common layer unpacked, by top-level package, and how long its wiring module takes to
import in a fresh interpreter."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import MB, PY, ROOT
from bench.stats import median

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


@dataclass
class PackageSize:
    source: str
    total_mb: float
    runtime_provided_mb: float
    top: list[tuple[str, float]]
    import_s: float


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_package(repeats: int, workdir: Path) -> PackageSize:
    built = ROOT / ".aws-sam" / "build" / "CommonLayer" / "python"
    if built.is_dir():
        directory, source = built, "`.aws-sam/build/CommonLayer` (sam build, arm64 wheels)"
    else:
        directory = workdir / "layer"
        done = subprocess.run(  # noqa: S603
            [
                PY,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                str(directory),
                "-r",
                str(ROOT / "layers/common/requirements.txt"),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if done.returncode != 0:
            return PackageSize(f"pip install failed: {done.stderr.strip()[-200:]}", math.nan, math.nan, [], math.nan)
        shutil.copytree(ROOT / "layers/common/taskwatch", directory / "taskwatch")
        source = "`pip install --target` of layers/common/requirements.txt (host wheels) + taskwatch"
    sizes: Counter[str] = Counter()
    for entry in directory.iterdir():
        name = entry.name
        if name.endswith((".dist-info", ".data")):
            name = name.split("-")[0].lower()
        sizes[name.removesuffix(".py")] += tree_size(entry)
    total = sum(sizes.values())
    provided = sum(sizes.get(name, 0) for name in RUNTIME_PROVIDED)
    top = [(name, size / MB) for name, size in sizes.most_common(10)]
    code = "import time; t = time.perf_counter(); import taskwatch.wiring; print(time.perf_counter() - t)"
    times = [
        float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout)  # noqa: S603
        for _ in range(repeats)
    ]
    return PackageSize(source, total / MB, provided / MB, top, median(times))
