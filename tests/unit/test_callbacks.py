"""Outcome callbacks, with fakes: where a callback may go, how deliveries retry and end, and that the
watch's own effects happen once whatever the receiver does."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from taskwatch.domain.callbacks import (
    CallbackDeliverer,
    CallbackMessage,
    CallbackRules,
    CallbackStep,
    CallbackUnreachable,
    refused_address,
    retry_delay,
)
from taskwatch.domain.errors import InvalidMessage
from taskwatch.domain.model import Outcome
from taskwatch.domain.watcher import Step, Watcher
from tests.fakes import Clock, FakeQueue, FakeRecords
from tests.unit.test_watcher import EXPORTED, LEASE, MESSAGE, make_watcher

KEY = "whsec_dGFza3dhdGNoLXRlc3Qta2V5LW5vdC1hLXNlY3JldCE="
HOOK = "https://ci.example.com/hooks/apig"


class StubResolver:
    """Names and what they resolve to; nothing is ever sent anywhere."""

    def __init__(self, **names: list[str]) -> None:
        self.names = {name.replace("_", "."): addresses for name, addresses in names.items()}
        self.asked: list[str] = []

    def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        if host in self.names:
            return self.names[host]
        raise OSError(f"{host} does not resolve")


PUBLIC = StubResolver(ci_example_com=["93.184.215.14"], hooks_example_org=["2606:2800:21f:cb07:6820:80da:af6b:8b2c"])


# --- where a callback may go -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed", "refused_because"),
    [
        (HOOK, "ci.example.com", None),
        ("https://hooks.example.org/x?run=1", "*.example.org", None),
        (HOOK, "", "not enabled"),
        (HOOK, "other.example.com", "not an allowed callback host"),
        ("https://example.org/x", "*.example.org", "not an allowed callback host"),  # the glob needs a label
        ("http://ci.example.com/x", "ci.example.com", "must be https"),
        ("http://169.254.169.254/latest/meta-data/", "*.example.com", "not an allowed callback host"),
        ("http://10.0.0.1/hook", "*.example.com", "not an allowed callback host"),
        ("https://meta.example.com/latest/meta-data/", "*.example.com", "private, loopback, link-local or metadata"),
        ("https://intra.example.com/hook", "*.example.com", "private, loopback, link-local or metadata"),
        ("https://unknown.example.com/x", "*.example.com", "does not resolve"),
    ],
)
def test_where_a_callback_may_go(url: str, allowed: str, refused_because: str | None) -> None:
    resolver = StubResolver(
        ci_example_com=["93.184.215.14"],
        hooks_example_org=["93.184.215.15"],
        meta_example_com=["169.254.169.254"],
        intra_example_com=["93.184.215.14", "10.0.0.1"],  # one private address among public ones is enough
    )
    problems = CallbackRules.parse(allowed).problems(url, resolver)
    if refused_because is None:
        assert problems == []
    else:
        assert len(problems) == 1 and refused_because in problems[0] and problems[0].startswith("callback_url:")


def test_a_name_resolving_to_loopback_is_refused_unless_listed_by_name() -> None:
    resolver = StubResolver(ci_internal_test=["127.0.0.1"])
    assert "loopback" in CallbackRules.parse("*.internal.test").problems("https://ci.internal.test/h", resolver)[0]
    assert CallbackRules.parse("ci.internal.test").problems("https://ci.internal.test/h", resolver) == []


def test_plain_http_only_to_a_listed_loopback_host() -> None:
    rules = CallbackRules.parse("127.0.0.1")
    assert rules.problems("http://127.0.0.1:8080/hook", StubResolver()) == []
    assert rules.problems("http://127.0.0.1:8080/hook", StubResolver()) == []
    assert "https" in CallbackRules.parse("*.example.com").problems("http://a.example.com/", PUBLIC)[0]


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
def test_special_addresses_are_refused(address: str) -> None:
    assert refused_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not refused_address(address)


def test_retries_back_off_exponentially_with_jitter_within_the_sqs_delay() -> None:
    assert [retry_delay(n, lambda: 1.0) for n in (1, 2, 3, 4, 10, 30)] == [10, 20, 40, 80, 900, 900]
    assert [retry_delay(n, lambda: 0.0) for n in (1, 2, 3)] == [5, 10, 20]


# --- the watch starts one callback chain -----------------------------------------------------------------


def callback_watcher() -> tuple[Watcher, Clock]:
    watcher, clock = make_watcher(EXPORTED)
    watcher.callback_rules = CallbackRules.parse("ci.example.com")
    watcher.resolver = PUBLIC
    return watcher, clock


def test_a_finished_watch_with_a_callback_enqueues_its_first_delivery_once() -> None:
    # Given an export watch with a callback URL, finishing on its first poll
    watcher, _ = callback_watcher()
    message = replace(MESSAGE, callback_url=HOOK)
    # When the poll and a duplicate of it are delivered
    assert watcher.handle(message, delivery_id="d1", lease_seconds=LEASE).step is Step.FINISHED
    assert watcher.handle(message, delivery_id="d1-copy", lease_seconds=LEASE).step is Step.DUPLICATE
    # Then one first delivery was enqueued, the record holds a pending callback, and the export was stored once
    queue = watcher.queue
    assert isinstance(queue, FakeQueue)
    assert [(m.task_id, m.attempt, delay) for m, delay in queue.callbacks] == [("t1", 0, 0)]
    record = watcher.records.get("t1")
    assert record is not None and record.callback == {"status": "pending", "attempts": 0, "last_error": None}
    assert record.notified and record.status_view()["callback"]["status"] == "pending"


def test_a_lost_first_delivery_is_sent_again_by_the_redelivery() -> None:
    # Given the queue fails when the first callback is sent (after the outcome was recorded)
    from tests.fakes import Faulty

    watcher, clock = callback_watcher()
    queue = FakeQueue()
    watcher.queue = Faulty(queue, "send", fail_on={1})
    message = replace(MESSAGE, callback_url=HOOK)
    with pytest.raises(Exception):  # noqa: B017 - whichever AWS error: SQS redelivers the record
        watcher.handle(message, delivery_id="d1", lease_seconds=LEASE)
    # When SQS redelivers the same message
    clock.advance(LEASE + 1)
    assert watcher.handle(message, delivery_id="d1", lease_seconds=LEASE).step is Step.FINISHED
    # Then the first delivery went out, and the outcome was not decided twice
    assert [m.attempt for m, _ in queue.callbacks] == [0]
    record = watcher.records.get("t1")
    assert record is not None and record.notified and record.attempts == 1


def test_a_queue_message_with_a_callback_nobody_allowed_is_invalid() -> None:
    watcher, _ = make_watcher(EXPORTED)
    with pytest.raises(InvalidMessage, match="callback_url"):
        watcher.handle(replace(MESSAGE, callback_url=HOOK), delivery_id="d1", lease_seconds=LEASE)
    assert watcher.records.get("t1") is None


# --- deliveries ------------------------------------------------------------------------------------------


class ScriptedReceiver:
    """Answers (status codes, or exceptions) in order; records what it was sent."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.received: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str], *, rules: CallbackRules) -> int:
        self.received.append((url, json.loads(body), headers))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Keys:
    def current(self) -> list[str]:
        return [KEY]


