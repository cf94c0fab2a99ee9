"""Plays the story against the local stack: starts it, submits the tasks as CI would, follows them, stops it."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from taskwatch_local.apig_tasks import ApigTasks
from taskwatch_local.ci import RUNNING_STATUSES, WebhookClient, submit_task
from taskwatch_local.demo.render import Narrator, ProgressTable, row, summarize
from taskwatch_local.demo.second_act import play_second_act
from taskwatch_local.demo.story import SCRIPT, DemoResult, StoryTask
from taskwatch_local.environment import LocalEnvironment, local_environment

STORY_TIMEOUT = 45.0
FAST_TIMEOUT = 30.0
NOTIFICATION_GRACE = 3.0


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
        narrator.say("second act: a CI token instead of the shared key, an export that drifts, a callback")
        result.second_act = play_second_act(env, narrator, timeout=FAST_TIMEOUT if fast else STORY_TIMEOUT)
        summarize(result, out)
        narrator.say("stopping everything")
    result.elapsed = time.monotonic() - started
    return result


def captured_run(fast: bool = True) -> tuple[DemoResult, str]:
    """Run the story with its output captured (tests)."""
    buffer = io.StringIO()
    return run_demo(fast=fast, out=buffer), buffer.getvalue()


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
    tasks: list[StoryTask] = []
    for scripted in SCRIPT:
        task_id = scripted.start(apig)
        verb = "async-export" if scripted.task_type == "export_api" else "async-import"
        narrator.say(f"CI -> POST APIG .../openapi/{verb} ({scripted.label}, SDK-HMAC-SHA256 signed): task {task_id}")
        tasks.append(StoryTask(scripted.label, scripted.task_type, task_id, scripted.expected_outcome))
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
