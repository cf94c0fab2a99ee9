"""`taskwatch demo`'s story, end to end: the state it leaves and the exit code it decides."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from taskwatch_local.demo.checks import differences, exit_code
from taskwatch_local.demo.run import captured_run
from taskwatch_local.demo.story import EXPORT_GROUP, DemoResult


@pytest.fixture(scope="module")
def story() -> tuple[DemoResult, str]:
    return captured_run(fast=True)


def test_the_export_lands_in_the_bucket_as_exported(story: tuple[DemoResult, str]) -> None:
    result, _ = story
    export_task = next(t for t in result.tasks if t.task_type == "export_api")
    status = result.statuses[export_task.task_id]
    assert status["status"] == "succeeded"
    assert status["export"]["bucket"] == result.bucket
    document = json.loads(result.objects[status["export"]["key"]])
    assert document["swagger"] == "2.0"
    assert document["info"]["title"] == EXPORT_GROUP


def test_two_notifications_with_the_right_outcomes(story: tuple[DemoResult, str]) -> None:
    result, _ = story
    by_task = {n["message"]["task_id"]: n for n in result.notifications}
    expected = {t.task_id: t.expected_outcome for t in result.tasks if t.expected_outcome != "succeeded"}
    assert len(result.notifications) == 2
    assert {task_id: n["message"]["outcome"] for task_id, n in by_task.items()} == expected
    partial = next(n for n in result.notifications if n["message"]["outcome"] == "partial_failure")
    assert [f["path"] for f in partial["message"]["failures"]] == ["/orders/fail-fast"]
    assert all(n["attributes"]["outcome"] == n["message"]["outcome"] for n in result.notifications)


def test_the_status_api_answers_each_outcome(story: tuple[DemoResult, str]) -> None:
    result, output = story
    statuses = {t.label: result.statuses[t.task_id] for t in result.tasks}
    assert statuses["import orders"]["status"] == "partial_failure"
    assert statuses["import orders"]["failures"][0]["error_code"] == "APIG.3201"
    assert statuses["import payments"]["status"] == "failed"
    assert statuses["import payments"]["error_code"] == "APIG.3201"
    assert all(s["attempts"] >= 2 for s in statuses.values())  # polled while waiting/processing
    assert "as scripted" in output
    assert "PollMinDelaySeconds: 5s in template.yaml -> 1s" in output


def test_exit_code_is_zero_only_when_the_story_ended_as_scripted(story: tuple[DemoResult, str]) -> None:
    result, _ = story
    assert differences(result) == []
    assert exit_code(result) == 0

    one_note = replace(result, notifications=result.notifications[:1])
    assert exit_code(one_note) == 1
    assert any("notifications" in d for d in differences(one_note))

    no_export = replace(result, objects={})
    assert exit_code(no_export) == 1

    export_task = result.tasks[0]
    failed_export = replace(
        result, statuses={**result.statuses, export_task.task_id: {"status": "failed", "error_code": "APIG.9999"}}
    )
    assert any(export_task.label in d for d in differences(failed_export))
    assert exit_code(replace(result, finished=False)) == 1


def test_the_second_act_shows_ci_identity_drift_and_a_callback(story: tuple[DemoResult, str]) -> None:
    result, printed = story
    act = result.second_act
    assert act is not None and act.finished
    # the first export was started by a CI token, and its repository is recorded as the caller
    assert act.first["status"] == "succeeded" and act.first["caller"]["repository"] == "acme/petstore-api"
    # the second export of the same group reports what changed, with drift.json beside it
    assert act.second["drift"]["removed"] == 1 and act.second["drift"]["breaking"] == 2
    assert act.drift_report is not None and act.drift_report["removed"][0]["path"] == "/pets/{id}"
    # its outcome reached the CI endpoint once, signed, and the breaking drift was notified once
    assert [c["webhook_id"] for c in act.callbacks] == [f"{act.second['task_id']}.succeeded"]
    assert [n["attributes"].get("drift") for n in act.notifications] == ["breaking"]
    assert "second act" in printed and "removed DELETE /pets/{id}" in printed
