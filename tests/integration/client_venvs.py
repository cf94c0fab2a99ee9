"""Installing the client as users do, offline: the source tree as a release archive holds it, wheels of its
dependencies repacked from this venv (no index is reachable from tests), and fresh venvs to install into."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UV = BIN / "uv"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info", "dist")


def source_tree(tmp: Path, name: str = "apig-taskwatch-0.2.0") -> Path:
    """What a tag archive of the repository holds for the client: client/ (its src/taskwatch symlink kept)
    and the symlink's target, layers/common/taskwatch."""
    root = tmp / name
    shutil.copytree(REPO_ROOT / "client", root / "client", symlinks=True, ignore=IGNORED)
    shutil.copytree(REPO_ROOT / "layers/common/taskwatch", root / "layers/common/taskwatch", ignore=IGNORED)
    assert (root / "client/src/taskwatch").is_symlink()
    return root


def archive(tree: Path, target: Path) -> Path:
    """A .tar.gz like GitHub's /archive/refs/tags/<tag>.tar.gz: one top directory, symlinks as symlinks."""
    with tarfile.open(target, "w:gz") as tar:
        tar.add(tree, arcname=tree.name)
    return target


def build_wheel(tree: Path, out: Path) -> Path:
    run(
        [
            str(UV),
            "build",
            "--wheel",
            "--offline",
            "--python",
            sys.executable,
            "--out-dir",
            str(out),
            str(tree / "client"),
        ]
    )
    (wheel,) = out.glob("taskwatch_cli-*.whl")
    return wheel


def fresh_venv(path: Path, *, with_pip: bool = False) -> Path:
    """An empty venv (no pip unless asked); returns its python."""
    if with_pip:
        run([sys.executable, "-m", "venv", str(path)])
    else:
        run([str(UV), "venv", "--quiet", "--python", sys.executable, str(path)])
    return path / "bin" / "python"


def installed(python: Path) -> dict[str, str]:
    """name -> version of every distribution in the venv."""
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    done = run([str(python), "-c", code], cwd=python.parent)  # not the repository: its egg-info would show
    found: dict[str, str] = json.loads(done.stdout)
    return {str(canonicalize_name(name)): version for name, version in found.items()}


def site_packages_bytes(venv: Path) -> int:
    return sum(
        f.stat().st_size for f in venv.glob("lib/python*/site-packages/**/*") if f.is_file() and not f.is_symlink()
    )


def wheelhouse(target: Path, requirements: list[str]) -> Path:
    """Wheels of `requirements` and everything they need, repacked from the distributions installed here."""
    target.mkdir(parents=True, exist_ok=True)
    pending = [Requirement(text) for text in requirements]
    done: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = str(canonicalize_name(requirement.name))
        if name in done:
            continue
        done.add(name)
        distribution = metadata.distribution(name)
        repack(distribution, target)
        for text in distribution.requires or []:
            needed = Requirement(text)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                pending.append(needed)
    return target


def setuptools_wheel(target: Path) -> Path:
    """A setuptools wheel for offline builds of the client (pip's build isolation installs it from here)."""
    target.mkdir(parents=True, exist_ok=True)
    site = target.parent / "setuptools-site"
    run([str(UV), "pip", "install", "--offline", "--quiet", "--target", str(site), "setuptools>=69"])
    (distribution,) = (d for d in metadata.distributions(path=[str(site)]) if d.metadata["Name"] == "setuptools")
    return repack(distribution, target)


def repack(distribution: metadata.Distribution, target: Path) -> Path:
    """An installed distribution back into a wheel (its RECORD lists its files; scripts are left out)."""
    info = Path(str(distribution.locate_file(""))).resolve()
    files = [f for f in distribution.files or [] if not str(f).startswith("..") and "__pycache__" not in str(f)]
    dist_info = next(str(f).split("/")[0] for f in files if ".dist-info/" in str(f))
    wheel_meta = (info / dist_info / "WHEEL").read_text()
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    tag = "-".join(".".join(sorted({t[i] for t in tags})) for i in range(3))  # py2 + py3 -> py2.py3-none-any
    name = str(canonicalize_name(distribution.metadata["Name"])).replace("-", "_")
    path = target / f"{name}-{distribution.version}-{tag}.whl"
    skipped = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in files:
            relative = str(file)
            if relative.startswith(dist_info + "/") and relative.rsplit("/", maxsplit=1)[-1] in skipped:
                continue
            source = info / relative
            if source.is_file():
                data = source.read_bytes()
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{relative},sha256={digest},{len(data)}")
                wheel.writestr(relative, data)
        record.append(f"{dist_info}/RECORD,,")
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return path


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False, env=env, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]
