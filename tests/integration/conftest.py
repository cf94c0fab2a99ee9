"""The local stack for integration tests: moto server + APIG emulator over real HTTP, and the
stand-in for Lambda's SQS event source mapping driving the real poller handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from apig_emulator import ApigEmulator
from functions.poller import app as poller_app
from taskwatch import wiring
from taskwatch_local.event_source import SqsEventSource
from taskwatch_local.stack import LocalAws, StackSettings, aws_emulator, create_stack

PROJECT_ID = "0123456789abcdef0123456789abcdef"
INSTANCE_ID = "eddc4d25480b4cd6b512f270a1b8b341"
AK, SK = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
FAST = StackSettings(
    visibility_timeout=4,
    function_timeout=1.0,
    poll_min_delay_seconds=1,
    poll_max_delay_seconds=2,
    poll_max_wait_seconds=60,
)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    with aws_emulator() as endpoint:
        yield endpoint


@pytest.fixture
def apig() -> Iterator[ApigEmulator]:
    with ApigEmulator(credentials={AK: SK}) as emulator:
        yield emulator


@dataclass
class Harness:
    stack: LocalAws
    apig: ApigEmulator
    source: SqsEventSource

    def send(self, body: dict[str, Any] | str, delay: int = 0) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        answer = self.stack.client("sqs").send_message(
            QueueUrl=self.stack.queue_url, MessageBody=text, DelaySeconds=delay
        )
        return str(answer["MessageId"])

    def record(self, task_id: str) -> dict[str, Any] | None:
        found = wiring.watcher().records.get(task_id)
        return found.status_view() if found else None

    def run_until_finished(self, *task_ids: str, timeout: float = 30.0) -> None:
        def finished() -> bool:
            views = [self.record(t) for t in task_ids]
            return all(v is not None and v["status"] not in ("queued", "polling") for v in views)

        assert self.source.run_until(finished, timeout=timeout), [self.record(t) for t in task_ids]

    def drain(self, seconds: float) -> None:
        """Keep delivering until the queue has been empty for a moment (or `seconds` pass)."""
        self.source.run_until(lambda: self.stack.queue_depth() == 0, timeout=seconds)


def poll_message(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"project_id": PROJECT_ID, "instance_id": INSTANCE_ID, "task_id": task_id, **extra}


@pytest.fixture
def make_harness(aws_endpoint: str, apig: ApigEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def make(settings: StackSettings = FAST, handler: Any = None) -> Harness:
        stack = create_stack(aws_endpoint, settings=settings, huawei_credentials={"ak": AK, "sk": SK})
        for key, value in stack.function_env(apig_endpoint=apig.url).items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        source = SqsEventSource(
            stack.client("sqs"),
            stack.queue_url,
            handler or poller_app.lambda_handler,
            batch_size=settings.batch_size,
            function_timeout=settings.function_timeout,
            wait_seconds=1,
        )
        return Harness(stack, apig, source)

    yield make
    wiring.reset()


@pytest.fixture
def harness(make_harness: Any) -> Harness:
    return make_harness()  # type: ignore[no-any-return]
