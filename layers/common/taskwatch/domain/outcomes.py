"""Outcome rules: how APIG's answer (or its error) becomes a watch's outcome. Pure functions.

Every field that ends up in the record or a notification is bounded here in UTF-8 bytes of its JSON,
whatever APIG sent (CJK text, control characters that JSON escapes six-fold, lone surrogates), so a
task with thousands of failures still fits DynamoDB's 400 KB item and SNS's 256 KB message; the import
report in S3 keeps them all.
"""

from __future__ import annotations

from taskwatch.domain.errors import CredentialsError, PermanentApigError, TaskNotFound, Unauthorized
from taskwatch.domain.model import Outcome, TaskState, TaskStatus
from taskwatch.domain.records import Decision
from taskwatch.domain.text import clip_text, json_bytes

MALFORMED_CODE = "TASKWATCH.MALFORMED_RESULT"
TYPE_MISMATCH_CODE = "TASKWATCH.TYPE_MISMATCH"
CREDENTIALS_CODE = "TASKWATCH.CREDENTIALS"
TIMED_OUT_CODE = "TASKWATCH.TIMED_OUT"
MAX_LISTED_FAILURES = 200
MAX_FIELD_BYTES = 300  # each field of a listed failure, and an error code
MAX_MESSAGE_BYTES = 2000  # an error message
MAX_FAILURES_JSON_BYTES = 100 * 1024  # the listed failures together, as JSON: a quarter of a DynamoDB item


def outcome_for_error(exc: Exception, expected_type: str | None) -> Decision:
    """The outcome when APIG's answer ends the watch without a task state."""
    if isinstance(exc, TaskNotFound):
        return _bounded(Outcome.NOT_FOUND, expected_type, exc.error_code, exc.error_msg)
    if isinstance(exc, Unauthorized):
        return _bounded(Outcome.UNAUTHORIZED, expected_type, exc.error_code, exc.error_msg)
    if isinstance(exc, CredentialsError):
        return _bounded(Outcome.UNAUTHORIZED, expected_type, CREDENTIALS_CODE, str(exc))
    if isinstance(exc, PermanentApigError):
        return _bounded(Outcome.ERROR, expected_type, exc.error_code, exc.error_msg)
    return _bounded(Outcome.ERROR, expected_type, MALFORMED_CODE, str(exc))


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
        return _bounded(
            Outcome.FAILED, state.task_type, error.error_code if error else None, error.error_msg if error else None
        )
    if state.report is not None and state.report.failures:
        failed = len(state.report.failures)
        failures = listed_failures([failure.as_dict() for failure in state.report.failures[:MAX_LISTED_FAILURES]])
        summary = f"{failed} of {failed + len(state.report.success)} APIs failed to import"
        if failed > len(failures):
            summary += f" (the first {len(failures)} are listed; the import report has them all)"
        return _bounded(Outcome.PARTIAL_FAILURE, state.task_type, failures[0]["error_code"] or None, summary, failures)
    return Decision(Outcome.SUCCEEDED, state.task_type)


def listed_failures(failures: list[dict[str, str]]) -> list[dict[str, str]]:
    """The failures the record and notification list: each field bounded, the list within its byte budget."""
    listed: list[dict[str, str]] = []
    budget = MAX_FAILURES_JSON_BYTES
    for failure in failures:
        item = {key: clip_text(value, MAX_FIELD_BYTES) for key, value in failure.items()}
        budget -= json_bytes(item) + 1
        if budget < 0 and listed:
            break
        listed.append(item)
    return listed


def _bounded(
    outcome: Outcome,
    task_type: str | None,
    error_code: str | None,
    error_msg: str | None,
    failures: list[dict[str, str]] | None = None,
) -> Decision:
    return Decision(
        outcome,
        task_type,
        clip_text(error_code, MAX_FIELD_BYTES) if error_code is not None else None,
        clip_text(error_msg, MAX_MESSAGE_BYTES) if error_msg is not None else None,
        failures=failures or [],
    )


def timed_out(task_type: str | None) -> Decision:
    """The outcome of a task still running at its deadline."""
    return Decision(Outcome.TIMED_OUT, task_type, TIMED_OUT_CODE, "the task did not finish before its deadline")
