"""Outcome callbacks over real HTTP: the poller on the local stack delivers each watch's outcome to a
receiver on 127.0.0.1 (listed by name in CALLBACK_ALLOWED_HOSTS), which verifies every signature with
the Standard Webhooks library, as a CI's own endpoint would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from apig_emulator import ScriptedAnswer
from functions.poller import app as poller_app
from functions.webhook import app as webhook_app
from taskwatch import wiring
from taskwatch.adapters.callbacks import HttpCallbackSender, SocketResolver
from taskwatch.domain import callbacks
from taskwatch.domain.callbacks import CallbackDeliverer
from taskwatch_local.ci import WebhookClient
from taskwatch_local.http_api import LocalHttpApi
from tests.integration.conftest import Harness, poll_message

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]
SWAGGER = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1.0"}}'


@dataclass
class Receiver:
    """A CI endpoint: answers from a script (a status code, or "slow" to outlast the sender's timeout)."""

    key: str
    script: list[int | str] = field(default_factory=lambda: [200])
    received: list[dict[str, Any]] = field(default_factory=list)
    on_receive: Callable[[], None] = lambda: None
    url: str = ""

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                # The receiving side verifies with the Standard Webhooks library itself.
                verified = StandardWebhook(receiver.key).verify(body.decode(), headers)
                receiver.received.append({"headers": headers, "body": verified})
                receiver.on_receive()
                action = receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
                if action == "slow":
                    time.sleep(3)
                    action = 200
                status = int(action)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://10.0.0.1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/apig"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def webhook_ids(self) -> set[str]:
        return {r["headers"]["webhook-id"] for r in self.received}


@dataclass
class World:
    harness: Harness
    receiver: Receiver
    clock_offset: list[float]

    def watch(self, task_id: str, *answers: ScriptedAnswer, copies: int = 1) -> None:
        self.harness.apig.script(
            task_id, list(answers) or [ScriptedAnswer.export_json(SWAGGER)], task_type="export_api"
        )
        for _ in range(copies):
            self.harness.send(poll_message(task_id, callback_url=self.receiver.url))

    def callback(self, task_id: str) -> dict[str, Any] | None:
        record = self.harness.record(task_id)
        assert record is not None
        state: dict[str, Any] | None = record["callback"]
        return state

    def run_until_callback_ends(self, task_id: str, timeout: float = 40.0) -> dict[str, Any]:
        def ended() -> bool:
            record = self.harness.record(task_id)
            return bool(record and record["callback"] and record["callback"]["status"] != "pending")

        assert self.harness.source.run_until(ended, timeout=timeout), self.harness.record(task_id)
        state = self.callback(task_id)
        assert state is not None
        return state


@pytest.fixture
def world(make_harness: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setattr(callbacks, "FIRST_RETRY_SECONDS", 1)  # a day of backoff is not a test's business
    offset = [0.0]

    def handler(event: dict[str, Any], context: Any) -> Any:
        deliverer = CallbackDeliverer(
            rules=wiring.settings().callback_rules,
            records=wiring.watcher().records,  # type: ignore[arg-type]
            sender=HttpCallbackSender(SocketResolver(), timeout=1.0),
            queue=wiring.poll_queue(),
            keys=wiring.deliverer().keys,
            clock=lambda: time.time() + offset[0],
            random=lambda: 0.0,
        )
        return poller_app.lambda_handler(event, context, deliverer=deliverer)

    harness: Harness = make_harness(handler=handler)
    receiver = Receiver(harness.stack.webhook_key)
    try:
        yield World(harness, receiver, offset)
    finally:
        harness.source.stop()
        receiver.close()


def test_one_delivery_per_outcome_however_often_the_terminal_poll_arrives(world: World) -> None:
    # Given an export watch with a callback, whose first poll message reaches the queue three times
    world.watch("cb1", copies=3)
    # When the poller has handled everything
    state = world.run_until_callback_ends("cb1")
    world.harness.drain(3)
    # Then the receiver got the outcome exactly once, signed, naming the task and its export
    assert state == {"status": "delivered", "attempts": 1, "last_error": None}
    assert len(world.receiver.received) == 1
    document = world.receiver.received[0]["body"]
    assert (document["task_id"], document["outcome"]) == ("cb1", "succeeded")
    assert "/cb1/" in document["export"]["key"]
    assert world.receiver.webhook_ids == {"cb1.succeeded"}


def test_retries_after_a_500_and_a_timeout_then_success_keep_the_webhook_id(world: World) -> None:
    world.receiver.script = [500, "slow", 204]
    world.watch("cb2")
    state = world.run_until_callback_ends("cb2")
    assert state == {"status": "delivered", "attempts": 3, "last_error": None}
    assert len(world.receiver.received) == 3
    assert world.receiver.webhook_ids == {"cb2.succeeded"}


def test_410_gone_stops_the_retries(world: World) -> None:
    world.receiver.script = [410]
    world.watch("cb3")
    state = world.run_until_callback_ends("cb3")
    world.harness.drain(3)
    assert (state["status"], state["attempts"]) == ("gone", 1)
    assert len(world.receiver.received) == 1


def test_a_redirect_is_an_answer_never_followed(world: World) -> None:
    world.receiver.script = [302, 200]
    world.watch("cb4")
    state = world.run_until_callback_ends("cb4")
    assert (state["status"], state["attempts"]) == ("delivered", 2)
    assert len(world.receiver.received) == 2  # the second try came back here, not to the Location


def test_a_receiver_down_past_the_window_dead_letters_the_callback_only(world: World) -> None:
    # Given a receiver that always answers 503, and a day passing after its first answer
    world.receiver.script = [503]
    world.receiver.on_receive = lambda: world.clock_offset.__setitem__(0, 25 * 3600.0)
    world.watch("cb5")
    # When the chain runs out of time
    state = world.run_until_callback_ends("cb5")
    # Then the callback is failed and its message went to the DLQ with the reason
    assert state["status"] == "failed" and state["last_error"] == "HTTP 503"
    dead = world.harness.stack.client("sqs").receive_message(
        QueueUrl=world.harness.stack.dlq_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert [json.loads(m["Body"])["kind"] for m in dead] == ["callback"]
    assert "callback not delivered" in dead[0]["MessageAttributes"]["rejected_because"]["StringValue"]
    # And the watch itself completed normally: outcome recorded, export stored once
    record = world.harness.record("cb5")
    assert record is not None and record["status"] == "succeeded" and record["export"] is not None
    assert world.harness.stack.object_versions() == 1


class StubResolver:
    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names

    def resolve(self, host: str) -> list[str]:
        if host in self.names:
            return self.names[host]
        return SocketResolver().resolve(host) if host.replace(".", "").isdigit() else []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "https://ci.elsewhere.example/hook",
        "https://hook.internal.test/x",  # an allowed name that resolves to loopback, which is not listed by name
        "https://metadata.internal.test/x",  # an allowed name that resolves to the metadata address
    ],
)
def test_submissions_with_a_forbidden_callback_answer_400_naming_it(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1,*.internal.test")
    harness: Harness = make_harness()
    service = wiring.watch_service()
    service.resolver = StubResolver(
        {"hook.internal.test": ["127.0.0.1"], "metadata.internal.test": ["169.254.169.254"]}
    )
    api = LocalHttpApi(lambda event, context: webhook_app.lambda_handler(event, context, service=service))
    api.start()
    try:
        answer = WebhookClient(api.url, harness.stack.webhook_key).submit(poll_message("bad-cb", callback_url=url))
        assert answer.status == 400, answer
        assert [d for d in answer.body["details"] if d.startswith("callback_url:")]
        assert harness.stack.queue_depth() == 0 and harness.record("bad-cb") is None
    finally:
        api.stop()
