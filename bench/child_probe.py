"""One probe in a fresh interpreter, for bench/hostile.py and bench/drift.py; the parent's side is `run_probe`.

    python bench/child_probe.py apig <endpoint> <task_id> <max_body_bytes> <result.json>
    python bench/child_probe.py drift <baseline.json> <current.json> <result.json>
    python bench/child_probe.py plain <current.json> <result.json>

apig: one `ApigClient.get_task` against `endpoint` (credentials from BENCH_AK/BENCH_SK through EnvCredentials).
drift: what the poller's Watcher._compare does: the current export held as text, the baseline read as bytes and
decoded, both loaded with `drift.load_definition`, `drift.diff`, the report serialised as drift.json would be.
plain: the same export text decoded into a str and `json.loads`-ed once (storing an export, without drift).
drift and plain first import the poller's handler module, so the figures carry its resident set.

The result file gets the child's own peak RSS (VmHWM), ru_maxrss, the measured step's time and its outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve()
POLLER = ROOT / "functions" / "poller" / "app.py"
MB = 1024 * 1024


@dataclass
class ProbeRun:
    """One fresh interpreter: peak RSS (VmHWM, MiB), ru_maxrss (MiB), the measured step's seconds, the whole
    process's seconds, what came out of the step, and figures the step reported (sizes, counts)."""

    rss_mb: float
    maxrss_mb: float
    elapsed_s: float
    wall_s: float
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


def probe_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**keep, **(extra or {})}


def run_probe(args: list[str], workdir: Path, env: dict[str, str], timeout_s: float = 300.0) -> ProbeRun:
    """Run this script with `args` (the result path is appended) in a fresh interpreter and read its result."""
    result_path = workdir / f"probe-{time.monotonic_ns()}.result.json"
    started = time.perf_counter()
    with (workdir / "probe.stderr").open("ab") as stderr:
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(PROBE), *args, str(result_path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=ROOT,
            timeout=timeout_s,
            check=False,
        )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (workdir / "probe.stderr").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"probe {args[0]} exited {done.returncode}:\n{tail}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return ProbeRun(
        rss_mb=result["peak_rss_mb"],
        maxrss_mb=result["maxrss_mb"],
        elapsed_s=result["elapsed_s"],
        wall_s=wall,
        outcome=result["outcome"],
        detail=result["detail"],
    )


# --- the child's side ---------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM). ru_maxrss also carries the parent's RSS at fork, which Linux
    keeps across exec (bench/child.py says more), so it is reported beside it, not instead."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return maxrss_mb()


def maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_poller() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("poller_app", POLLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


def probe_apig(endpoint: str, task_id: str, max_body: int) -> tuple[float, str, dict[str, Any]]:
    from taskwatch.adapters.apig import ApigClient, BodyTooLarge
    from taskwatch.adapters.secrets import EnvCredentials
    from taskwatch.domain.model import PollMessage

    credentials = EnvCredentials(
        {"HUAWEICLOUD_SDK_AK": os.environ["BENCH_AK"], "HUAWEICLOUD_SDK_SK": os.environ["BENCH_SK"]}
    )
    client = ApigClient(credentials, endpoint=endpoint, max_body_bytes=max_body)
    message = PollMessage(
        project_id="0123456789abcdef0123456789abcdef",
        instance_id="eddc4d25480b4cd6b512f270a1b8b341",
        task_id=task_id,
        expected_type="export_api",
    )
    detail: dict[str, Any] = {"cap_bytes": max_body}
    started = time.perf_counter()
    try:
        state = client.get_task(message)
    except BodyTooLarge as exc:
        return time.perf_counter() - started, f"BodyTooLarge: {exc}", detail
    elapsed = time.perf_counter() - started
    export_chars = len(state.export.content) if state.export is not None else 0
    detail["export_chars"] = export_chars
    return (
        elapsed,
        f"ok: {state.task_type} {state.status}, export text of {export_chars / 1e6:.1f} M characters",
        detail,
    )


def probe_drift(baseline_path: Path, current_path: Path) -> tuple[float, str, dict[str, Any]]:
    load_poller()
    from taskwatch.domain import drift

    content = current_path.read_bytes().decode("utf-8")  # the poller holds the current export as text
    started = time.perf_counter()
    before = drift.load_definition(baseline_path.read_bytes().decode("utf-8", "replace"))
    after = drift.load_definition(content)
    loaded = time.perf_counter()
    report = drift.diff(before, after)
    diffed = time.perf_counter()
    del before, after
    body = json.dumps(report.to_json("baseline"), ensure_ascii=False, indent=2).encode("utf-8")
    done = time.perf_counter()
    summary = report.summary("baseline")
    detail = {
        "load_s": loaded - started,
        "diff_s": diffed - loaded,
        "report_s": done - diffed,
        "report_bytes": len(body),
        "export_bytes": current_path.stat().st_size,
        **{k: summary[k] for k in ("added", "removed", "changed", "breaking")},
    }
    outcome = (
        f"ok: {summary['added']} added, {summary['removed']} removed, {summary['changed']} changed, "
        f"{summary['breaking']} breaking"
    )
    return done - started, outcome, detail


def probe_plain(current_path: Path) -> tuple[float, str, dict[str, Any]]:
    load_poller()
    started = time.perf_counter()
    content = current_path.read_bytes().decode("utf-8")
    value = json.loads(content)
    elapsed = time.perf_counter() - started
    return elapsed, f"ok: {len(value.get('paths', {}))} paths", {"export_bytes": len(content)}


def main() -> None:
    kind, *args, result_path = sys.argv[1:]
    if kind == "apig":
        elapsed, outcome, detail = probe_apig(args[0], args[1], int(args[2]))
    elif kind == "drift":
        elapsed, outcome, detail = probe_drift(Path(args[0]), Path(args[1]))
    elif kind == "plain":
        elapsed, outcome, detail = probe_plain(Path(args[0]))
    else:
        raise SystemExit(f"unknown probe {kind!r}")
    result = {
        "peak_rss_mb": peak_rss_mb(),
        "maxrss_mb": maxrss_mb(),
        "elapsed_s": elapsed,
        "outcome": outcome,
        "detail": detail,
    }
    Path(result_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
