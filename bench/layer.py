"""6. Package size, and the Lambda-like environment the cold-start runs use.

The common layer is built here with its own Makefile (the recipe `sam build` runs: arm64 wheels, pip --no-deps),
so its size is the deployed artifact's whatever this machine is. Handlers then run on PYTHONPATH alone
(`python -S`: no site-packages), as Lambda runs them: the layer (/opt/python), the runtime's own packages
(/var/runtime: boto3 and its tree, linked from this venv) and nothing else, without writing bytecode
(/opt is read-only, and the layer ships none).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import MB, PY, ROOT
from bench.stats import median

# What the python3.12 runtime provides; none of it may be in the layer.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
NOT_IN_LAYER = (*RUNTIME_PROVIDED, "pymongo", "bson", "dns", "simplejson", "aws_xray_sdk", "jwt", "cryptography")
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])


@dataclass
class LambdaLike:
    layer: Path  # <artifacts>/python of the common layer, built for arm64 by layers/common/Makefile
    runtime: Path  # the runtime-provided packages only
    anchor_deps: Path  # what bench/anchor.py imports beyond the runtime (Powertools, pydantic), without bytecode

    def env(self, *first: Path) -> dict[str, str]:
        """PYTHONPATH (+ no bytecode writing) for a `python -S` child; `first` goes ahead of the rest."""
        path = [*first, self.layer, self.runtime, ROOT / "local"]
        return {"PYTHONPATH": os.pathsep.join(map(str, path)), "PYTHONDONTWRITEBYTECODE": "1"}

    def anchor_env(self) -> dict[str, str]:
        path = [self.anchor_deps, self.runtime, ROOT / "local"]
        return {"PYTHONPATH": os.pathsep.join(map(str, path)), "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass
class PackageSize:
    source: str
    total_mb: float
    forbidden: list[str]
    top: list[tuple[str, float]]
    import_s: float


def build_common_layer(workdir: Path) -> Path:
    artifacts = workdir / "common-layer"
    command = ["make", "-s", "-C", str(ROOT / "layers" / "common"), "build-CommonLayer"]
    subprocess.run(  # noqa: S603
        [*command, f"ARTIFACTS_DIR={artifacts}", f"PYTHON={PY}"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return artifacts / "python"


def link_runtime(workdir: Path) -> Path:
    target = workdir / "runtime"
    target.mkdir()
    for name in RUNTIME_PROVIDED:
        source = SITE_PACKAGES / name
        if not source.exists():
            source = SITE_PACKAGES / f"{name}.py"
        (target / source.name).symlink_to(source, target_is_directory=source.is_dir())
    return target


def copy_anchor_deps(workdir: Path) -> Path:
    """The top-level packages bench/anchor.py imports from site-packages (runtime's excepted), copied without
    their __pycache__, so the anchor starts from source as the poller's layer does."""
    code = (
        "import json, sys, runpy; runpy.run_path(sys.argv[1]);"
        "print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)})))"
    )
    done = subprocess.run(  # noqa: S603
        [PY, "-c", code, str(ROOT / "bench" / "anchor.py")], capture_output=True, text=True, check=True, cwd=ROOT
    )
    names = {
        Path(f).relative_to(SITE_PACKAGES).parts[0]
        for f in json.loads(done.stdout)
        if Path(f).is_relative_to(SITE_PACKAGES)
    }
    target = workdir / "anchor-deps"
    target.mkdir()
    for name in sorted(names):
        if name.removesuffix(".py") in RUNTIME_PROVIDED or name.startswith(("_virtualenv", "__editable__")):
            continue
        source = SITE_PACKAGES / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def lambda_like(workdir: Path) -> LambdaLike:
    return LambdaLike(build_common_layer(workdir), link_runtime(workdir), copy_anchor_deps(workdir))


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_package(repeats: int, env: LambdaLike) -> PackageSize:
    directory = env.layer
    source = "`layers/common/Makefile` (what `sam build` runs: arm64 wheels, `pip install --no-deps`)"
    sizes: Counter[str] = Counter()
    for entry in directory.iterdir():
        name = entry.name
        if name.endswith((".dist-info", ".data")):
            name = name.split("-")[0].lower()
        sizes[name.removesuffix(".py")] += tree_size(entry)
    total = sum(sizes.values())
    forbidden = sorted(name for name in sizes if name in NOT_IN_LAYER)
    top = [(name, size / MB) for name, size in sizes.most_common(10)]
    code = "import time; t = time.perf_counter(); import taskwatch.wiring; print(time.perf_counter() - t)"
    child_env = {"PATH": os.environ.get("PATH", ""), **env.env()}
    times: list[float] = []
    for _ in range(repeats):
        done = subprocess.run(  # noqa: S603
            [PY, "-S", "-c", code], capture_output=True, text=True, check=False, cwd=ROOT, env=child_env
        )
        times.append(float(done.stdout) if done.returncode == 0 else math.nan)
    return PackageSize(source, total / MB, forbidden, top, median(times))
