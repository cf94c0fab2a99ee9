"""Parsing APIG's task answers and validating poll messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskwatch.domain.errors import InvalidMessage
from taskwatch.domain.model import MalformedTask, PollMessage, TaskStatus, parse_poll_message, parse_task

EVENTS = Path(__file__).parents[2] / "events"


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_published_export_example_keeps_the_swagger_text_and_file_name() -> None:
    state = parse_task(load("apig_task_export_succeed.json"))
    assert state.status is TaskStatus.SUCCEED and state.export is not None
    assert state.export.file_name == "test8-RELEASE-all-2023-07-11-19:54:22"
    assert state.export.file_type == "json" and state.export.content_type == "application/json"
    assert state.export.content.startswith('{\n\t"swagger": "2.0"')


def test_documented_export_shape_is_accepted() -> None:
    body = {
        "task_id": "t",
        "task_status": "succeed",
        "task_type": "export_api",
        "task_result": json.dumps({"file_type": "yaml", "content": "swagger: '2.0'\n"}),
    }
    state = parse_task(body)
    assert state.export is not None
    assert (state.export.file_name, state.export.file_type, state.export.content) == (None, "yaml", "swagger: '2.0'\n")


def test_published_import_example_is_a_report_without_failures() -> None:
    state = parse_task(load("apig_task_import_succeed.json"))
    assert state.report is not None and state.report.failures == []
    assert state.report.group_id == "9100ae30705947cc9543d37cd7fb388c"
    assert state.report.success[0]["path"] == "/test1"


def test_failed_task_carries_its_error() -> None:
    state = parse_task(load("apig_task_import_failed.json"))
    assert state.status is TaskStatus.FAILED and state.error is not None
    assert (state.error.error_code, state.error.error_msg) == ("APIG.3201", "The API group name already exists")


def test_running_task_has_an_empty_result() -> None:
    state = parse_task(load("apig_task_processing.json"))
    assert state.status.running and state.export is None and state.report is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"task_id": "t", "task_status": "done", "task_type": "export_api", "task_result": ""},
        {"task_id": "t", "task_status": "succeed", "task_type": "delete_api", "task_result": "{}"},
        {"task_id": "t", "task_status": "succeed", "task_type": "export_api", "task_result": "not json"},
        {"task_id": "t", "task_status": "succeed", "task_type": "export_api", "task_result": ""},
        {"task_id": "t", "task_status": "succeed", "task_type": "export_api", "task_result": "[1]"},
        {"task_id": "t", "task_status": "succeed", "task_type": "export_api", "task_result": '{"Comment": 5}'},
        {"task_id": "t", "task_status": "succeed", "task_type": "import_api", "task_result": '{"failure": "x"}'},
        {"task_status": "succeed", "task_type": "import_api", "task_result": "{}"},
    ],
)
def test_garbage_is_a_malformed_task(body: Any) -> None:
    with pytest.raises(MalformedTask):
        parse_task(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@given(
    status=st.sampled_from(["waiting", "processing", "succeed", "failed", "bogus", None]),
    task_type=st.sampled_from(["import_api", "export_api", "other"]),
    result=json_values | json_values.map(json.dumps) | st.text(max_size=30),
)
def test_any_answer_parses_or_is_malformed_never_anything_else(status: Any, task_type: str, result: Any) -> None:
    body = {"task_id": "t1", "task_status": status, "task_type": task_type, "task_result": result}
    try:
        state = parse_task(body)
    except MalformedTask:
        return
    assert state.task_type in ("import_api", "export_api")
    if not state.status.running:
        assert (state.export, state.report, state.error).count(None) == 2


def test_invalid_poll_message_names_every_problem() -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_poll_message(
            json.dumps(
                {
                    "project_id": "p/1",
                    "task_id": "x" * 65,
                    "region": "CN North",
                    "expected_type": "delete_api",
                    "max_wait_seconds": 0,
                    "source": [1],
                    "colour": "red",
                }
            )
        )
    details = caught.value.details
    for field in (
        "colour",
        "project_id",
        "instance_id",
        "task_id",
        "region",
        "expected_type",
        "max_wait_seconds",
        "source",
    ):
        assert any(d.startswith(field) for d in details), (field, details)


@pytest.mark.parametrize("raw", ["", "not json", "[]", "null", '"text"', b"\xff\xfe"])
def test_non_object_bodies_are_invalid(raw: str | bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse_poll_message(raw)


def test_bookkeeping_fields_are_refused_from_outside() -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_poll_message(
            {"project_id": "p", "instance_id": "i", "task_id": "t", "attempt": 3}, allow_bookkeeping=False
        )
    assert caught.value.details == ["attempt: unknown field"]


def test_oversized_source_is_refused() -> None:
    with pytest.raises(InvalidMessage):
        parse_poll_message({"project_id": "p", "instance_id": "i", "task_id": "t", "source": {"x": "y" * 5000}})


ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789_-", min_size=1, max_size=64)


@given(
    project_id=ids,
    instance_id=ids,
    task_id=ids,
    attempt=st.integers(min_value=0, max_value=10_000),
    first_poll_at=st.none() | st.floats(min_value=0, max_value=4e9),
    source=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3),
    notified=st.booleans(),
)
def test_poll_messages_round_trip_through_json(
    project_id: str,
    instance_id: str,
    task_id: str,
    attempt: int,
    first_poll_at: float | None,
    source: dict[str, str] | None,
    notified: bool,
) -> None:
    message = PollMessage(
        project_id, instance_id, task_id, source=source, attempt=attempt, first_poll_at=first_poll_at, notified=notified
    )
    assert parse_poll_message(message.to_json()) == message


@pytest.mark.parametrize("raw", ['{"project_id": NaN}', '{"source": {"x": Infinity}}', "[" * 100_000 + "]" * 100_000])
def test_non_standard_or_absurdly_nested_json_is_invalid_not_a_crash(raw: str) -> None:
    with pytest.raises(InvalidMessage):
        parse_poll_message(raw)


def test_source_nested_deeper_than_dynamodb_can_store_is_invalid() -> None:
    source: dict[str, Any] = {}
    for _ in range(20):
        source = {"x": source}
    with pytest.raises(InvalidMessage) as caught:
        parse_poll_message({"project_id": "p", "instance_id": "i", "task_id": "t", "source": source})
    assert caught.value.details == ["source: must nest at most 16 levels"]
