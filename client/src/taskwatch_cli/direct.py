"""Watching an APIG task from this process (`--direct`, `taskwatch watch`): no webhook, no AWS.

The poller's own pieces: ApigClient.get_task (signed, bounded reads), the PollPolicy's delays and
deadline, parse_task, decide_outcome and export_file_name; only the waiting is a sleep here instead of
a delayed SQS message. The document printed has the status record's fields.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskwatch_cli.console import Console
from taskwatch_cli.errors import EXIT_OUTCOME, EXIT_SUCCEEDED, EXIT_TIMEOUT, CliError
from taskwatch_cli.report import ApiResult, Ending

if TYPE_CHECKING:
    from taskwatch.domain.model import PollMessage, TaskState
    from taskwatch.domain.policy import PollPolicy
    from taskwatch.domain.ports import TaskReader
    from taskwatch.domain.records import Decision


@dataclass(frozen=True)
class Watched:
    decision: Decision | None  # None: still running when the deadline passed
    state: TaskState | None
    attempts: int


def watch_task(
    reader: TaskReader,
    message: PollMessage,
    policy: PollPolicy,
    *,
    console: Console,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> Watched:
    from taskwatch.domain.errors import (
        CredentialsError,
        PermanentApigError,
        TaskNotFound,
        TransientApigError,
        Unauthorized,
    )
    from taskwatch.domain.model import MalformedTask
    from taskwatch.domain.outcomes import decide_outcome, outcome_for_error

    first_poll_at = clock()
    deadline = policy.deadline(first_poll_at, message.max_wait_seconds)
    attempt = 0
    state: TaskState | None = None
    while True:
        attempt += 1
        now = clock()
        try:
            state = reader.get_task(message)
        except TransientApigError as exc:
            console.say(f"task {message.task_id}: APIG unavailable ({exc.error_code or exc}), polling again later")
        except (TaskNotFound, Unauthorized, CredentialsError, PermanentApigError, MalformedTask) as exc:
            return Watched(outcome_for_error(exc, message.expected_type), None, attempt)
        if state is not None and not state.status.running:
            return Watched(decide_outcome(state, message.expected_type), state, attempt)
        delay = policy.delay_within_deadline(attempt, now, first_poll_at, deadline, rand)
        if delay is None:
            return Watched(None, state, attempt)
        if state is not None:
            console.progress(
                f"task {message.task_id}: {state.status.value}, {state.task_type}, attempts {attempt}, "
                f"next poll in {delay}s"
            )
        sleep(delay)


def store_export(watched: Watched, out: str | None) -> str | None:
    """Write a succeeded export's text, byte for byte, to `out` (default: its own file name, here)."""
    from taskwatch.domain.exports import export_file_name
    from taskwatch.domain.model import Outcome

    state = watched.state
    if state is None or state.export is None or watched.decision is None:
        return None
    if watched.decision.outcome is not Outcome.SUCCEEDED:
        return None
    path = Path(out) if out else Path.cwd() / export_file_name(state.export)
    path.write_bytes(state.export.content.encode("utf-8"))
    return str(path.resolve())


def ending(watched: Watched, message: PollMessage, *, export_file: str | None) -> Ending:
    decision, state = watched.decision, watched.state
    document: dict[str, Any] = {
        "task_id": message.task_id,
        "project_id": message.project_id,
        "instance_id": message.instance_id,
        "attempts": watched.attempts,
        "export": {"file": export_file} if export_file else None,
    }
    if decision is None:
        document |= {
            "status": "polling",
            "outcome": None,
            "task_type": state.task_type if state else message.expected_type,
            "error_code": None,
            "error_msg": None,
            "failures": [],
        }
        return Ending(EXIT_TIMEOUT, document)
    document |= {
        "status": decision.outcome.value,
        "outcome": decision.outcome.value,
        "task_type": decision.task_type,
        "error_code": decision.error_code,
        "error_msg": decision.error_msg,
        "failures": decision.failures,
    }
    apis: list[ApiResult] | None = None
    report = state.report if state else None
    if report is not None:
        apis = [ApiResult(str(api.get("method", "")), str(api.get("path", ""))) for api in report.success]
        apis += [ApiResult(f.method, f.path, f.error_code, f.error_msg) for f in report.failures]
    code = EXIT_SUCCEEDED if decision.outcome.value == "succeeded" else EXIT_OUTCOME
    return Ending(code, document, apis=apis)


def run_direct(
    message: PollMessage,
    *,
    endpoint: str | None,
    region: str,
    env: Mapping[str, str],
    console: Console,
    min_delay: int,
    max_delay: int,
    out: str | None,
) -> Ending:
    """Watch `message`'s task until it ends or its max_wait_seconds pass; the ending to print."""
    try:
        from taskwatch.adapters.apig import ApigClient
        from taskwatch.adapters.secrets import EnvCredentials
    except ImportError as error:
        if (error.name or "").startswith("huaweicloudsdkcore"):
            raise CliError("--direct needs the Huawei SDK's core: pip install 'taskwatch-cli[apig]'") from None
        raise
    from taskwatch.domain.policy import PollPolicy
    from taskwatch_cli.apig import huawei_credentials

    huawei_credentials(env)  # missing credentials are a configuration error, not the task's outcome
    try:
        policy = PollPolicy(min_delay, max_delay, message.max_wait_seconds or 3600)
    except ValueError as error:
        raise CliError(str(error)) from None
    reader = ApigClient(EnvCredentials(env), endpoint=endpoint, default_region=region)
    console.say(f"watching task {message.task_id} directly on {endpoint or 'APIG in ' + region}")
    watched = watch_task(reader, message, policy, console=console)
    try:
        export_file = store_export(watched, out)
    except OSError as error:
        raise CliError(
            f"cannot write the export to {error.filename}: {error.strerror}", task_id=message.task_id
        ) from None
    if export_file:
        console.say(f"export written to {export_file}")
    return ending(watched, message, export_file=export_file)
