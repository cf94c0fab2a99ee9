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
* Effects on a terminal state are ordered: store the export (a deterministic key, written only if
  absent), write the outcome, publish, mark notified. A failed mark after a successful
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
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from taskwatch.domain import callbacks
from taskwatch.domain.errors import (
    CredentialsError,
    DependencyError,
    InvalidMessage,
    PermanentApigError,
    TaskNotFound,
    TransientApigError,
    Unauthorized,
)
from taskwatch.domain.exports import DRIFT_NAME, REPORT_NAME, export_file_name, object_metadata, task_prefix
from taskwatch.domain.limits import MAX_WATCH_SECONDS, SQS_MAX_DELAY_SECONDS
from taskwatch.domain.model import MalformedTask, Outcome, PollMessage, TaskState
from taskwatch.domain.notifications import build_notification, should_notify
from taskwatch.domain.outcomes import decide_outcome, outcome_for_error, timed_out
from taskwatch.domain.policy import PollPolicy
from taskwatch.domain.ports import Baselines, ExportStore, Notifier, PollQueue, TaskReader, TaskRecords
from taskwatch.domain.records import Baseline, BaselineScope, Decision, Fenced, TaskRecord, WatchStatus

CLOCK_SKEW_SECONDS = 300.0  # between the functions' clocks and a time they wrote into a message


class Step(StrEnum):
    """What one delivery of a poll message did."""

    POLLING = "polling"  # the task is still running; the next poll is scheduled
    FINISHED = "finished"  # the watch has its outcome
    DUPLICATE = "duplicate"  # another delivery owns this poll; dropped
    DEFERRED = "deferred"  # a crashed delivery's claim is not yet ours to resume; retried later


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
    notify_on_drift: bool = True  # a succeeded export with breaking changes is notified anyway


