"""One poll of one task: claim it, read APIG, then schedule the next poll or finish the watch.

Exactly-once effects on at-least-once delivery
----------------------------------------------
The record's `attempts` counter is the fence. A message that carries `attempt = k` may only run
poll k + 1, and it claims that poll with one conditional write (`attempts: k -> k + 1`, plus the
claiming delivery's SQS message id and a lease) *before* it calls APIG. So:

* A duplicate delivery, or a stale copy of an older message, loses the claim and stops before
  reaching APIG: no second APIG call, no forked chain, no second export or notification.
* A delivery that claimed and then failed (an AWS error or a crash) is redelivered by SQS with the
  same message id. It finds its own claim and resumes once the lease has expired and, for a running
  task, once its successor would have been claimed if it had been sent: a running chain is presumed
  alive until its next poll is overdue. Until then it defers itself with a delayed continuation
  (`claim` set) instead of failing, so waiting never pushes it towards the DLQ.
* If a resumed step re-sends a successor that had in fact been sent, the two copies have different
  message ids; the first to claim wins and the other is dropped as a duplicate.
* Effects on a terminal state are ordered: store the export (a deterministic key, checked before
  re-writing on resume), write the outcome, publish, mark notified. A failed mark after a successful
  publish is carried forward by a continuation that says `notified`, so the publish is not repeated.
  The one window left is a process crash between SNS accepting the publish and the next write.

A steady poll costs two AWS requests: the claim write and the re-enqueue.
"""

from __future__ import annotations

import json
import math
import random as _random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from taskwatch.errors import (
    CredentialsError,
    DependencyError,
    PermanentApigError,
    TaskNotFound,
    TransientApigError,
    Unauthorized,
)
from taskwatch.model import ExportResult, MalformedTask, Outcome, PollMessage, TaskState, TaskStatus
from taskwatch.notifications import Notifier, build_notification, should_notify
from taskwatch.policy import PollPolicy
from taskwatch.records import Fenced, TaskRecord, TaskRecords, Terminal

MALFORMED_CODE = "TASKWATCH.MALFORMED_RESULT"
TYPE_MISMATCH_CODE = "TASKWATCH.TYPE_MISMATCH"
CREDENTIALS_CODE = "TASKWATCH.CREDENTIALS"
TIMED_OUT_CODE = "TASKWATCH.TIMED_OUT"
# A record must fit DynamoDB's 400 KB item and a notification SNS's 256 KB message: an import with
# thousands of failures lists the first ones there; the import report in S3 keeps every one.
MAX_LISTED_FAILURES = 200
MAX_FIELD_CHARS = 300
MAX_MESSAGE_CHARS = 2000


class TaskReader(Protocol):
    def get_task(self, message: PollMessage) -> TaskState: ...


