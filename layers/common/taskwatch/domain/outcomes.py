"""Outcome rules: how APIG's answer (or its error) becomes a watch's outcome. Pure functions.

Every field that ends up in the record or a notification is bounded here, so a task with thousands
of failures still fits DynamoDB's item and SNS's message (the import report in S3 keeps them all).
"""

from __future__ import annotations

from taskwatch.domain.errors import CredentialsError, PermanentApigError, TaskNotFound, Unauthorized
from taskwatch.domain.model import Outcome, TaskState, TaskStatus
from taskwatch.domain.records import Decision

MALFORMED_CODE = "TASKWATCH.MALFORMED_RESULT"
TYPE_MISMATCH_CODE = "TASKWATCH.TYPE_MISMATCH"
CREDENTIALS_CODE = "TASKWATCH.CREDENTIALS"
TIMED_OUT_CODE = "TASKWATCH.TIMED_OUT"
MAX_LISTED_FAILURES = 200
MAX_FIELD_CHARS = 300
MAX_MESSAGE_CHARS = 2000


def outcome_for_error(exc: Exception, expected_type: str | None) -> Decision:
    """The outcome when APIG's answer ends the watch without a task state."""
    if isinstance(exc, TaskNotFound):
        return Decision(Outcome.NOT_FOUND, expected_type, exc.error_code, exc.error_msg)
    if isinstance(exc, Unauthorized):
        return Decision(Outcome.UNAUTHORIZED, expected_type, exc.error_code, exc.error_msg)
    if isinstance(exc, CredentialsError):
        return Decision(Outcome.UNAUTHORIZED, expected_type, CREDENTIALS_CODE, str(exc))
    if isinstance(exc, PermanentApigError):
        return Decision(Outcome.ERROR, expected_type, exc.error_code, exc.error_msg)
    return Decision(Outcome.ERROR, expected_type, MALFORMED_CODE, str(exc))


def decide_outcome(state: TaskState, expected_type: str | None) -> Decision:
    """The outcome of a finished task (docs/contract.md, "Outcomes")."""
    if expected_type is not None and state.task_type != expected_type:
        return Decision(
            Outcome.ERROR,
            state.task_type,
            TYPE_MISMATCH_CODE,
            f"task is {state.task_type}, expected {expected_type}",
        )
    if state.status is TaskStatus.FAILED:
        error = state.error
        return Decision(
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
        return Decision(
            Outcome.PARTIAL_FAILURE,
            state.task_type,
            failures[0]["error_code"] or None,
            summary,
            failures=failures,
        )
    return Decision(Outcome.SUCCEEDED, state.task_type)


def _bounded(failure: dict[str, str]) -> dict[str, str]:
    return {key: value[:MAX_FIELD_CHARS] for key, value in failure.items()}


def timed_out(task_type: str | None) -> Decision:
    """The outcome of a task still running at its deadline."""
    return Decision(Outcome.TIMED_OUT, task_type, TIMED_OUT_CODE, "the task did not finish before its deadline")
