"""Notifications: what a subscriber receives for an outcome (docs/contract.md, "Notifications")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskwatch.domain.limits import SUBJECT_MAX_CHARS
from taskwatch.domain.model import Outcome
from taskwatch.domain.records import Decision, TaskRecord
from taskwatch.domain.text import printable

_VERBS = {
    Outcome.SUCCEEDED: "succeeded",
    Outcome.PARTIAL_FAILURE: "partially failed",
    Outcome.FAILED: "failed",
    Outcome.NOT_FOUND: "not found",
    Outcome.UNAUTHORIZED: "unauthorized",
    Outcome.TIMED_OUT: "timed out",
    Outcome.ERROR: "error",
}


@dataclass(frozen=True)
class Notification:
    subject: str
    message: dict[str, Any]
    outcome: str
    task_type: str
    drift: str | None = None  # "breaking" when an export changed the API in a breaking way (a message attribute)


def should_notify(decision: Decision, notify_on_success: bool, *, notify_on_drift: bool = True) -> bool:
    """Every outcome but `succeeded`; `succeeded` too with NOTIFY_ON_SUCCESS, or (NOTIFY_ON_DRIFT) when an
    export changed the API in a way that breaks clients."""
    if decision.outcome is not Outcome.SUCCEEDED or notify_on_success:
        return True
    return notify_on_drift and breaking(decision.drift)


def breaking(drift: dict[str, Any] | None) -> bool:
    return bool(drift and drift.get("breaking"))


def build_notification(record: TaskRecord, decision: Decision, *, now: float) -> Notification:
    task_type = decision.task_type or record.task_type or record.expected_type or "unknown"
    outcome = decision.outcome
    finished = decision.finished_at if decision.finished_at is not None else now
    message = {
        "task_id": record.task_id,
        "project_id": record.project_id,
        "instance_id": record.instance_id,
        "task_type": task_type,
        "outcome": outcome.value,
        "error_code": decision.error_code,
        "error_msg": decision.error_msg,
        "failures": decision.failures,
        "export": decision.export,
        "source": record.source,
        "attempts": record.attempts,
        # Measured to when the outcome was decided, so a re-sent notification is identical.
        "elapsed_seconds": round(max(0.0, finished - (record.first_poll_at or record.first_seen_at or finished)), 3),
    }
    if record.caller:
        message["caller"] = record.caller
    if decision.drift is not None:
        message["drift"] = decision.drift
    return Notification(
        subject=subject_line(task_type, record.task_id, outcome, decision.error_code, len(decision.failures)),
        message=message,
        outcome=outcome.value,
        task_type=task_type,
        drift="breaking" if breaking(decision.drift) else None,
    )


def subject_line(task_type: str, task_id: str, outcome: Outcome, error_code: str | None, failures: int) -> str:
    """One line, at most 100 characters (SNS's limit), naming the task and the error code."""
    kind = {"import_api": "import", "export_api": "export"}.get(task_type, "task")
    head = f"APIG {kind} {_VERBS[outcome]}"
    if outcome is Outcome.PARTIAL_FAILURE:
        head += f", {failures} API(s) failed"
    if error_code:
        head += f" ({printable(error_code)[:30]})"
    room = SUBJECT_MAX_CHARS - len(head) - 2
    shown = task_id if len(task_id) <= room else task_id[: max(room - 3, 0)] + "..."
    return f"{head}: {shown}"
