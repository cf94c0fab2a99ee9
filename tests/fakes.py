"""In-memory fakes of the watcher's ports, for unit tests of logic.

Each one passes the same contract tests as its real adapter (tests/integration/test_contracts.py),
so the fakes cannot quietly drift from DynamoDB, S3, SQS and SNS semantics.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from taskwatch.domain.callbacks import CallbackMessage
from taskwatch.domain.errors import DependencyError
from taskwatch.domain.identity import Caller
from taskwatch.domain.model import PollMessage, TaskState
from taskwatch.domain.notifications import Notification
from taskwatch.domain.ports import QueueMessage
from taskwatch.domain.records import (
    FIRST_POLL_TOLERANCE,
    Baseline,
    BaselineScope,
    ClaimResult,
    Decision,
    Fenced,
    TaskRecord,
    WatchStatus,
)


class FakeRecords:
    def __init__(self) -> None:
        self.items: dict[str, TaskRecord] = {}
        self.writes = 0

    def claim(
        self,
        message: PollMessage,
        *,
        claim_id: str,
        now: float,
        lease_until: float,
        next_poll_at: float,
        first_poll_at: float,
        deadline: float,
    ) -> ClaimResult:
        self.writes += 1
        old = self.items.get(message.task_id)
        if old is None and message.attempt > 0:
            return ClaimResult(False, None)
        if old is not None and (
            not (old.attempts == message.attempt and old.status.running)
            or (old.project_id, old.instance_id) != (message.project_id, message.instance_id)
            or (old.first_poll_at is not None and abs(old.first_poll_at - first_poll_at) > FIRST_POLL_TOLERANCE)
        ):
            return ClaimResult(False, old)
        base = old or TaskRecord(
            task_id=message.task_id,
            project_id=message.project_id,
            instance_id=message.instance_id,
            status=WatchStatus.POLLING,
            first_seen_at=now,
            submitted_via="queue",
        )
        self.items[message.task_id] = replace(
            base,
            project_id=message.project_id,
            instance_id=message.instance_id,
            region=base.region if base.region is not None else message.region,
            expected_type=base.expected_type if base.expected_type is not None else message.expected_type,
            source=base.source if base.source is not None else message.source,
            group_id=base.group_id if base.group_id is not None else message.group_id,
            env_id=base.env_id if base.env_id is not None else message.env_id,
            callback_url=base.callback_url if base.callback_url is not None else message.callback_url,
            status=WatchStatus.POLLING,
            attempts=message.attempt + 1,
            claim_id=claim_id,
            lease_until=lease_until,
            next_poll_at=next_poll_at,
            first_poll_at=base.first_poll_at if base.first_poll_at is not None else first_poll_at,
            updated_at=now,
        )
        return ClaimResult(True, copy.deepcopy(self.items[message.task_id]))

    def take_over(self, task_id: str, *, claim_id: str, now: float, lease_until: float) -> bool:
        self.writes += 1
        old = self.items.get(task_id)
        if old is None or old.claim_id != claim_id or old.lease_until > now:
            return False
        self.items[task_id] = replace(old, lease_until=lease_until, updated_at=now)
        return True

    def finish(self, task_id: str, *, claim_id: str, now: float, decision: Decision, notified: bool) -> None:
        self.writes += 1
        old = self._fenced(task_id, claim_id)
        self.items[task_id] = replace(
            old,
            status=WatchStatus.of(decision.outcome),
            outcome=decision.outcome.value,
            task_type=decision.task_type,
            error_code=decision.error_code,
            error_msg=decision.error_msg,
            failures=copy.deepcopy(decision.failures),
            export=decision.export,
            report=decision.report,
            callback=copy.deepcopy(decision.callback),
            drift=copy.deepcopy(decision.drift),
            notified=notified,
            updated_at=now,
            finished_at=now,
            next_poll_at=None,
        )

    def release(self, task_id: str, *, claim_id: str, now: float) -> None:
        self.writes += 1
        self.items[task_id] = replace(
            self._fenced(task_id, claim_id), lease_until=0.0, next_poll_at=None, updated_at=now
        )

    def mark_notified(self, task_id: str, *, claim_id: str, now: float) -> None:
        self.writes += 1
        self.items[task_id] = replace(self._fenced(task_id, claim_id), notified=True, updated_at=now)

    def get(self, task_id: str) -> TaskRecord | None:
        return self.items.get(task_id)

    def create_queued(self, message: PollMessage, *, now: float, caller: Caller | None = None) -> ClaimResult:
        self.writes += 1
        old = self.items.get(message.task_id)
        if old is not None:
            return ClaimResult(False, old)
        self.items[message.task_id] = TaskRecord(
            task_id=message.task_id,
            project_id=message.project_id,
            instance_id=message.instance_id,
            status=WatchStatus.QUEUED,
            region=message.region,
            expected_type=message.expected_type,
            source=message.source,
            first_seen_at=now,
            updated_at=now,
            submitted_via="webhook",
            caller=caller.as_dict() if caller else None,
            group_id=message.group_id,
            env_id=message.env_id,
            callback_url=message.callback_url,
        )
        return ClaimResult(True, None)

    def claim_callback(self, task_id: str, *, attempt: int, claim_id: str, now: float) -> bool:
        self.writes += 1
        old = self.items.get(task_id)
        state = old.callback if old else None
        if old is None or state is None or state.get("status") != "pending":
            return False
        ours = state.get("attempts") == attempt or (
            state.get("attempts") == attempt + 1 and state.get("claim_id") == claim_id
        )
        if not ours:
            return False
        self.items[task_id] = replace(old, callback={**state, "attempts": attempt + 1, "claim_id": claim_id})
        return True

    def record_callback(self, task_id: str, *, claim_id: str, state: dict[str, Any], now: float) -> None:
        self.writes += 1
        old = self.items.get(task_id)
        if old is None or old.callback is None or old.callback.get("claim_id") != claim_id:
            raise Fenced(task_id)
        self.items[task_id] = replace(old, callback={**state, "claim_id": claim_id}, updated_at=now)

    def _fenced(self, task_id: str, claim_id: str) -> TaskRecord:
        old = self.items.get(task_id)
        if old is None or old.claim_id != claim_id:
            raise Fenced(task_id)
        return old


@dataclass
class FakeQueue:
    sent: list[tuple[PollMessage, int]] = field(default_factory=list)
    callbacks: list[tuple[CallbackMessage, int]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, message: QueueMessage, *, delay_seconds: int) -> str:
        if isinstance(message, CallbackMessage):
            self.callbacks.append((message, delay_seconds))
        else:
            assert isinstance(message, PollMessage)
            self.sent.append((message, delay_seconds))
        return f"msg-{next(self._ids)}"

    def dead_letter(self, body: str, reason: str) -> bool:
        self.dead.append((body, reason))
        return True


@dataclass
class FakeStore:
    bucket: str = "fake-bucket"
    objects: dict[str, tuple[bytes, str, dict[str, str]]] = field(default_factory=dict)
    puts: int = 0

    def put(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> bool:
        self.puts += 1
        if key in self.objects:
            return False
        self.objects[key] = (bytes(body), content_type, dict(metadata))
        return True

    def get(self, key: str) -> bytes:
        return self.objects[key][0]


class FakeBaselines:
    """In memory; the same contract as DynamoBaselines (tests/integration/test_contracts.py)."""

    def __init__(self) -> None:
        self.pointers: dict[BaselineScope, Baseline] = {}

    def get(self, scope: BaselineScope) -> Baseline | None:
        return self.pointers.get(scope)

    def advance(self, scope: BaselineScope, baseline: Baseline) -> bool:
        current = self.pointers.get(scope)
        if current is not None and not baseline.newer_than(current):
            return False
        self.pointers[scope] = baseline
        return True


@dataclass
class FakeNotifier:
    published: list[Notification] = field(default_factory=list)

    def publish(self, notification: Notification) -> str:
        self.published.append(notification)
        return f"sns-{len(self.published)}"


@dataclass
class ScriptedApig:
    """Answers per task id: TaskState values or exceptions to raise; the last one repeats."""

    script: dict[str, list[TaskState | BaseException]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def get_task(self, message: PollMessage) -> TaskState:
        steps = self.script[message.task_id]
        index = self.calls.get(message.task_id, 0)
        self.calls[message.task_id] = index + 1
        answer = steps[min(index, len(steps) - 1)]
        if isinstance(answer, BaseException):
            raise answer
        return answer


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Faulty:
    """Wraps a port; the named method fails on its chosen calls, before or after doing the real work.

    `after=True` models a lost answer: the effect happened, the caller saw an error.
    """

    def __init__(self, inner: Any, method: str, *, fail_on: set[int], after: bool = False) -> None:
        self._inner = inner
        self._method = method
        self._fail_on = fail_on
        self._after = after
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr
        return self._wrap(attr)

    def _wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            failing = self.calls in self._fail_on
            if failing and not self._after:
                raise DependencyError(f"injected fault in {self._method}")
            result = real(*args, **kwargs)
            if failing:
                raise DependencyError(f"injected fault after {self._method}")
            return result

        return call


class FakeTokenLedger:
    """In memory; the same contract as DynamoTokenLedger (tests/integration/test_contracts.py)."""

    def __init__(self) -> None:
        self.used: dict[str, float] = {}

    def use_once(self, token_key: str, *, expires_at: float) -> bool:
        if token_key in self.used:
            return False
        self.used[token_key] = expires_at
        return True
