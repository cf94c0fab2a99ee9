"""The task record: what the table holds about one watch, and the watch's own status.

The record is the single source of truth for CI (status API) and the fence that makes the
poller's effects exactly-once (see watcher.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from taskwatch.domain.model import Outcome, PollMessage

RETENTION_SECONDS = 30 * 24 * 3600  # a record is kept this long after its deadline (DynamoDB TTL)
FIRST_POLL_TOLERANCE = 0.002  # the record keeps times to the millisecond; a message carries them unrounded


class WatchStatus(StrEnum):
    """The watch's own status, as the status API answers it: running, or the outcome it ended with."""

    QUEUED = "queued"  # recorded by the webhook, first poll not yet claimed
    POLLING = "polling"
    SUCCEEDED = Outcome.SUCCEEDED.value
    PARTIAL_FAILURE = Outcome.PARTIAL_FAILURE.value
    FAILED = Outcome.FAILED.value
    NOT_FOUND = Outcome.NOT_FOUND.value
    UNAUTHORIZED = Outcome.UNAUTHORIZED.value
    TIMED_OUT = Outcome.TIMED_OUT.value
    ERROR = Outcome.ERROR.value

    @property
    def running(self) -> bool:
        return self in (WatchStatus.QUEUED, WatchStatus.POLLING)

    @classmethod
    def of(cls, outcome: Outcome) -> WatchStatus:
        return cls(outcome.value)


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    project_id: str
    instance_id: str
    status: WatchStatus
    attempts: int = 0
    region: str | None = None
    expected_type: str | None = None
    task_type: str | None = None
    outcome: str | None = None
    claim_id: str | None = None
    lease_until: float = 0.0
    next_poll_at: float | None = None
    first_seen_at: float | None = None
    first_poll_at: float | None = None
    updated_at: float | None = None
    export: dict[str, str] | None = None
    report: dict[str, str] | None = None
    error_code: str | None = None
    error_msg: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    source: dict[str, Any] | None = None
    notified: bool = False
    submitted_via: str | None = None
    finished_at: float | None = None
    caller: dict[str, str] | None = None  # the CI job whose token started the watch (docs/contract.md, "CI identity")
    group_id: str | None = None
    env_id: str | None = None
    callback_url: str | None = None
    callback: dict[str, Any] | None = None  # status, attempts, last_error (+ the delivery's claim_id)
    drift: dict[str, Any] | None = None  # counts of what changed since the baseline export (exports only)

    def identity_problems(self, message: PollMessage) -> list[str]:
        """Why `message` cannot belong to this watch: another project or instance, or another first poll."""
        problems = [
            f"{name}: task {self.task_id} is watched under another {name.removesuffix('_id')}"
            for name in ("project_id", "instance_id")
            if getattr(self, name) != getattr(message, name)
        ]
        if (
            message.first_poll_at is not None
            and self.first_poll_at is not None
            and abs(message.first_poll_at - self.first_poll_at) > FIRST_POLL_TOLERANCE
        ):
            problems.append("first_poll_at: differs from the watch's record")
        return problems

    @property
    def terminal(self) -> bool:
        return not self.status.running

    def status_view(self) -> dict[str, Any]:
        """The record as the status API answers it (docs/contract.md field names; no internal fences)."""
        return {
            "task_id": self.task_id,
            "status": self.status.value,
            "outcome": self.outcome,
            "task_type": self.task_type or self.expected_type,
            "attempts": self.attempts,
            "first_seen_at": iso(self.first_seen_at),
            "updated_at": iso(self.updated_at),
            "next_poll_at": iso(self.next_poll_at) if not self.terminal else None,
            "export": self.export,
            "error_code": self.error_code,
            "error_msg": self.error_msg,
            "failures": self.failures,
            "source": self.source,
            "project_id": self.project_id,
            "instance_id": self.instance_id,
            "caller": self.caller,
            "drift": self.drift,
            "callback": (
                {key: self.callback.get(key) for key in ("status", "attempts", "last_error")} if self.callback else None
            ),
        }


@dataclass(frozen=True)
class Decision:
    """A decided outcome, ready to be written and notified."""

    outcome: Outcome
    task_type: str | None
    error_code: str | None = None
    error_msg: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    export: dict[str, str] | None = None
    report: dict[str, str] | None = None
    finished_at: float | None = None
    callback: dict[str, Any] | None = None  # the callback's first state, when the watch has a callback_url
    drift: dict[str, Any] | None = None  # baseline_task_id, added, removed, changed, breaking

    @classmethod
    def recorded(cls, record: TaskRecord) -> Decision:
        """The decision a finished record holds, to notify or call back from it again, identically."""
        return cls(
            outcome=Outcome(record.outcome or Outcome.ERROR.value),
            task_type=record.task_type,
            error_code=record.error_code,
            error_msg=record.error_msg,
            failures=record.failures,
            export=record.export,
            report=record.report,
            finished_at=record.finished_at,
            drift=record.drift,
        )


@dataclass(frozen=True)
class BaselineScope:
    """Exports of one API group in one environment of one gateway: what a drift report compares."""

    instance_id: str
    group_id: str
    env_id: str


@dataclass(frozen=True)
class Baseline:
    """A successful export that later exports of its scope are compared with."""

    task_id: str
    key: str  # where the export is stored
    order: float  # its first poll: a newer export has a larger one (task id breaks ties)
    previous_task_id: str | None = None  # the baseline it replaced: a resumed export still finds its own
    previous_key: str | None = None

    def newer_than(self, other: Baseline) -> bool:
        return (self.order, self.task_id) > (other.order, other.task_id)


@dataclass(frozen=True)
class ClaimResult:
    won: bool
    record: TaskRecord | None  # as it was when the claim was lost; as written when a claim was won


class Fenced(Exception):
    """Another delivery holds the claim now: this one must stop writing."""
