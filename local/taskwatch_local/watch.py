"""`taskwatch watch`: follow one real APIG task from a workstation, no AWS needed.

The same pieces as the poller: EnvCredentials (HUAWEICLOUD_SDK_AK/SK), ApigClient.get_task, the
PollPolicy's delays and deadline, decide_outcome and export_file_name; only the waiting is a
sleep here instead of a delayed SQS message. Exit 0 only when the outcome is `succeeded`.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from taskwatch.adapters.apig import ApigClient
from taskwatch.adapters.secrets import EnvCredentials
from taskwatch.config import DEFAULT_REGION
from taskwatch.domain.errors import CredentialsError, PermanentApigError, TaskNotFound, TransientApigError, Unauthorized
from taskwatch.domain.exports import export_file_name, object_metadata
from taskwatch.domain.model import TASK_TYPES, MalformedTask, Outcome, PollMessage, TaskState
from taskwatch.domain.outcomes import decide_outcome, outcome_for_error, timed_out
from taskwatch.domain.policy import PollPolicy
from taskwatch.domain.ports import TaskReader
from taskwatch.domain.records import Decision

EXIT_SUCCEEDED, EXIT_OUTCOME, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Watched:
    decision: Decision
    state: TaskState | None
    attempts: int


def watch_task(
    reader: TaskReader,
    message: PollMessage,
    policy: PollPolicy,
    *,
    out: TextIO,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> Watched:
    first_poll_at = clock()
    deadline = policy.deadline(first_poll_at, message.max_wait_seconds)
    attempt = 0
    while True:
        attempt += 1
        now = clock()
        try:
            state = reader.get_task(message)
        except TransientApigError as exc:
            out.write(f"poll {attempt}: APIG unavailable ({exc.error_code or exc}), trying again\n")
            state = None
        except (TaskNotFound, Unauthorized, CredentialsError, PermanentApigError, MalformedTask) as exc:
            return Watched(outcome_for_error(exc, message.expected_type), None, attempt)
        if state is not None and not state.status.running:
            return Watched(decide_outcome(state, message.expected_type), state, attempt)
        delay = policy.delay_within_deadline(attempt, now, first_poll_at, deadline, rand)
        if delay is None:
            return Watched(timed_out(state.task_type if state else message.expected_type), state, attempt)
        if state is not None:
            out.write(f"poll {attempt}: {state.task_type} {state.status.value}, next poll in {delay}s\n")
        out.flush()
        sleep(delay)


def store_export(watched: Watched, message: PollMessage, args: argparse.Namespace) -> str | None:
    """Write the exported swagger to --out, to S3 (--bucket) or next to the user; returns where."""
    state = watched.state
    if state is None or state.export is None or watched.decision.outcome is not Outcome.SUCCEEDED:
        return None
    export = state.export
    name = export_file_name(export)
    body = export.content.encode("utf-8")
    if args.bucket:
        from taskwatch.adapters.aws import client
        from taskwatch.adapters.s3 import S3ExportStore

        key = f"{args.prefix}{message.instance_id}/{message.task_id}/{name}"
        metadata = object_metadata(message, state.task_type)
        S3ExportStore(args.bucket, client("s3")).put(key, body, content_type=export.content_type, metadata=metadata)
        return f"s3://{args.bucket}/{key}"
    path = Path(args.out) if args.out else Path.cwd() / name
    path.write_bytes(body)
    return str(path)


def describe(watched: Watched) -> list[str]:
    decision = watched.decision
    lines = [f"outcome: {decision.outcome.value} after {watched.attempts} poll(s)"]
    if decision.error_code or decision.error_msg:
        lines.append(f"error: {decision.error_code}: {decision.error_msg}")
    lines.extend(f"  failed: {f['method']} {f['path']}: {f['error_code']} {f['error_msg']}" for f in decision.failures)
    report = watched.state.report if watched.state else None
    if report is not None:
        lines.append(f"imported: {len(report.success)} API(s), failed: {len(report.failures)}")
    return lines


def run_watch(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    message = PollMessage(
        project_id=args.project_id,
        instance_id=args.instance_id,
        task_id=args.task_id,
        region=args.region,
        expected_type=args.expected_type,
        max_wait_seconds=args.max_wait,
    )
    try:
        policy = PollPolicy(args.min_delay, args.max_delay, args.max_wait or 3600)
    except ValueError as exc:
        err.write(f"taskwatch: {exc}\n")
        return EXIT_USAGE
    reader = ApigClient(EnvCredentials(), endpoint=args.endpoint, default_region=args.region or DEFAULT_REGION)
    out.write(f"watching task {args.task_id} ({args.endpoint or 'region ' + (args.region or DEFAULT_REGION)})\n")
    watched = watch_task(reader, message, policy, out=out)
    for line in describe(watched):
        out.write(line + "\n")
    stored = store_export(watched, message, args)
    if stored:
        out.write(f"export written to {stored}\n")
    out.flush()
    return EXIT_SUCCEEDED if watched.decision.outcome is Outcome.SUCCEEDED else EXIT_OUTCOME


def register(subcommands: Any) -> None:
    watch = subcommands.add_parser(
        "watch",
        help="watch one APIG task from this machine (credentials from HUAWEICLOUD_SDK_AK/SK)",
        description="Poll one task with the poller's policy until it ends; exit 0 only when it succeeded.",
    )
    watch.add_argument("--project-id", required=True)
    watch.add_argument("--instance-id", required=True)
    watch.add_argument("--task-id", required=True)
    watch.add_argument("--region", help=f"Huawei Cloud region (default {DEFAULT_REGION})")
    watch.add_argument("--endpoint", help="APIG endpoint override (e.g. the local emulator)")
    watch.add_argument("--expected-type", choices=TASK_TYPES)
    watch.add_argument("--max-wait", type=int, metavar="SECONDS", help="give up after this long (default 3600)")
    watch.add_argument("--min-delay", type=int, default=5, metavar="SECONDS", help="first re-poll delay (5)")
    watch.add_argument("--max-delay", type=int, default=300, metavar="SECONDS", help="largest re-poll delay (300)")
    watch.add_argument("--out", metavar="FILE", help="write the export here (default: its file name, here)")
    watch.add_argument("--bucket", help="store the export in this S3 bucket instead")
    watch.add_argument("--prefix", default="exports/", help="key prefix in the bucket (exports/)")
    watch.set_defaults(run=run_watch)
