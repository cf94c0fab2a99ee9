"""Waiting for a watched task through the status API (`taskwatch wait`, `submit --wait`, `import/export --url`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from taskwatch_cli.console import Console
from taskwatch_cli.errors import EXIT_OUTCOME, EXIT_SUCCEEDED, EXIT_TIMEOUT, CliError
from taskwatch_cli.webhook import WebhookClient, describe, refused

RUNNING_STATUSES = ("queued", "polling")  # the watch's own statuses before its outcome (docs/contract.md)
DEFAULT_TIMEOUT = 3600.0
DEFAULT_INTERVAL = 5.0
DEFAULT_NOT_FOUND_GRACE = 60.0


def exit_code(record: dict[str, Any]) -> int:
    status = record.get("status")
    if status == "succeeded":
        return EXIT_SUCCEEDED
    if status in RUNNING_STATUSES:
        return EXIT_TIMEOUT
    return EXIT_OUTCOME


def progress_line(task_id: str, record: dict[str, Any]) -> str:
    parts = [f"task {task_id}: {record.get('status')}"]
    if record.get("task_type"):
        parts.append(str(record["task_type"]))
    parts.append(f"attempts {record.get('attempts', 0)}")
    if record.get("next_poll_at") and record.get("status") in RUNNING_STATUSES:
        parts.append(f"next poll {record['next_poll_at']}")
    return ", ".join(parts)


def wait_for_task(
    client: WebhookClient,
    task_id: str,
    *,
    console: Console,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    not_found_grace: float = DEFAULT_NOT_FOUND_GRACE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, dict[str, Any]]:
    """Read the status until the watch ends: (exit code, the last record). Raises CliError (exit 2).

    A 404 is "not recorded yet" (a watch sent through the queue is recorded at its first poll) for
    `not_found_grace` seconds; after that the task is unknown to the status API and waiting ends.
    """
    deadline = clock() + timeout
    record: dict[str, Any] | None = None
    not_found_since: float | None = None
    while True:
        answer = client.status(task_id)
        now = clock()
        if answer.status == 200 and isinstance(answer.body, dict):
            not_found_since = None
            record = answer.body
            console.progress(progress_line(task_id, record))
            if record.get("status") not in RUNNING_STATUSES:
                return exit_code(record), record
        elif answer.status == 404:
            not_found_since = now if not_found_since is None else not_found_since
            if now - not_found_since >= not_found_grace:
                raise CliError(
                    f"the status API does not know task {task_id} (404 for {not_found_grace:g}s): was it submitted "
                    "to this webhook, with these credentials?",
                    task_id=task_id,
                )
            console.progress(f"task {task_id}: not recorded yet")
        elif answer.status == 401:
            raise refused(answer, client.credentials)
        else:
            raise CliError(f"reading the status of task {task_id} failed: {describe(answer)}", task_id=task_id)
        remaining = deadline - clock()
        if remaining <= 0:
            if record is None:
                raise CliError(f"task {task_id} was not recorded within {timeout:g}s", task_id=task_id)
            console.say(
                f"task {task_id}: still {record.get('status')} after {timeout:g}s; gave up waiting (the watch goes on)"
            )
            return EXIT_TIMEOUT, record
        sleep(min(interval, remaining))


def read_status(client: WebhookClient, task_id: str, *, console: Console) -> tuple[int, dict[str, Any]]:
    """One read of the status (`taskwatch status`): exit 0 succeeded, 1 other outcome, 3 still running."""
    answer = client.status(task_id)
    if answer.status == 200 and isinstance(answer.body, dict):
        console.progress(progress_line(task_id, answer.body))
        return exit_code(answer.body), answer.body
    if answer.status == 404:
        raise CliError(f"the status API does not know task {task_id} (404)", task_id=task_id)
    if answer.status == 401:
        raise refused(answer, client.credentials)
    raise CliError(f"reading the status of task {task_id} failed: {describe(answer)}", task_id=task_id)
