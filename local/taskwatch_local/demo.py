"""`taskwatch demo`: the whole pipeline on this machine, told as a CI story.

A pipeline starts three APIG tasks over HTTP (an export, an import with one failing API, an
import of a definition APIG rejects), hands each to the webhook as CI would (`taskwatch submit`'s
own client, Standard Webhooks signatures), and follows them through the status API while the real
poller polls the APIG emulator with real (demo-scale) delays. The summary shows where the export
landed, the notifications a subscriber received and the status API's answers; the exit code says
whether the story ended as scripted.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from taskwatch_local.apig_tasks import ApigTasks
from taskwatch_local.ci import RUNNING_STATUSES, WebhookClient, submit_task
from taskwatch_local.environment import LocalEnvironment, local_environment

EXPORT_GROUP = "petstore"
ORDERS_SWAGGER = json.dumps(
    {
        "swagger": "2.0",
        "info": {"title": "orders", "version": "1.4.0"},
        "paths": {
            "/orders": {"get": {"operationId": "listOrders"}, "post": {"operationId": "createOrder"}},
            "/orders/{id}": {"get": {"operationId": "showOrder"}},
            "/orders/fail-fast": {"post": {"operationId": "expediteOrder"}},
        },
    },
    indent=2,
)
BROKEN_SWAGGER = json.dumps(
    {
        "swagger": "2.0",
        "info": {"title": "broken payments", "version": "0.1.0"},
        "paths": {"/payments": {"post": {"operationId": "pay"}}},
    },
    indent=2,
)
STORY_TIMEOUT = 45.0
FAST_TIMEOUT = 30.0
NOTIFICATION_GRACE = 3.0
EXIT_AS_SCRIPTED, EXIT_DIFFERED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class StoryTask:
    label: str
    task_type: str
    task_id: str
    expected_outcome: str


@dataclass
class DemoResult:
    tasks: list[StoryTask]
    statuses: dict[str, dict[str, Any]]  # task id -> the status API's last answer
    objects: dict[str, bytes]
    bucket: str
    notifications: list[dict[str, Any]]
    elapsed: float
    finished: bool


# --- the verdict -----------------------------------------------------------------------------------------


def differences(result: DemoResult) -> list[str]:
    """How the run differed from the script; empty when it ended as scripted."""
    found: list[str] = []
    if not result.finished:
        found.append("not every task finished before the demo's deadline")
    for task in result.tasks:
        status = result.statuses.get(task.task_id) or {}
        if status.get("status") != task.expected_outcome:
            found.append(f"{task.label}: status {status.get('status')!r}, expected {task.expected_outcome!r}")
        elif task.task_type == "export_api":
            found.extend(_export_differences(task, status, result))
        elif task.expected_outcome == "partial_failure":
            failures = status.get("failures") or []
            if not failures or not all("/fail" in str(item.get("path")) for item in failures):
                found.append(f"{task.label}: the failed APIs are not listed as the ones under /fail: {failures}")
        elif task.expected_outcome == "failed" and status.get("error_code") != "APIG.3201":
            found.append(f"{task.label}: error_code {status.get('error_code')!r}, expected 'APIG.3201'")

    expected_notes = {t.task_id: t.expected_outcome for t in result.tasks if t.expected_outcome != "succeeded"}
    got_notes = [(n["message"].get("task_id"), n["message"].get("outcome")) for n in result.notifications]
    if len(got_notes) != len(expected_notes) or dict(got_notes) != expected_notes:
        found.append(f"notifications: got {got_notes}, expected one each for {sorted(expected_notes.items())}")
    return found


def _export_differences(task: StoryTask, status: dict[str, Any], result: DemoResult) -> list[str]:
    export = status.get("export") or {}
    key = export.get("key")
    if export.get("bucket") != result.bucket or key not in result.objects:
        return [f"{task.label}: no stored export at {export}"]
    try:
        document = json.loads(result.objects[key])
    except ValueError:
        return [f"{task.label}: the stored export is not JSON"]
    if not isinstance(document, dict) or document.get("swagger") != "2.0" or not document.get("paths"):
        return [f"{task.label}: the stored export is not a swagger document"]
    return []


def exit_code(result: DemoResult) -> int:
    return EXIT_AS_SCRIPTED if not differences(result) else EXIT_DIFFERED


# --- the story -------------------------------------------------------------------------------------------


class Narrator:
    def __init__(self, stream: TextIO, started: float) -> None:
        self.stream = stream
        self._started = started

    def say(self, text: str = "") -> None:
        stamp = f"[{time.monotonic() - self._started:5.1f}s] " if text else ""
        self.stream.write(stamp + text + "\n")
        self.stream.flush()


def run_demo(*, fast: bool = False, out: TextIO | None = None) -> DemoResult:
    """Play the story once; everything started is stopped before this returns (or raises)."""
    out = out or sys.stdout
    started = time.monotonic()
    narrator = Narrator(out, started)
    waiting, processing = (1.0, 1.0) if fast else (2.0, 3.0)
    narrator.say("starting: moto server (AWS), APIG emulator, webhook HTTP API, poller event source")
    with local_environment(waiting_seconds=waiting, processing_seconds=processing) as env:
        changes = env.scale.changes()
        _introduce(env, narrator, waiting, processing, changes)
        tasks = _start_tasks(env, narrator)
        client = WebhookClient(env.webhook_url, env.stack.webhook_key)
        for task in tasks:
            message = {
                "project_id": env.project_id,
                "instance_id": env.instance_id,
                "task_id": task.task_id,
                "expected_type": task.task_type,
                "source": {"ci": "demo-pipeline", "job": task.label, "run": 1},
            }
            status_url = submit_task(client, message, err=out)
            narrator.say(f"CI -> POST {env.webhook_url}/tasks ({task.label}): 202, status at {status_url}")
        narrator.say("following the tasks through GET /tasks/{task_id} (Standard Webhooks signed)")
        statuses, finished = follow(client, tasks, out, timeout=FAST_TIMEOUT if fast else STORY_TIMEOUT)
        notifications = _collect_notifications(env, expected=sum(t.expected_outcome != "succeeded" for t in tasks))
        result = DemoResult(
            tasks=tasks,
            statuses=statuses,
            objects=env.stack.objects(),
            bucket=env.stack.bucket,
            notifications=notifications,
            elapsed=time.monotonic() - started,
            finished=finished,
        )
        summarize(result, out)
        narrator.say("stopping everything")
    result.elapsed = time.monotonic() - started
    return result


def _introduce(
    env: LocalEnvironment, narrator: Narrator, waiting: float, processing: float, changes: list[str]
) -> None:
    narrator.say(f"AWS (moto) at {env.aws_endpoint}; APIG emulator at {env.apig_url}; webhook at {env.webhook_url}")
    narrator.say(
        f"stack from template.yaml: queue {env.template.queue} (+ {env.template.dead_letter_queue}), "
        f"bucket {env.template.bucket}, topic {env.template.topic}, table {env.template.table}"
    )
    narrator.say("demo scale (everything else as in template.yaml):")
    for change in changes:
        narrator.say(f"  {change}")
    narrator.say(f"  APIG tasks wait {waiting:g}s, then process {processing:g}s")


def _start_tasks(env: LocalEnvironment, narrator: Narrator) -> list[StoryTask]:
    apig = ApigTasks(env.apig_url, env.ak, env.sk, env.project_id, env.instance_id)
    story: list[tuple[str, str, str, Callable[[], str]]] = [
        ("export petstore", "export_api", "succeeded", lambda: apig.start_export(EXPORT_GROUP)),
        ("import orders", "import_api", "partial_failure", lambda: apig.start_import(ORDERS_SWAGGER)),
        ("import payments", "import_api", "failed", lambda: apig.start_import(BROKEN_SWAGGER)),
    ]
    tasks = []
    for label, task_type, expected, start in story:
        task_id = start()
        verb = "async-export" if task_type == "export_api" else "async-import"
        narrator.say(f"CI -> POST APIG .../openapi/{verb} ({label}, SDK-HMAC-SHA256 signed): task {task_id}")
        tasks.append(StoryTask(label, task_type, task_id, expected))
    return tasks


def _collect_notifications(env: LocalEnvironment, *, expected: int) -> list[dict[str, Any]]:
    """What the topic's subscriber received; a short grace so a late or extra one is seen too."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + NOTIFICATION_GRACE
    while time.monotonic() < deadline:
        found.extend(env.stack.notifications(wait_seconds=1))
        if len(found) >= expected:
            found.extend(env.stack.notifications())
            break
    return found


