"""Export drift inside the watch, with fakes: the baseline of each (instance, group, environment), the
stored drift.json, the record's counts and the notification a breaking change earns."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from typing import Any

from taskwatch.domain.model import ExportResult, Outcome, PollMessage, TaskState, TaskStatus
from taskwatch.domain.records import BaselineScope
from taskwatch.domain.watcher import Step, Watcher
from tests.fakes import Clock, FakeBaselines, FakeNotifier, FakeStore
from tests.unit.test_watcher import LEASE, make_watcher

V1: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "orders", "version": "1"},
    "paths": {
        "/orders": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/orders/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}
V2_ADDED: dict[str, Any] = {
    **V1,
    "paths": {**V1["paths"], "/customers": {"get": {"responses": {"200": {"description": "ok"}}}}},
}
V3_REMOVED: dict[str, Any] = {**V1, "paths": {"/orders": V1["paths"]["/orders"]}}


def export(task_id: str, document: dict[str, Any]) -> TaskState:
    return TaskState(
        task_id, TaskStatus.SUCCEED, "export_api", export=ExportResult(json.dumps(document), "orders", "json")
    )


def message(task_id: str) -> PollMessage:
    return PollMessage("p1", "i1", task_id, expected_type="export_api", group_id="g1", env_id="RELEASE")


def watcher_for(*exports: tuple[str, dict[str, Any]]) -> tuple[Watcher, Clock]:
    watcher, clock = make_watcher()
    watcher.apig.script = {task_id: [export(task_id, doc)] for task_id, doc in exports}  # type: ignore[attr-defined]
    watcher.baselines = FakeBaselines()
    return watcher, clock


def run(watcher: Watcher, clock: Clock, task_id: str) -> None:
    clock.advance(60)
    assert watcher.handle(message(task_id), delivery_id=f"d-{task_id}", lease_seconds=LEASE).step is Step.FINISHED


def test_the_first_export_of_a_scope_has_no_drift_and_becomes_the_baseline() -> None:
    watcher, clock = watcher_for(("e1", V1))
    run(watcher, clock, "e1")
    record = watcher.records.get("e1")
    assert record is not None and record.outcome == "succeeded" and record.drift is None
    baselines = watcher.baselines
    assert isinstance(baselines, FakeBaselines)
    assert baselines.get(BaselineScope("i1", "g1", "RELEASE")).task_id == "e1"  # type: ignore[union-attr]
    assert watcher.notifier.published == []  # type: ignore[attr-defined]


def test_an_added_operation_is_reported_but_not_notified() -> None:
    watcher, clock = watcher_for(("e1", V1), ("e2", V2_ADDED))
    run(watcher, clock, "e1")
    run(watcher, clock, "e2")
    record = watcher.records.get("e2")
    assert record is not None and record.drift == {
        "baseline_task_id": "e1",
        "added": 1,
        "removed": 0,
        "changed": 0,
        "breaking": 0,
    }
    store = watcher.store
    assert isinstance(store, FakeStore)
    stored = json.loads(store.objects["exports/i1/e2/drift.json"][0])
    assert stored["added"] == [{"method": "GET", "path": "/customers"}] and stored["baseline_task_id"] == "e1"
    assert watcher.notifier.published == []  # type: ignore[attr-defined]


def test_a_breaking_change_is_notified_once_with_the_drift_attribute() -> None:
    watcher, clock = watcher_for(("e1", V1), ("e3", V3_REMOVED))
    run(watcher, clock, "e1")
    run(watcher, clock, "e3")
    # a duplicate of the terminal poll changes nothing
    assert watcher.handle(message("e3"), delivery_id="dup", lease_seconds=LEASE).step is Step.DUPLICATE
    notifier = watcher.notifier
    assert isinstance(notifier, FakeNotifier)
    [notification] = notifier.published
    assert (notification.outcome, notification.drift) == ("succeeded", "breaking")
    assert notification.message["drift"] == {
        "baseline_task_id": "e1",
        "added": 0,
        "removed": 1,
        "changed": 0,
        "breaking": 1,
    }


def test_notify_on_drift_off_keeps_a_succeeded_export_quiet() -> None:
    watcher, clock = watcher_for(("e1", V1), ("e3", V3_REMOVED))
    watcher.settings = replace(watcher.settings, notify_on_drift=False)
    run(watcher, clock, "e1")
    run(watcher, clock, "e3")
    assert watcher.notifier.published == []  # type: ignore[attr-defined]


def test_an_older_export_finishing_late_never_becomes_the_baseline() -> None:
    # Given two exports of one scope: e_old is first polled (still running) before e_new starts
    watcher, clock = watcher_for(("e_new", V2_ADDED))
    watcher.apig.script["e_old"] = [TaskState("e_old", TaskStatus.PROCESSING, "export_api"), export("e_old", V1)]  # type: ignore[attr-defined]
    assert watcher.handle(message("e_old"), delivery_id="d-old-1", lease_seconds=LEASE).step is Step.POLLING
    successor, delay = watcher.queue.sent[-1]  # type: ignore[attr-defined]
    # And e_new starts and finishes first
    run(watcher, clock, "e_new")
    # When e_old's terminal poll comes after it
    clock.advance(delay)
    assert watcher.handle(successor, delivery_id="d-old-2", lease_seconds=LEASE).step is Step.FINISHED
    # Then the newer export stays the baseline, and the older one reports no drift against it
    baselines = watcher.baselines
    assert isinstance(baselines, FakeBaselines)
    pointer = baselines.get(BaselineScope("i1", "g1", "RELEASE"))
    assert pointer is not None and pointer.task_id == "e_new"
    record = watcher.records.get("e_old")
    assert record is not None and record.outcome == "succeeded" and record.drift is None


def test_a_resumed_export_that_already_moved_the_baseline_still_compares_with_its_predecessor() -> None:
    watcher, clock = watcher_for(("e1", V1), ("e2", V2_ADDED))
    run(watcher, clock, "e1")
    # Given e2 moved the baseline and then its record write failed (a crash before `finish`)
    from tests.fakes import Faulty

    records = watcher.records
    watcher.records = Faulty(records, "finish", fail_on={1})
    clock.advance(60)
    with contextlib.suppress(Exception):  # the failure SQS would redeliver
        watcher.handle(message("e2"), delivery_id="d-e2", lease_seconds=LEASE)
    watcher.records = records
    # When SQS redelivers it after the lease
    clock.advance(LEASE + 1)
    assert watcher.handle(message("e2"), delivery_id="d-e2", lease_seconds=LEASE).step is Step.FINISHED
    # Then its drift still names e1 as the baseline
    record = watcher.records.get("e2")
    assert record is not None and record.drift is not None and record.drift["baseline_task_id"] == "e1"
    assert record.outcome == Outcome.SUCCEEDED.value


def test_a_baseline_whose_export_is_gone_gives_no_drift_instead_of_failing() -> None:
    # Given a baseline whose stored export was deleted since (a lifecycle rule, an operator)
    watcher, clock = watcher_for(("e1", V1), ("e2", V2_ADDED))
    run(watcher, clock, "e1")
    store = watcher.store
    assert isinstance(store, FakeStore)
    store.objects.clear()
    # When the next export of the group succeeds
    run(watcher, clock, "e2")
    # Then it is stored and succeeds, with no drift report rather than a failure on every retry
    record = watcher.records.get("e2")
    assert record is not None and record.outcome == "succeeded" and record.drift is None
