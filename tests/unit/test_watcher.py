"""The watcher's decisions and its exactly-once fences, with in-memory fakes and a virtual clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskwatch.domain.errors import DependencyError, TaskNotFound, TransientApigError, Unauthorized
from taskwatch.domain.exports import export_file_name
from taskwatch.domain.model import (
    ExportResult,
    ImportFailure,
    ImportReport,
    Outcome,
    PollMessage,
    TaskError,
    TaskState,
    TaskStatus,
)
from taskwatch.domain.outcomes import decide_outcome
from taskwatch.domain.policy import PollPolicy
from taskwatch.domain.watcher import Step, Watcher, WatchSettings
from tests.fakes import Clock, FakeNotifier, FakeQueue, FakeRecords, FakeStore, Faulty, ScriptedApig

MESSAGE = PollMessage(project_id="p1", instance_id="i1", task_id="t1", source={"run": "42"})
LEASE = 30.0
RUNNING = TaskState("t1", TaskStatus.PROCESSING, "import_api")
EXPORTED = TaskState(
    "t1", TaskStatus.SUCCEED, "export_api", export=ExportResult('{"swagger":"2.0"}', "api-RELEASE", "json")
)
PARTIAL = TaskState(
    "t1",
    TaskStatus.SUCCEED,
    "import_api",
    report=ImportReport(
        "g1",
        [{"id": "a"}],
        [ImportFailure("GET", "/x", "APIG.3201", "bad")],
        [],
        None,
        raw={"failure": [{"method": "GET"}]},
    ),
)


def make_watcher(*steps: TaskState | BaseException, notify_on_success: bool = False) -> tuple[Watcher, Clock]:
    clock = Clock()
    watcher = Watcher(
        settings=WatchSettings(PollPolicy(5, 300, 3600), "exports/", notify_on_success),
        apig=ScriptedApig({"t1": list(steps)}),
        records=FakeRecords(),
        queue=FakeQueue(),
        store=FakeStore(),
        notifier=FakeNotifier(),
        clock=clock,
        random=lambda: 0.5,
    )
    return watcher, clock


def run_chain(watcher: Watcher, clock: Clock, first: PollMessage = MESSAGE, limit: int = 50) -> list[Step]:
    """Deliver the chain message by message, as SQS would (advancing the clock by each delay)."""
    queue = watcher.queue
    assert isinstance(queue, FakeQueue)
    steps, pending, n = [], [(first, 0)], 0
    while pending and n < limit:
        message, delay = pending.pop(0)
        clock.advance(delay)
        n += 1
        before = len(queue.sent)
        steps.append(watcher.handle(message, delivery_id=f"d{n}", lease_seconds=LEASE).step)
        pending.extend(queue.sent[before:])
    return steps


def test_running_task_is_rescheduled_with_the_next_attempt() -> None:
    watcher, clock = make_watcher(RUNNING)
    result = watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    assert result.step is Step.POLLING
    [(sent, delay)] = watcher.queue.sent  # type: ignore[attr-defined]
    assert (sent.attempt, sent.first_poll_at, delay) == (1, clock.now, 5)


def test_export_is_stored_once_and_success_is_quiet() -> None:
    watcher, clock = make_watcher(RUNNING, EXPORTED)
    assert run_chain(watcher, clock) == [Step.POLLING, Step.FINISHED]
    store = watcher.store
    assert isinstance(store, FakeStore)
    body, content_type, metadata = store.objects["exports/i1/t1/api-RELEASE.json"]
    assert (body, content_type, metadata["task_id"], metadata["source"]) == (
        b'{"swagger":"2.0"}',
        "application/json",
        "t1",
        '{"run":"42"}',
    )
    assert watcher.notifier.published == []  # type: ignore[attr-defined]


def test_partial_import_notifies_once_with_every_failure() -> None:
    watcher, clock = make_watcher(RUNNING, PARTIAL)
    run_chain(watcher, clock)
    [note] = watcher.notifier.published  # type: ignore[attr-defined]
    assert note.outcome == "partial_failure"
    assert note.message["failures"] == [{"method": "GET", "path": "/x", "error_code": "APIG.3201", "error_msg": "bad"}]
    assert note.message["attempts"] == 2 and note.message["elapsed_seconds"] == 5


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (TaskNotFound("gone", status=404, error_code="APIG.3093"), Outcome.NOT_FOUND),
        (Unauthorized("bad", status=401, error_code="APIG.1002"), Outcome.UNAUTHORIZED),
    ],
)
def test_apig_errors_end_the_watch_with_their_outcome(error: Exception, outcome: Outcome) -> None:
    watcher, clock = make_watcher(error)
    run_chain(watcher, clock)
    [note] = watcher.notifier.published  # type: ignore[attr-defined]
    assert note.outcome == outcome.value


def test_transient_errors_keep_polling_until_the_deadline_then_time_out() -> None:
    watcher, clock = make_watcher(TransientApigError("busy", status=429, error_code="APIG.0308"))
    steps = run_chain(watcher, clock, replace(MESSAGE, max_wait_seconds=120), limit=100)
    assert steps[-1] is Step.FINISHED and steps.count(Step.POLLING) == len(steps) - 1
    [note] = watcher.notifier.published  # type: ignore[attr-defined]
    assert note.outcome == "timed_out" and 120 <= note.message["elapsed_seconds"] <= 120 + 5


def test_duplicate_delivery_loses_the_claim_and_never_reaches_apig() -> None:
    watcher, _ = make_watcher(RUNNING)
    watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    again = watcher.handle(MESSAGE, delivery_id="d2", lease_seconds=LEASE)
    assert again.step is Step.DUPLICATE
    assert watcher.apig.calls["t1"] == 1  # type: ignore[attr-defined]
    assert len(watcher.queue.sent) == 1  # type: ignore[attr-defined]


def test_redelivery_after_a_failed_send_resumes_at_once_because_the_claim_was_released() -> None:
    # Given the re-enqueue fails after the claim
    watcher, clock = make_watcher(RUNNING)
    watcher.queue = Faulty(watcher.queue, "send", fail_on={1})
    with pytest.raises(DependencyError):
        watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    # When SQS redelivers the same message a moment later
    clock.advance(1)
    resumed = watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    # Then it resumes its own claim: one more APIG read, the successor sent, nothing forked
    assert resumed.step is Step.POLLING
    assert [m.attempt for m, _ in watcher.queue._inner.sent] == [1]
    assert watcher.handle(MESSAGE, delivery_id="d2", lease_seconds=LEASE).step is Step.DUPLICATE


def test_after_a_crash_the_redelivery_waits_for_the_lease_and_the_overdue_successor() -> None:
    # Given a delivery that claimed and died without a word (no release): the send "failed" and so did release
    watcher, clock = make_watcher(RUNNING)
    watcher.queue = Faulty(watcher.queue, "send", fail_on={1})
    watcher.records = Faulty(watcher.records, "release", fail_on={1})
    with pytest.raises(DependencyError):
        watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    # When SQS redelivers it while the lease still runs, it defers itself (no failure, so no step towards the DLQ)
    clock.advance(10)
    deferred = watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    assert deferred.step is Step.DEFERRED
    continuation, delay = watcher.queue._inner.sent[-1]
    assert continuation.claim == "d1" and delay >= LEASE - 10
    # Then the continuation resumes the claim once the successor is overdue and sends it
    clock.advance(delay)
    resumed = watcher.handle(continuation, delivery_id="d9", lease_seconds=LEASE)
    assert resumed.step is Step.POLLING
    assert watcher.queue._inner.sent[-1][0].attempt == 1


def test_a_lost_mark_after_publish_is_carried_forward_not_published_again() -> None:
    watcher, clock = make_watcher(PARTIAL)
    watcher.records = Faulty(watcher.records, "mark_notified", fail_on={1})
    result = watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    assert result.step is Step.FINISHED
    carry, delay = watcher.queue.sent[-1]  # type: ignore[attr-defined]
    assert carry.notified and carry.claim == "d1"
    clock.advance(delay)
    assert watcher.handle(carry, delivery_id="d2", lease_seconds=LEASE).step is Step.FINISHED
    assert len(watcher.notifier.published) == 1  # type: ignore[attr-defined]
    assert watcher.records.get("t1").notified
    clock.advance(60)
    assert watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE).step is Step.DUPLICATE


def test_a_failed_publish_is_retried_by_the_redelivery_from_the_record() -> None:
    watcher, clock = make_watcher(PARTIAL)
    watcher.notifier = Faulty(watcher.notifier, "publish", fail_on={1})
    with pytest.raises(DependencyError):
        watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    clock.advance(1)
    assert watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE).step is Step.FINISHED
    [note] = watcher.notifier._inner.published
    assert note.outcome == "partial_failure" and note.message["failures"][0]["path"] == "/x"
    assert watcher.apig.calls["t1"] == 1  # type: ignore[attr-defined]


def test_steady_poll_costs_one_state_write_and_one_enqueue() -> None:
    watcher, _ = make_watcher(RUNNING)
    watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    assert watcher.records.writes == 1  # type: ignore[attr-defined]
    assert len(watcher.queue.sent) == 1  # type: ignore[attr-defined]


def test_type_mismatch_is_an_error_outcome() -> None:
    decision = decide_outcome(EXPORTED, "import_api")
    assert decision.outcome is Outcome.ERROR and decision.error_code == "TASKWATCH.TYPE_MISMATCH"


def test_failed_task_outcome_carries_the_task_error() -> None:
    state = TaskState("t1", TaskStatus.FAILED, "import_api", error=TaskError("APIG.3201", "exists"))
    decision = decide_outcome(state, None)
    assert (decision.outcome, decision.error_code, decision.error_msg) == (Outcome.FAILED, "APIG.3201", "exists")


def test_export_file_names_never_add_path_levels() -> None:
    assert export_file_name(ExportResult("x", "a/b\\c:d", "yaml")) == "a_b_c:d.yaml"
    assert export_file_name(ExportResult("x", None, "json")) == "swagger.json"


def test_an_unexpected_error_also_gives_the_claim_back() -> None:
    # Given a bug-like failure (not one of our typed errors) right after the claim
    watcher, clock = make_watcher(RuntimeError("boom"), RUNNING)
    with pytest.raises(RuntimeError):
        watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE)
    # When SQS redelivers the message, it resumes its own claim at once
    clock.advance(1)
    assert watcher.handle(MESSAGE, delivery_id="d1", lease_seconds=LEASE).step is Step.POLLING


def test_a_huge_partial_import_lists_a_bounded_number_of_failures() -> None:
    # Given an import where 1,000 APIs failed with long messages
    failures = [ImportFailure("GET", f"/p/{i}", "APIG.3201", "x" * 5000) for i in range(1000)]
    report = ImportReport("g1", [], failures, [], None, raw={"failure": [f.as_dict() for f in failures]})
    state = TaskState("t1", TaskStatus.SUCCEED, "import_api", report=report)
    # When the outcome is decided
    decision = decide_outcome(state, "import_api")
    # Then the record and the notification stay within DynamoDB's and SNS's limits and say so
    assert decision.outcome is Outcome.PARTIAL_FAILURE and len(decision.failures) == 200
    assert all(len(f["error_msg"]) == 300 for f in decision.failures)
    assert decision.error_msg == (
        "1000 of 1000 APIs failed to import (the first 200 are listed; the import report has them all)"
    )


def test_a_failed_task_with_an_enormous_error_message_is_bounded() -> None:
    state = TaskState("t1", TaskStatus.FAILED, "import_api", error=TaskError("APIG.3201", "e" * 1_000_000))
    decision = decide_outcome(state, None)
    assert decision.error_msg == "e" * 2000 and decision.error_code == "APIG.3201"