# --- live progress ---------------------------------------------------------------------------------------


def follow(
    client: WebhookClient,
    tasks: list[StoryTask],
    out: TextIO,
    *,
    timeout: float,
    interval: float = 0.5,
    clock: Callable[[], float] = time.time,
) -> tuple[dict[str, dict[str, Any]], bool]:
    """Read every task's status until all have ended (True) or `timeout` passes (False)."""
    table = ProgressTable(out)
    statuses: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while True:
        for task in tasks:
            answer = client.status(task.task_id)
            if answer.status == 200 and isinstance(answer.body, dict):
                statuses[task.task_id] = answer.body
        table.show([row(task, statuses.get(task.task_id), clock()) for task in tasks])
        done = len(statuses) == len(tasks) and all(s.get("status") not in RUNNING_STATUSES for s in statuses.values())
        if done or time.monotonic() >= deadline:
            table.close()
            return statuses, done
        time.sleep(interval)


COLUMNS = (("task", 34), ("type", 11), ("status", 16), ("attempts", 9), ("next poll in", 12))


def row(task: StoryTask, status: dict[str, Any] | None, now: float) -> tuple[str, ...]:
    status = status or {}
    next_poll = "-"
    if status.get("next_poll_at") and status.get("status") in RUNNING_STATUSES:
        at = datetime.fromisoformat(str(status["next_poll_at"]).replace("Z", "+00:00")).timestamp()
        next_poll = f"{max(0.0, at - now):.0f}s"
    return (
        f"{task.label} {task.task_id[:8]}",
        task.task_type,
        str(status.get("status", "unknown")),
        str(status.get("attempts", 0)),
        next_poll,
    )


