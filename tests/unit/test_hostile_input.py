"""Hostile input ends in one clear outcome: the domain side of each finding of the adversarial review.

(The over-HTTP side — a dripping server, a gzip bomb, deep JSON, lone surrogates in APIG's answers — is
in tests/integration/test_hostile_apig.py.)
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from taskwatch.domain.errors import InvalidMessage
from taskwatch.domain.exports import export_file_name
from taskwatch.domain.model import (
    ExportResult,
    ImportFailure,
    ImportReport,
    Outcome,
    PollMessage,
    TaskState,
    TaskStatus,
    parse_poll_message,
)
from taskwatch.domain.notifications import build_notification
from taskwatch.domain.outcomes import decide_outcome
from taskwatch.domain.records import TaskRecord, WatchStatus
from taskwatch.domain.text import json_bytes
from taskwatch.domain.watcher import Step
from tests.unit.test_watcher import LEASE, MESSAGE, RUNNING, make_watcher


def report_with(failures: list[ImportFailure]) -> TaskState:
    return TaskState("t1", TaskStatus.SUCCEED, "import_api", report=ImportReport("g", [], failures, [], None, raw={}))


# --- byte-true bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [pytest.param("接口" * 150, id="cjk"), pytest.param("\x01" * 300, id="control-characters")]
)
def test_250_large_failures_fit_the_record_and_the_notification(text: str) -> None:
    # Given an import with 250 failures whose every field is 300 characters of CJK (900 UTF-8 bytes) or of
    # control characters (six bytes each once JSON-escaped)
    failures = [ImportFailure("GET", f"/{i}/{text}", "APIG.3201", text) for i in range(250)]
    # When the outcome is decided and notified
    decision = decide_outcome(report_with(failures), "import_api")
    record = TaskRecord("t1", "p1", "i1", WatchStatus.PARTIAL_FAILURE, source={"ci": "x" * 4000})
    notification = build_notification(record, decision, now=0.0)
    # Then the listed failures stay within their budget, and the message within SNS's 256 KB
    assert decision.outcome is Outcome.PARTIAL_FAILURE
    assert json_bytes(decision.failures) <= 100 * 1024 + 1024
    assert len(json.dumps(notification.message, ensure_ascii=False, sort_keys=True).encode()) < 256 * 1024
    # And the summary says how many were left out of the list (the import report keeps them all)
    assert f"the first {len(decision.failures)} are listed" in (decision.error_msg or "")
    assert all(len(value.encode()) <= 300 for failure in decision.failures for value in failure.values())


def test_an_error_code_with_control_characters_gives_a_printable_subject() -> None:
    failed = TaskState("t1", TaskStatus.FAILED, "export_api", error=None)
    decision = replace(decide_outcome(failed, None), error_code="APIG\x00\n\u202e.3201\x7f")
    record = TaskRecord("t1", "p1", "i1", WatchStatus.FAILED)
    subject = build_notification(record, decision, now=0.0).subject
    assert subject.isprintable() and len(subject) <= 100
    assert "APIG" in subject and ".3201" in subject


# --- file names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile", ["\x7f", "\x85", "\x9b", "\u202e", "\u2028", "\u2029", "\ufeff", "\u200b", "\x00", "\t"]
)
def test_file_names_lose_every_control_format_and_separator_character(hostile: str) -> None:
    name = export_file_name(ExportResult("{}", f"api{hostile}-v1{hostile}", "json"))
    assert name == "api-v1.json"


def test_file_names_keep_plain_spaces_and_colons_but_add_no_path_levels() -> None:
    assert export_file_name(ExportResult("{}", "My API: v1/../x", "json")) == "My API: v1_.._x.json"


# --- numbers DynamoDB cannot store, and text UTF-8 cannot carry ------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1e-200", "1" * 41, "9" * 39, "123" + "0" * 130])
def test_a_source_number_dynamodb_cannot_store_is_invalid_input(number: str) -> None:
    body = f'{{"project_id":"p","instance_id":"i","task_id":"t","source":{{"n":{number}}}}}'
    with pytest.raises(InvalidMessage) as refused:
        parse_poll_message(body)
    assert [d for d in refused.value.details if d.startswith("source:")]


@pytest.mark.parametrize("number", ["0", "1e125", "-1e-130", "12345678901234567890123456789012345678", "91.5"])
def test_a_source_number_dynamodb_can_store_is_accepted(number: str) -> None:
    body = f'{{"project_id":"p","instance_id":"i","task_id":"t","source":{{"n":{number}}}}}'
    assert parse_poll_message(body).source is not None


def test_a_lone_surrogate_in_the_source_is_invalid_input() -> None:
    body = '{"project_id":"p","instance_id":"i","task_id":"t","source":{"ci":"\\ud83d"}}'
    with pytest.raises(InvalidMessage, match="source"):
        parse_poll_message(body)


# --- no watch takeover, no endless deadline --------------------------------------------------------------


def test_a_forged_message_under_another_project_cannot_take_over_a_running_watch() -> None:
    # Given a running export watched under project p1
    watcher, _ = make_watcher(RUNNING, RUNNING)
    assert watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE).step is Step.POLLING
    successor, _ = watcher.queue.sent[-1]  # type: ignore[attr-defined]
    # When a message under project p2 claims the next poll of the same task id
    forged = replace(successor, project_id="p2")
    # Then it is refused as invalid, and the record still belongs to p1 with its attempt unclaimed
    with pytest.raises(InvalidMessage, match="project_id"):
        watcher.handle(forged, delivery_id="evil", lease_seconds=LEASE)
    record = watcher.records.get("t1")
    assert record is not None and record.project_id == "p1" and record.attempts == 1
    # And the real successor still polls
    assert watcher.handle(successor, delivery_id="d2", lease_seconds=LEASE).step is Step.POLLING


@pytest.mark.parametrize(
    "change",
    [
        {"attempt": 1, "first_poll_at": 1e12},
        {"attempt": 1, "first_poll_at": 0.0},
        {"attempt": 3},
        {"first_poll_at": 1_800_000_000.0},
    ],
    ids=["first-poll-in-the-far-future", "first-poll-in-1970", "later-attempt-without-times", "first-with-times"],
)
def test_bookkeeping_outside_what_a_real_chain_writes_is_invalid(change: dict[str, float]) -> None:
    watcher, _ = make_watcher(RUNNING)
    with pytest.raises(InvalidMessage):
        watcher.handle(replace(MESSAGE, **change), delivery_id="d1", lease_seconds=LEASE)  # type: ignore[arg-type]
    assert watcher.records.get("t1") is None and watcher.queue.sent == []  # type: ignore[attr-defined]


def test_a_successor_with_a_moved_first_poll_cannot_extend_the_deadline() -> None:
    watcher, clock = make_watcher(RUNNING, RUNNING)
    watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    successor, delay = watcher.queue.sent[-1]  # type: ignore[attr-defined]
    clock.advance(delay)
    assert successor.first_poll_at is not None
    with pytest.raises(InvalidMessage, match="first_poll_at"):
        watcher.handle(
            replace(successor, first_poll_at=successor.first_poll_at + 60), delivery_id="d2", lease_seconds=LEASE
        )


def test_no_message_watches_longer_than_seven_days() -> None:
    # Given a running task and a watch asking for the longest wait
    watcher, clock = make_watcher(RUNNING)
    first = replace(MESSAGE, max_wait_seconds=604_800)
    watcher.handle(first, delivery_id="d1", lease_seconds=LEASE)
    successor, _ = watcher.queue.sent[-1]  # type: ignore[attr-defined]
    # When its successor arrives just past 7 days after the first poll
    clock.advance(604_801)
    result = watcher.handle(successor, delivery_id="d2", lease_seconds=LEASE)
    # Then the watch ends timed out
    assert (result.step, result.outcome) == (Step.FINISHED, Outcome.TIMED_OUT)


def test_a_first_poll_message_for_a_task_with_no_record_must_be_attempt_zero() -> None:
    watcher, clock = make_watcher(RUNNING)
    forged = PollMessage("p1", "i1", "t1", attempt=4, first_poll_at=clock())
    assert watcher.handle(forged, delivery_id="d1", lease_seconds=LEASE).step is Step.DUPLICATE
    assert watcher.records.get("t1") is None