class ExportStore(Protocol):
    bucket: str

    def put(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> None: ...

    def exists(self, key: str, *, size: int) -> bool: ...


class PollQueue(Protocol):
    def send(self, message: PollMessage, *, delay_seconds: int) -> str: ...


class Step(StrEnum):
    POLLING = "polling"
    FINISHED = "finished"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class StepResult:
    step: Step
    outcome: Outcome | None = None
    delay_seconds: int | None = None
    detection_lag: float | None = None


@dataclass(frozen=True)
class WatchSettings:
    policy: PollPolicy
    export_prefix: str = "exports/"
    notify_on_success: bool = False


@dataclass
class Watcher:
    settings: WatchSettings
    apig: TaskReader
    records: TaskRecords
    queue: PollQueue
    store: ExportStore
    notifier: Notifier
    clock: Callable[[], float] = time.time
    random: Callable[[], float] = _random.random

    def handle(self, message: PollMessage, *, delivery_id: str, lease_seconds: float) -> StepResult:
        now = self.clock()
        first_poll_at = message.first_poll_at if message.first_poll_at is not None else now
        policy = self.settings.policy
        deadline = policy.deadline(first_poll_at, message.max_wait_seconds)
        attempt = message.attempt + 1
        delay = policy.delay_within_deadline(attempt, now, first_poll_at, deadline, self.random)
        claim_id = message.claim or delivery_id
        lease_until = now + lease_seconds

        if message.claim is None:
            claim = self.records.claim(
                message,
                claim_id=claim_id,
                now=now,
                lease_until=lease_until,
                next_poll_at=now + (delay or 0),
                first_poll_at=first_poll_at,
                deadline=deadline,
            )
            if claim.won:
                with self._releasing_on_failure(message.task_id, claim_id):
                    return self._poll(message, claim_id, attempt, first_poll_at, delay, lease_until, resumed=False)
            record = claim.record
        else:
            record = self.records.get(message.task_id)

        resume_at = redelivery_resume_at(record, message, claim_id, grace=lease_seconds)
        if resume_at is None:
            return StepResult(Step.DUPLICATE)
        if now < resume_at:
            return self._defer(message, claim_id, resume_at - now)
        if not self.records.take_over(message.task_id, claim_id=claim_id, now=now, lease_until=lease_until):
            return self._defer(message, claim_id, lease_seconds)
        assert record is not None  # redelivery_resume_at returns None without a record
        with self._releasing_on_failure(message.task_id, claim_id):
            if record.terminal:
                return self._notify_recorded(record, message, claim_id, lease_until)
            return self._poll(message, claim_id, attempt, first_poll_at, delay, lease_until, resumed=True)

    @contextmanager
    def _releasing_on_failure(self, task_id: str, claim_id: str) -> Iterator[None]:
        """When anything fails while we hold the claim (one of our AWS calls, or a bug), give the claim
        back before SQS redelivers: the redelivery may then resume at once instead of waiting out the
        lease. Only a process that dies outright leaves the lease to expire on its own."""
        try:
            yield
        except Exception:
            with suppress(DependencyError, Fenced):  # if this fails too, the lease expires on its own
                self.records.release(task_id, claim_id=claim_id, now=self.clock())
            raise

    # --- one poll, holding the claim -------------------------------------------------------------------

    def _poll(
        self,
        message: PollMessage,
        claim_id: str,
        attempt: int,
        first_poll_at: float,
        delay: int | None,
        lease_until: float,
        *,
        resumed: bool,
    ) -> StepResult:
        try:
            state = self.apig.get_task(message)
        except TransientApigError:
            if delay is None:
                return self._finish(message, claim_id, attempt, first_poll_at, lease_until, timed_out(None),
                                    None, resumed=resumed)
            return self._schedule(message, attempt, first_poll_at, delay)
        except (TaskNotFound, Unauthorized, PermanentApigError, CredentialsError, MalformedTask) as exc:
            return self._finish(message, claim_id, attempt, first_poll_at, lease_until,
                                outcome_for_error(exc, message.expected_type), None, resumed=resumed)

        if state.status.running:
            if delay is None:
                return self._finish(message, claim_id, attempt, first_poll_at, lease_until,
                                    timed_out(state.task_type), None, resumed=resumed)
            return self._schedule(message, attempt, first_poll_at, delay)
        terminal = decide_outcome(state, message.expected_type)
        return self._finish(message, claim_id, attempt, first_poll_at, lease_until, terminal, state,
                            resumed=resumed)

    def _schedule(self, message: PollMessage, attempt: int, first_poll_at: float, delay: int) -> StepResult:
        successor = replace(
            message, attempt=attempt, first_poll_at=first_poll_at, last_poll_at=self.clock(),
            claim=None, notified=False,
        )
        self.queue.send(successor, delay_seconds=delay)
        return StepResult(Step.POLLING, delay_seconds=delay)

    def _defer(self, message: PollMessage, claim_id: str, wait: float) -> StepResult:
        delay = min(max(math.ceil(wait), 1), 900)
        self.queue.send(replace(message, claim=claim_id), delay_seconds=delay)
        return StepResult(Step.DEFERRED, delay_seconds=delay)

    # --- the end of a watch ----------------------------------------------------------------------------

    def _finish(
        self,
        message: PollMessage,
        claim_id: str,
        attempt: int,
        first_poll_at: float,
        lease_until: float,
        terminal: Terminal,
        state: TaskState | None,
        *,
        resumed: bool,
    ) -> StepResult:
        if state is not None and terminal.outcome in (Outcome.SUCCEEDED, Outcome.PARTIAL_FAILURE):
            terminal = self._store_result(message, state, terminal, resumed=resumed)
        notify = should_notify(terminal.outcome, self.settings.notify_on_success)
        now = self.clock()
        # Millisecond precision, as the record keeps it: a notification rebuilt from the record is identical.
        terminal = replace(terminal, finished_at=round(now, 3))
        self.records.finish(message.task_id, claim_id=claim_id, now=now, terminal=terminal, notified=not notify)
        lag = now - message.last_poll_at if message.last_poll_at is not None else None
        if notify:
            record = _record_for(message, attempt, first_poll_at, terminal)
            self._publish(record, terminal, message, claim_id, lease_until)
        return StepResult(Step.FINISHED, outcome=terminal.outcome, detection_lag=lag)

    def _notify_recorded(
        self, record: TaskRecord, message: PollMessage, claim_id: str, lease_until: float
    ) -> StepResult:
        terminal = Terminal(
            outcome=Outcome(record.outcome or Outcome.ERROR.value),
            task_type=record.task_type,
            error_code=record.error_code,
            error_msg=record.error_msg,
            failures=record.failures,
            export=record.export,
            report=record.report,
            finished_at=record.finished_at,
        )
        if message.notified:
            self.records.mark_notified(message.task_id, claim_id=claim_id, now=self.clock())
        else:
            self._publish(record, terminal, message, claim_id, lease_until)
        return StepResult(Step.FINISHED, outcome=terminal.outcome)

    def _publish(
        self, record: TaskRecord, terminal: Terminal, message: PollMessage, claim_id: str, lease_until: float
    ) -> None:
        self.notifier.publish(build_notification(record, terminal, now=self.clock()))
        try:
            self.records.mark_notified(message.task_id, claim_id=claim_id, now=self.clock())
        except DependencyError:
            # The publish went out; carry that fact forward so a redelivery does not repeat it.
            carry = replace(message, claim=claim_id, notified=True)
            self.queue.send(carry, delay_seconds=min(max(math.ceil(lease_until - self.clock()), 0), 900))

    def _store_result(
        self, message: PollMessage, state: TaskState, terminal: Terminal, *, resumed: bool
    ) -> Terminal:
        prefix = f"{self.settings.export_prefix}{message.instance_id}/{message.task_id}/"
        metadata = object_metadata(message, state.task_type)
        if state.export is not None:
            key = prefix + export_file_name(state.export)
            body = state.export.content.encode("utf-8")
            content_type = state.export.content_type
        elif state.report is not None:
            key = prefix + "import-report.json"
            body = json.dumps(state.report.raw, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
            content_type = "application/json"
        else:
            return terminal
        if not (resumed and self.store.exists(key, size=len(body))):
            self.store.put(key, body, content_type=content_type, metadata=metadata)
        location = {"bucket": self.store.bucket, "key": key}
        if state.export is not None:
            return replace(terminal, export=location)
        return replace(terminal, report=location)


def redelivery_resume_at(
    record: TaskRecord | None, message: PollMessage, claim_id: str, *, grace: float
) -> float | None:
    """When a delivery that lost its claim may resume it; None when it is a duplicate to drop."""
    if record is None or record.attempts != message.attempt + 1 or record.claim_id != claim_id:
        return None
    if record.terminal:
        if record.notified:
            return None
        return record.lease_until
    if record.next_poll_at is None:
        return record.lease_until
    return max(record.lease_until, record.next_poll_at + grace)


def outcome_for_error(exc: Exception, expected_type: str | None) -> Terminal:
    """The outcome when APIG's answer ends the watch without a task state (pure: SPEC rules)."""
    if isinstance(exc, TaskNotFound):
        return Terminal(Outcome.NOT_FOUND, expected_type, exc.error_code, exc.error_msg)
    if isinstance(exc, Unauthorized):
        return Terminal(Outcome.UNAUTHORIZED, expected_type, exc.error_code, exc.error_msg)
    if isinstance(exc, CredentialsError):
        return Terminal(Outcome.UNAUTHORIZED, expected_type, CREDENTIALS_CODE, str(exc))
    if isinstance(exc, PermanentApigError):
        return Terminal(Outcome.ERROR, expected_type, exc.error_code, exc.error_msg)
    return Terminal(Outcome.ERROR, expected_type, MALFORMED_CODE, str(exc))


def decide_outcome(state: TaskState, expected_type: str | None) -> Terminal:
    """The outcome of a finished task (pure: the SPEC's rules in one place)."""
    if expected_type is not None and state.task_type != expected_type:
        return Terminal(
            Outcome.ERROR,
            state.task_type,
            TYPE_MISMATCH_CODE,
            f"task is {state.task_type}, expected {expected_type}",
        )
    if state.status is TaskStatus.FAILED:
        error = state.error
        return Terminal(
            Outcome.FAILED,
            state.task_type,
            error.error_code[:MAX_FIELD_CHARS] if error else None,
            error.error_msg[:MAX_MESSAGE_CHARS] if error else None,
        )
    if state.report is not None and state.report.failures:
        failed = len(state.report.failures)
        failures = [_bounded(failure.as_dict()) for failure in state.report.failures[:MAX_LISTED_FAILURES]]
        summary = f"{failed} of {failed + len(state.report.success)} APIs failed to import"
        if failed > MAX_LISTED_FAILURES:
            summary += f" (the first {MAX_LISTED_FAILURES} are listed; the import report has them all)"
        return Terminal(
            Outcome.PARTIAL_FAILURE, state.task_type, failures[0]["error_code"] or None, summary,
            failures=failures,
        )
    return Terminal(Outcome.SUCCEEDED, state.task_type)


def _bounded(failure: dict[str, str]) -> dict[str, str]:
    return {key: value[:MAX_FIELD_CHARS] for key, value in failure.items()}


def export_file_name(export: ExportResult) -> str:
    if not export.file_name:
        return f"swagger.{export.file_type}"
    # Keep APIG's name (colons and all) but never let it add path levels or control characters.
    safe = "".join("_" if ch in "/\\" or ord(ch) < 32 else ch for ch in export.file_name)[:200]
    return f"{safe}.{export.file_type}"


def object_metadata(message: PollMessage, task_type: str) -> dict[str, str]:
    # The SPEC's field names, so whoever reads an object finds the same words as in the notification.
    metadata = {"task_id": message.task_id, "task_type": task_type, "project_id": message.project_id,
                "instance_id": message.instance_id}
    if message.source is not None:
        source = json.dumps(message.source, separators=(",", ":"), sort_keys=True)  # ASCII-escaped
        # S3 allows 2 KB of user metadata in all; a larger CI context stays in the record only.
        if len(source) <= 1500:
            metadata["source"] = source
        else:
            metadata["source_truncated"] = "true"
    return metadata


def timed_out(task_type: str | None) -> Terminal:
    """The outcome of a task still running at its deadline."""
    return Terminal(Outcome.TIMED_OUT, task_type, TIMED_OUT_CODE, "the task did not finish before its deadline")


def _record_for(message: PollMessage, attempts: int, first_poll_at: float, terminal: Terminal) -> TaskRecord:
    return TaskRecord(
        task_id=message.task_id,
        project_id=message.project_id,
        instance_id=message.instance_id,
        status=terminal.outcome.value,
        attempts=attempts,
        expected_type=message.expected_type,
        task_type=terminal.task_type,
        first_poll_at=round(first_poll_at, 3),
        source=message.source,
    )
