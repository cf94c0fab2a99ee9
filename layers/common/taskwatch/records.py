"""The task record: what the table holds about one watch, and the ports the watcher needs.

The record is the single source of truth for CI (status API) and the fence that makes the
poller's effects exactly-once (see watcher.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from taskwatch.model import Outcome, PollMessage

RUNNING_STATUSES = ("queued", "polling")
RETENTION_SECONDS = 30 * 24 * 3600


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    project_id: str
    instance_id: str
    status: str
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

    @property
    def terminal(self) -> bool:
        return self.status not in RUNNING_STATUSES

    def status_view(self) -> dict[str, Any]:
        """The record as the status API answers it (SPEC field names; no internal fences)."""
        return {
            "task_id": self.task_id,
            "status": self.status,
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
        }


@dataclass(frozen=True)
class Terminal:
    """A decided outcome, ready to be written and notified."""

    outcome: Outcome
    task_type: str | None
    error_code: str | None = None
    error_msg: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    export: dict[str, str] | None = None
    report: dict[str, str] | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class ClaimResult:
    won: bool
    record: TaskRecord | None  # the record as it was, when the claim was lost


class Fenced(Exception):
    """Another delivery holds the claim now: this one must stop writing."""


class TaskRecords(Protocol):
    def claim(
        self, message: PollMessage, *, claim_id: str, now: float, lease_until: float,
        next_poll_at: float, first_poll_at: float, deadline: float,
    ) -> ClaimResult:
        """Advance `attempts` from message.attempt to message.attempt + 1, if nobody did yet."""
        ...

    def take_over(self, task_id: str, *, claim_id: str, now: float, lease_until: float) -> bool:
        """Renew an expired lease of `claim_id` (resuming a crashed delivery); False if still held."""
        ...

    def finish(self, task_id: str, *, claim_id: str, now: float, terminal: Terminal, notified: bool) -> None:
        """Write the outcome. Raises Fenced when the claim moved on."""
        ...

    def release(self, task_id: str, *, claim_id: str, now: float) -> None:
        """End the lease early and note that no successor is in flight (after a failed AWS call)."""
        ...

    def mark_notified(self, task_id: str, *, claim_id: str, now: float) -> None: ...

    def get(self, task_id: str) -> TaskRecord | None: ...

    def create_queued(self, message: PollMessage, *, now: float) -> ClaimResult:
        """Record a new watch as `queued`; lost (with the existing record) when it is already watched."""
        ...
