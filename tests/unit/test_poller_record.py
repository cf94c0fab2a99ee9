"""The poller's per-record work: what it logs and does for bad input and for failures."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics

from taskwatch.domain.errors import DependencyError
from taskwatch.domain.watcher import Watcher
from taskwatch.entrypoints.poller import process_record
from tests.fakes import FakeQueue


@dataclass
class Record:
    body: str
    message_id: str = "m-1"


class FailingWatcher:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def handle(self, message: Any, *, delivery_id: str, lease_seconds: float) -> Any:
        self.calls += 1
        raise self.error


def run(record: Record, watcher: Any, queue: FakeQueue) -> list[dict[str, Any]]:
    stream = io.StringIO()
    logger = Logger(service="test-poller", stream=stream)
    metrics = Metrics(namespace="Test", service="test-poller")
    try:
        process_record(record, watcher=watcher, dead_letters=queue, lease_seconds=5, logger=logger, metrics=metrics)
    finally:
        metrics.clear_metrics()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return lines


GOOD = json.dumps({"project_id": "p", "instance_id": "i", "task_id": "t-7"})


def test_invalid_message_is_dead_lettered_with_its_reasons_and_never_reaches_the_watcher() -> None:
    watcher, queue = FailingWatcher(AssertionError("must not be called")), FakeQueue()
    lines = run(Record('{"task_id": "x"}'), watcher, queue)
    assert watcher.calls == 0
    [(body, reason)] = queue.dead
    assert body == '{"task_id": "x"}' and "project_id: required" in reason and "instance_id: required" in reason
    assert lines[0]["message"] == "invalid poll message" and lines[0]["disposition"] == "dead-lettered"


def test_a_failed_aws_call_is_logged_with_the_task_and_re_raised_for_redelivery() -> None:
    stream = io.StringIO()
    logger = Logger(service="test-poller-2", stream=stream)
    watcher: Watcher = FailingWatcher(DependencyError("publishing the notification failed: InternalError"))  # type: ignore[assignment]
    with pytest.raises(DependencyError):
        process_record(
            Record(GOOD),
            watcher=watcher,
            dead_letters=FakeQueue(),
            lease_seconds=5,
            logger=logger,
            metrics=Metrics(namespace="Test", service="test-poller-2"),
        )
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["task_id"] == "t-7" and "InternalError" in line["error"]