def finished_watch(callback_url: str = HOOK) -> tuple[FakeRecords, Clock]:
    watcher, clock = callback_watcher()
    watcher.handle(replace(MESSAGE, callback_url=callback_url), delivery_id="d1", lease_seconds=LEASE)
    assert isinstance(watcher.records, FakeRecords)
    return watcher.records, clock


def deliverer(records: FakeRecords, clock: Clock, receiver: ScriptedReceiver) -> CallbackDeliverer:
    return CallbackDeliverer(
        rules=CallbackRules.parse("ci.example.com"),
        records=records,
        sender=receiver,
        queue=FakeQueue(),
        keys=Keys(),
        clock=clock,
        random=lambda: 1.0,
    )


FIRST = CallbackMessage("t1", MESSAGE.project_id, MESSAGE.instance_id)


def test_a_2xx_delivers_once_however_often_the_message_arrives() -> None:
    records, clock = finished_watch()
    receiver = ScriptedReceiver(204)
    service = deliverer(records, clock, receiver)
    assert service.handle(FIRST, delivery_id="c1").step is CallbackStep.DELIVERED
    assert service.handle(FIRST, delivery_id="c1-copy").step is CallbackStep.DUPLICATE
    assert len(receiver.received) == 1
    url, document, headers = receiver.received[0]
    assert url == HOOK and document["outcome"] == "succeeded" and document["task_id"] == "t1"
    assert headers["webhook-id"] == "t1.succeeded"
    record = records.get("t1")
    assert record is not None and record.status_view()["callback"] == {
        "status": "delivered",
        "attempts": 1,
        "last_error": None,
    }