class ProgressTable:
    """Redrawn in place on a terminal (ANSI); otherwise one line per task whose state changed."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._drawn = 0
        self._last: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def format(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip()

    def show(self, rows: list[tuple[str, ...]]) -> None:
        if self._tty:
            lines = [self.format(tuple(name for name, _ in COLUMNS)), *(self.format(r) for r in rows)]
            if self._drawn:
                self._stream.write(f"\x1b[{self._drawn}F")
            self._stream.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            for cells in rows:
                state = cells[:4]  # the countdown alone is not a change worth a line
                if self._last.get(cells[0]) != state:
                    self._last[cells[0]] = state
                    self._stream.write(
                        f"  {cells[0]}: {cells[2]} ({cells[1]}, attempts {cells[3]}, next poll in {cells[4]})\n"
                    )
        self._stream.flush()

    def close(self) -> None:
        self._drawn = 0


# --- the summary -----------------------------------------------------------------------------------------


def summarize(result: DemoResult, out: TextIO) -> None:
    write = out.write
    write("\n== where the export landed\n")
    for task in result.tasks:
        export = (result.statuses.get(task.task_id) or {}).get("export")
        if task.task_type != "export_api":
            continue
        if not export or export.get("key") not in result.objects:
            write(f"  {task.label}: no export stored\n")
            continue
        write(f"  s3://{export['bucket']}/{export['key']}\n")
        for line in result.objects[export["key"]].decode("utf-8", "replace").splitlines()[:5]:
            write(f"    | {line}\n")
    write(f"\n== notifications received by the topic's subscriber ({len(result.notifications)})\n")
    for note in result.notifications:
        message = note["message"]
        write(f"  {note['subject']}\n")
        write(f"    outcome {message.get('outcome')}, error {message.get('error_code')}: {message.get('error_msg')}\n")
        for failure in message.get("failures") or []:
            write(f"    - {failure['method']} {failure['path']}: {failure['error_code']} {failure['error_msg']}\n")
    write("\n== the status API's answers (GET /tasks/{task_id})\n")
    for task in result.tasks:
        status = result.statuses.get(task.task_id) or {}
        shown = {k: status.get(k) for k in ("status", "attempts", "error_code", "export") if status.get(k)}
        if status.get("failures"):
            shown["failures"] = len(status["failures"])
        write(f"  {task.label}: {json.dumps(shown)}\n")
    problems = differences(result)
    write("\n== verdict\n")
    if problems:
        write("  the story did NOT end as scripted:\n")
        write("".join(f"  - {problem}\n" for problem in problems))
    else:
        write("  as scripted: export stored, one partial import, one failed import, two notifications\n")
    write(f"  ({result.elapsed:.1f}s so far)\n")
    out.flush()


# --- the command -----------------------------------------------------------------------------------------


def register(subcommands: Any) -> None:
    demo = subcommands.add_parser(
        "demo", help="run the whole pipeline locally as a CI story (exit 0 when it ends as scripted)",
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


def captured_run(fast: bool = True) -> tuple[DemoResult, str]:
    """Run the story with its output captured (tests)."""
    buffer = io.StringIO()
    return run_demo(fast=fast, out=buffer), buffer.getvalue()