@dataclass(frozen=True)
class ClaimedPoll:
    """One poll this delivery holds the claim for: what travels from the claim to the poll's effects."""

    message: PollMessage
    claim_id: str
    attempt: int  # this poll's number, 1-based
    first_poll_at: float
    delay: int | None  # until the next poll; None once the deadline has passed
    lease_until: float
    resumed: bool  # a crashed delivery's poll, taken over: its effects may have happened in part
    caller: dict[str, str] | None = None  # who started the watch (an OIDC caller), for the notification

    @property
    def task_id(self) -> str:
        return self.message.task_id


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
    callback_rules: callbacks.CallbackRules = field(default_factory=callbacks.CallbackRules)
    resolver: callbacks.Resolver | None = None
    baselines: Baselines | None = None  # where each scope's newest export is kept; None: no drift reports

    def handle(self, message: PollMessage, *, delivery_id: str, lease_seconds: float) -> StepResult:
        """One delivery of a poll message. Raises InvalidMessage for a message that cannot belong to its watch."""
        now = self.clock()
        problems = bookkeeping_problems(message, now)
        if message.callback_url is not None and message.attempt == 0 and message.claim is None:
            # A queue message obeys the webhook's rules for callbacks (the webhook checked its own already).
            problems += self.callback_rules.problems(message.callback_url, self.resolver or callbacks.NoResolver())
        if problems:
            raise InvalidMessage(problems)
        first_poll_at = message.first_poll_at if message.first_poll_at is not None else now
        policy = self.settings.policy
        # Absolute: no message, whatever it carries, watches a task longer than 7 days after its first poll.
        deadline = min(policy.deadline(first_poll_at, message.max_wait_seconds), first_poll_at + MAX_WATCH_SECONDS)
        attempt = message.attempt + 1
        poll = ClaimedPoll(
            message=message,
            claim_id=message.claim or delivery_id,
            attempt=attempt,
            first_poll_at=first_poll_at,
            delay=policy.delay_within_deadline(attempt, now, first_poll_at, deadline, self.random),
            lease_until=now + lease_seconds,
            resumed=False,
        )

        if message.claim is None:
            claim = self.records.claim(
                message,
                claim_id=poll.claim_id,
                now=now,
                lease_until=poll.lease_until,
                next_poll_at=now + (poll.delay or 0),
                first_poll_at=first_poll_at,
                deadline=deadline,
            )
            if claim.won:
                poll = replace(poll, caller=claim.record.caller if claim.record else None)
                with self._releasing_on_failure(poll):
                    return self._poll(poll)
            record = claim.record
        else:
            record = self.records.get(message.task_id)
        if record is not None and record.identity_problems(message):
            raise InvalidMessage(record.identity_problems(message))

        resume_at = redelivery_resume_at(record, message, poll.claim_id, grace=lease_seconds)
        if resume_at is None:
            return StepResult(Step.DUPLICATE)
        if now < resume_at:
            return self._defer(poll, resume_at - now)
        if not self.records.take_over(message.task_id, claim_id=poll.claim_id, now=now, lease_until=poll.lease_until):
            return self._defer(poll, lease_seconds)
        assert record is not None  # redelivery_resume_at returns None without a record
        poll = replace(poll, resumed=True, caller=record.caller)
        with self._releasing_on_failure(poll):
            if record.terminal:
                return self._notify_recorded(poll, record)
            return self._poll(poll)

    @contextmanager
    def _releasing_on_failure(self, poll: ClaimedPoll) -> Iterator[None]:
        """When anything fails while we hold the claim (one of our AWS calls, or a bug), give the claim
        back before SQS redelivers: the redelivery may then resume at once instead of waiting out the
        lease. Only a process that dies outright leaves the lease to expire on its own."""
        try:
            yield
        except Exception:
            with suppress(DependencyError, Fenced):  # if this fails too, the lease expires on its own
                self.records.release(poll.task_id, claim_id=poll.claim_id, now=self.clock())
            raise

    # --- one poll, holding the claim -------------------------------------------------------------------

    def _poll(self, poll: ClaimedPoll) -> StepResult:
        message = poll.message
        try:
            state = self.apig.get_task(message)
        except TransientApigError:
            if poll.delay is None:
                return self._finish(poll, timed_out(None), None)
            return self._schedule(poll, poll.delay)
        except (TaskNotFound, Unauthorized, PermanentApigError, CredentialsError, MalformedTask) as exc:
            return self._finish(poll, outcome_for_error(exc, message.expected_type), None)

        if state.status.running:
            if poll.delay is None:
                return self._finish(poll, timed_out(state.task_type), None)
            return self._schedule(poll, poll.delay)
        return self._finish(poll, decide_outcome(state, message.expected_type), state)

    def _schedule(self, poll: ClaimedPoll, delay: int) -> StepResult:
        successor = replace(
            poll.message,
            attempt=poll.attempt,
            first_poll_at=poll.first_poll_at,
            last_poll_at=self.clock(),
            claim=None,
            notified=False,
        )
        self.queue.send(successor, delay_seconds=delay)
        return StepResult(Step.POLLING, delay_seconds=delay)

    def _defer(self, poll: ClaimedPoll, wait: float) -> StepResult:
        delay = min(max(math.ceil(wait), 1), SQS_MAX_DELAY_SECONDS)
        self.queue.send(replace(poll.message, claim=poll.claim_id), delay_seconds=delay)
        return StepResult(Step.DEFERRED, delay_seconds=delay)

    # --- the end of a watch ----------------------------------------------------------------------------

    def _finish(self, poll: ClaimedPoll, decision: Decision, state: TaskState | None) -> StepResult:
        if state is not None and decision.outcome in (Outcome.SUCCEEDED, Outcome.PARTIAL_FAILURE):
            decision = self._store_result(poll, state, decision)
        notify = self._should_notify(decision)
        message = poll.message
        now = self.clock()
        # Millisecond precision, as the record keeps it: a notification rebuilt from the record is identical.
        decision = replace(
            decision, finished_at=round(now, 3), callback=callbacks.pending() if message.callback_url else None
        )
        # `notified` means every follow-up of the outcome is done: the notification and the first callback.
        followed_up = not (notify or message.callback_url)
        self.records.finish(poll.task_id, claim_id=poll.claim_id, now=now, decision=decision, notified=followed_up)
        lag = now - message.last_poll_at if message.last_poll_at is not None else None
        if not followed_up:
            self._follow_up(poll, _record_for(poll, decision), decision)
        return StepResult(Step.FINISHED, outcome=decision.outcome, detection_lag=lag)

    def _notify_recorded(self, poll: ClaimedPoll, record: TaskRecord) -> StepResult:
        decision = Decision.recorded(record)
        self._follow_up(poll, record, decision)
        return StepResult(Step.FINISHED, outcome=decision.outcome)

    def _should_notify(self, decision: Decision) -> bool:
        settings = self.settings
        return should_notify(decision, settings.notify_on_success, notify_on_drift=settings.notify_on_drift)

    def _follow_up(self, poll: ClaimedPoll, record: TaskRecord, decision: Decision) -> None:
        """After the outcome is recorded: start the callback chain, publish, then mark the record notified.

        The first callback goes before the publish: a redelivery after any failure here comes back (the
        record is not yet notified) and sends it again, which its own claim turns into one delivery."""
        if record.callback_url:
            first = callbacks.CallbackMessage(record.task_id, record.project_id, record.instance_id)
            self.queue.send(first, delay_seconds=0)
        if poll.message.notified or not self._should_notify(decision):
            self.records.mark_notified(poll.task_id, claim_id=poll.claim_id, now=self.clock())
            return
        self.notifier.publish(build_notification(record, decision, now=self.clock()))
        try:
            self.records.mark_notified(poll.task_id, claim_id=poll.claim_id, now=self.clock())
        except DependencyError:
            # The publish went out; carry that fact forward so a redelivery does not repeat it.
            carry = replace(poll.message, claim=poll.claim_id, notified=True)
            wait = min(max(math.ceil(poll.lease_until - self.clock()), 0), SQS_MAX_DELAY_SECONDS)
            self.queue.send(carry, delay_seconds=wait)

    def _store_result(self, poll: ClaimedPoll, state: TaskState, decision: Decision) -> Decision:
        prefix = task_prefix(self.settings.export_prefix, poll.message)
        metadata = object_metadata(poll.message, state.task_type)
        if state.export is not None:
            key = prefix + export_file_name(state.export)
            body = state.export.content.encode("utf-8")
            content_type = state.export.content_type
        elif state.report is not None:
            key = prefix + REPORT_NAME
            body = json.dumps(state.report.raw, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
            content_type = "application/json"
        else:
            return decision
        # Conditional: a resumed or repeated step finds its own object and writes nothing.
        self.store.put(key, body, content_type=content_type, metadata=metadata)
        del body
        location = {"bucket": self.store.bucket, "key": key}
        if state.export is not None:
            return replace(decision, export=location, drift=self._drift(poll, state.export.content, key))
        return replace(decision, report=location)

    def _drift(self, poll: ClaimedPoll, content: str, key: str) -> dict[str, Any] | None:
        """Compare a succeeded export with the previous one of its group and environment, store drift.json
        beside it, and make it the baseline of the next one. None for the first export of its scope, for
        an export older than the current baseline (deliveries out of order), or a definition we cannot read.

        Resumable: drift.json is written once, and the baseline remembers the one it replaced, so an export
        that moved the pointer before a crash still compares with its own predecessor."""
        message = poll.message
        if self.baselines is None or not message.group_id or not message.env_id:
            return None
        scope = BaselineScope(message.instance_id, message.group_id, message.env_id)
        ours = Baseline(message.task_id, key, round(poll.first_poll_at, 3))
        current = self.baselines.get(scope)
        previous: tuple[str, str] | None = None
        if current is not None and current.task_id == ours.task_id:
            if current.previous_task_id and current.previous_key:
                previous = (current.previous_task_id, current.previous_key)
        elif current is not None and current.newer_than(ours):
            return None
        elif current is not None:
            previous = (current.task_id, current.key)
        summary = None
        if previous is not None:
            summary = self._compare(previous, content, key)
        if current is None or current.task_id != ours.task_id:
            self.baselines.advance(
                scope, replace(ours, previous_task_id=previous and previous[0], previous_key=previous and previous[1])
            )
        return summary

    def _compare(self, previous: tuple[str, str], content: str, key: str) -> dict[str, Any] | None:
        from taskwatch.domain import drift  # YAML and the diff rules: a cost only the exports that drift pay

        baseline_task_id, baseline_key = previous
        try:
            before = drift.load_definition(self.store.get(baseline_key).decode("utf-8", "replace"))
            report = drift.diff(before, drift.load_definition(content))
        except (drift.DefinitionError, KeyError, ValueError, TypeError, RecursionError):
            # One side is not an API definition we can read (or one the rules trip over), or the baseline's
            # object is gone: no report rather than a wrong one, and never a watch that fails on every
            # retry for the sake of its report. An S3 failure (DependencyError) still retries.
            return None
        del before
        body = json.dumps(report.to_json(baseline_task_id), ensure_ascii=False, indent=2).encode("utf-8")
        self.store.put(key.rsplit("/", 1)[0] + "/" + DRIFT_NAME, body, content_type="application/json", metadata={})
        return report.summary(baseline_task_id)


def bookkeeping_problems(message: PollMessage, now: float) -> list[str]:
    """The poller's own fields are trusted only within what a real chain can produce."""
    problems = []
    if message.attempt == 0:
        if message.first_poll_at is not None or message.last_poll_at is not None:
            problems.append("attempt: a first poll carries no first_poll_at or last_poll_at")
    elif message.first_poll_at is None:
        problems.append("first_poll_at: required after the first poll")
    for name in ("first_poll_at", "last_poll_at"):
        value = getattr(message, name)
        if value is not None and not now - MAX_WATCH_SECONDS - CLOCK_SKEW_SECONDS <= value <= now + CLOCK_SKEW_SECONDS:
            problems.append(f"{name}: outside the last 7 days")
    return problems


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


def _record_for(poll: ClaimedPoll, decision: Decision) -> TaskRecord:
    """The record as the finish wrote it, without reading it back."""
    message = poll.message
    return TaskRecord(
        task_id=message.task_id,
        project_id=message.project_id,
        instance_id=message.instance_id,
        status=WatchStatus.of(decision.outcome),
        attempts=poll.attempt,
        expected_type=message.expected_type,
        task_type=decision.task_type,
        first_poll_at=round(poll.first_poll_at, 3),
        source=message.source,
        caller=poll.caller,
        callback_url=message.callback_url,
        group_id=message.group_id,
        env_id=message.env_id,
    )
