"""1. Cold start: each handler imported and handed one first event in a fresh interpreter, interleaved with the
anchor (and with the poller at another git ref when asked), plus the poller's import-time profile.

Every child runs Lambda-like (bench/layer.py): `python -S` on PYTHONPATH alone, the handlers on the built common
layer and the runtime's packages, the anchor on its own dependencies; nobody writes or finds bytecode for the
layer's code, as on Lambda, where /opt is read-only."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    PY,
    ROOT,
    ChildRun,
    Local,
    check_answer,
    child_env,
    new_stack,
    poll_body,
    queue_arn,
    run_child,
    sqs_event,
    webhook_event,
)
from bench.layer import SITE_PACKAGES, LambdaLike

POLLER = ROOT / "functions" / "poller" / "app.py"


@dataclass
class ColdStart:
    runs: dict[str, list[ChildRun]] = field(default_factory=dict)
    profile: list[tuple[int, int, str]] = field(default_factory=list)  # cumulative us, self us, module


@dataclass
class LayerAtRef:
    pythonpath: Path
    poller: Path  # a poller handler file that imports this package's module layout


def unpack(ref: str, path: str, target: Path) -> None:
    """`path` at git `ref` into `target`, without the path's first two directories."""
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", ref, path],  # noqa: S607 - git from PATH, as for any developer command
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "--strip-components=2", "-C", str(target)], input=archive, check=True)  # noqa: S603,S607


def layer_at(ref: str, workdir: Path) -> LayerAtRef:
    """The taskwatch package as it was at git `ref`, unpacked for PYTHONPATH (ahead of the editable install)."""
    target = workdir / "layer-at-ref"
    target.mkdir()
    unpack(ref, "layers/common/taskwatch", target)
    package = target / "taskwatch"
    if (package / "wiring.py").exists():
        return LayerAtRef(target, POLLER)
    if (package / "runtime.py").exists():
        # Before the move to domain/adapters/entrypoints. This tree's handler imports taskwatch.wiring and
        # friends, which are not there (the editable install would quietly serve them from this tree), so the
        # ref's own handler runs against the ref's package.
        handler = workdir / "poller-at-ref"
        handler.mkdir()
        unpack(ref, "functions/poller/app.py", handler)
        return LayerAtRef(target, handler / "app.py")
    raise RuntimeError(f"layers/common/taskwatch at {ref} has neither wiring.py nor runtime.py")


def bench_cold_start(
    local: Local, n: int, workdir: Path, lambda_env: LambdaLike, compare_ref: str | None = None
) -> ColdStart:
    stack = new_stack(local)
    env = child_env(stack, local.apig.url)
    arn = queue_arn(stack)
    from apig_emulator import ScriptedAnswer

    kinds = ["poller", "anchor"]
    if (ROOT / "functions" / "webhook" / "app.py").exists():
        kinds.insert(1, "webhook")
    envs = {kind: {**env, **lambda_env.env()} for kind in kinds}
    envs["anchor"] = {**env, **lambda_env.anchor_env()}
    handlers: dict[str, Path] = {}
    roots: dict[str, Path] = {kind: lambda_env.layer for kind in kinds}
    if compare_ref:
        label = f"poller@{compare_ref}"
        kinds.insert(1, label)
        at_ref = layer_at(compare_ref, workdir)
        # The ref's package first; this venv's site-packages last, for what an older handler imported and the
        # layer no longer ships (the X-Ray SDK).
        ref_env = lambda_env.env(at_ref.pythonpath)
        ref_env["PYTHONPATH"] += os.pathsep + str(SITE_PACKAGES)
        envs[label] = {**env, **ref_env}
        handlers[label] = at_ref.poller
        roots[label] = at_ref.pythonpath
    out = ColdStart({kind: [] for kind in kinds})
    for i in range(n + 1):  # the first round warms the OS file cache and is not counted
        for label in kinds:
            kind = label.split("@")[0]
            task_id = f"cold{i}{kind}{uuid.uuid4().hex[:8]}"
            local.apig.script(task_id, [ScriptedAnswer.waiting()], task_type="export_api")
            event = (
                webhook_event(stack.webhook_key, task_id)
                if kind == "webhook"
                else sqs_event(poll_body(task_id, expected_type="export_api"), arn)
            )
            run = run_child(kind, event, envs[label], workdir, handlers.get(label), python_args=("-S",))
            check_answer(kind, run.answer)
            check_imported_from(label, run, roots[label])
            if i > 0:
                out.runs[label].append(run)
    out.profile = import_profile({**env, **lambda_env.env()})
    return out


def check_imported_from(label: str, run: ChildRun, package_root: Path) -> None:
    """Every taskwatch module must come from the package under test (the built layer, or the ref's package):
    a mix of trees would measure neither."""
    strays = [name for name in run.taskwatch_files if not Path(name).is_relative_to(package_root)]
    if strays:
        raise RuntimeError(f"{label} imported taskwatch modules from outside {package_root}: {strays[:5]}")


def import_profile(env: dict[str, str]) -> list[tuple[int, int, str]]:
    code = (
        "import importlib.util, sys;"
        f"s = importlib.util.spec_from_file_location('poller_app', {str(POLLER)!r});"
        "m = importlib.util.module_from_spec(s); sys.modules['poller_app'] = m; s.loader.exec_module(m)"
    )
    done = subprocess.run(  # noqa: S603
        [PY, "-S", "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|", 2))
        rows.append((int(cumulative), int(self_us), name))
    return sorted(rows, reverse=True)[:10]