def test_failures_retry_with_the_same_webhook_id_then_succeed() -> None:
    records, clock = finished_watch()
    receiver = ScriptedReceiver(500, CallbackUnreachable("no answer within 10 s"), 200)
    service = deliverer(records, clock, receiver)
    queue = service.queue
    assert isinstance(queue, FakeQueue)
    message, steps = FIRST, []
    for n in range(3):
        result = service.handle(message, delivery_id=f"c{n}")
        steps.append(result.step)
        if result.step is CallbackStep.RETRYING:
            message, delay = queue.callbacks[-1]
            assert result.delay_seconds == delay
            clock.advance(delay)
    assert steps == [CallbackStep.RETRYING, CallbackStep.RETRYING, CallbackStep.DELIVERED]
    assert [delay for _, delay in queue.callbacks] == [10, 20]
    assert {headers["webhook-id"] for _, _, headers in receiver.received} == {"t1.succeeded"}
    record = records.get("t1")
    assert record is not None and record.callback is not None
    assert (record.callback["status"], record.callback["attempts"]) == ("delivered", 3)


def test_410_gone_stops_the_chain() -> None:
    records, clock = finished_watch()
    service = deliverer(records, clock, ScriptedReceiver(410))
    assert service.handle(FIRST, delivery_id="c1").step is CallbackStep.GONE
    assert service.queue.callbacks == []  # type: ignore[attr-defined]
    record = records.get("t1")
    assert record is not None and record.status_view()["callback"]["status"] == "gone"


def test_a_receiver_down_for_a_day_ends_failed_and_the_watch_is_untouched() -> None:
    records, clock = finished_watch()
    before = records.get("t1")
    service = deliverer(records, clock, ScriptedReceiver(503))
    message, result = FIRST, service.handle(FIRST, delivery_id="c0")
    n = 0
    while result.step is CallbackStep.RETRYING:
        message, delay = service.queue.callbacks[-1]  # type: ignore[attr-defined]
        clock.advance(delay)
        n += 1
        result = service.handle(message, delivery_id=f"c{n}")
    assert result.step is CallbackStep.FAILED and result.error == "HTTP 503"
    assert clock() - 1_800_000_000.0 <= 24 * 3600 + 900
    after = records.get("t1")
    assert after is not None and after.callback is not None and after.callback["status"] == "failed"
    assert before is not None and (after.outcome, after.export, after.notified) == (
        before.outcome,
        before.export,
        before.notified,
    )


def test_a_callback_for_another_project_is_invalid() -> None:
    records, clock = finished_watch()
    service = deliverer(records, clock, ScriptedReceiver(200))
    with pytest.raises(InvalidMessage):
        service.handle(replace(FIRST, project_id="other"), delivery_id="c1")


def test_the_outcome_document_is_the_notification() -> None:
    records, clock = finished_watch()
    receiver = ScriptedReceiver(200)
    deliverer(records, clock, receiver).handle(FIRST, delivery_id="c1")
    document = receiver.received[0][1]
    assert set(document) >= {"task_id", "project_id", "instance_id", "task_type", "outcome", "export", "attempts"}
    assert document["outcome"] == Outcome.SUCCEEDED.value
