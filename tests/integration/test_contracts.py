"""Contract tests: each in-memory fake and its real adapter (over HTTP to moto's server) behave alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from taskwatch.adapters.dynamodb import DynamoBaselines, DynamoTaskRecords, DynamoTokenLedger
from taskwatch.adapters.s3 import S3ExportStore
from taskwatch.adapters.sns import SnsNotifier
from taskwatch.adapters.sqs import SqsPollQueue
from taskwatch.domain.identity import Caller
from taskwatch.domain.model import Outcome, PollMessage
from taskwatch.domain.notifications import Notification
from taskwatch.domain.ports import Baselines, ExportStore, TaskRecords, TokenLedger
from taskwatch.domain.records import Baseline, BaselineScope, Decision, Fenced
from taskwatch_local.stack import LocalAws, create_stack
from tests.fakes import FakeBaselines, FakeNotifier, FakeQueue, FakeRecords, FakeStore, FakeTokenLedger

MESSAGE = PollMessage(project_id="p1", instance_id="i1", task_id="c1", region="cn-north-4", source={"pipeline": "7"})
T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def stack(aws_endpoint: str) -> LocalAws:
    return create_stack(aws_endpoint)


@pytest.fixture(params=["fake", "dynamodb"])
def records(request: pytest.FixtureRequest, stack: LocalAws) -> Iterator[TaskRecords]:
    if request.param == "fake":
        yield FakeRecords()
    else:
        yield DynamoTaskRecords(stack.table, stack.client("dynamodb"))


def claim(records: TaskRecords, message: PollMessage, claim_id: str, now: float = T0) -> Any:
    return records.claim(
        message,
        claim_id=claim_id,
        now=now,
        lease_until=now + 30,
        next_poll_at=now + 5,
        first_poll_at=now,
        deadline=now + 3600,
    )


def unique(task_id: str, request: pytest.FixtureRequest) -> PollMessage:
    suffix = request.node.callspec.id.replace("-", "_")
    return PollMessage(
        MESSAGE.project_id, MESSAGE.instance_id, f"{task_id}_{suffix}", MESSAGE.region, source=MESSAGE.source
    )


def test_first_claim_wins_and_second_sees_the_record(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("claim", request)
    assert claim(records, message, "m1").won
    lost = claim(records, message, "m2")
    assert not lost.won and lost.record is not None
    assert (lost.record.attempts, lost.record.claim_id, lost.record.status) == (1, "m1", "polling")
    assert lost.record.source == {"pipeline": "7"} and lost.record.lease_until == T0 + 30


def test_the_next_attempt_claims_after_the_previous(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("chain", request)
    assert claim(records, message, "m1").won
    assert claim(records, PollMessage(**{**message.__dict__, "attempt": 1}), "m2").won
    stale = claim(records, message, "m3")
    assert not stale.won and stale.record is not None and stale.record.attempts == 2


def test_take_over_only_after_the_lease(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("lease", request)
    claim(records, message, "m1")
    assert not records.take_over(message.task_id, claim_id="m1", now=T0 + 10, lease_until=T0 + 40)
    assert not records.take_over(message.task_id, claim_id="other", now=T0 + 31, lease_until=T0 + 61)
    assert records.take_over(message.task_id, claim_id="m1", now=T0 + 31, lease_until=T0 + 61)


def test_finish_is_fenced_by_the_claim(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("finish", request)
    claim(records, message, "m1")
    decision = Decision(
        Outcome.PARTIAL_FAILURE,
        "import_api",
        "APIG.3201",
        "1 of 2 failed",
        failures=[{"method": "GET", "path": "/x", "error_code": "APIG.3201", "error_msg": "bad"}],
        report={"bucket": "b", "key": "k"},
    )
    with pytest.raises(Fenced):
        records.finish(message.task_id, claim_id="m2", now=T0 + 1, decision=decision, notified=False)
    records.finish(message.task_id, claim_id="m1", now=T0 + 1, decision=decision, notified=False)
    records.mark_notified(message.task_id, claim_id="m1", now=T0 + 2)
    record = records.get(message.task_id)
    assert record is not None and record.terminal and record.notified
    view = record.status_view()
    assert (view["status"], view["outcome"], view["error_code"], view["attempts"]) == (
        "partial_failure",
        "partial_failure",
        "APIG.3201",
        1,
    )
    assert view["failures"][0]["path"] == "/x" and view["next_poll_at"] is None
    assert view["first_seen_at"] == "2027-01-15T08:00:00Z"


def test_queued_record_is_created_once_then_claimed(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("queued", request)
    assert records.create_queued(message, now=T0).won
    again = records.create_queued(message, now=T0 + 1)
    assert not again.won and again.record is not None and again.record.status == "queued"
    assert claim(records, message, "m1").won
    record = records.get(message.task_id)
    assert record is not None and record.submitted_via == "webhook" and record.first_seen_at == T0


def test_unknown_task_has_no_record(records: TaskRecords) -> None:
    assert records.get("never-seen") is None


@pytest.fixture(params=["fake", "s3"])
def store(request: pytest.FixtureRequest, stack: LocalAws) -> ExportStore:
    if request.param == "fake":
        return FakeStore(bucket=stack.bucket)
    return S3ExportStore(stack.bucket, stack.client("s3"))


def test_store_writes_an_object_once(store: ExportStore, request: pytest.FixtureRequest) -> None:
    # Given a key nobody wrote yet
    key = f"exports/i1/{request.node.callspec.id}/swagger.yaml"
    # When it is stored, Then it is written
    assert store.put(key, b"a: b\n", content_type="application/yaml", metadata={"task_id": "t"}) is True
    # And a second write of the same key writes nothing (the first object stays the only version)
    assert store.put(key, b"a: c\n", content_type="application/yaml", metadata={"task_id": "t"}) is False


@pytest.fixture(params=["fake", "sqs"])
def queue(request: pytest.FixtureRequest, stack: LocalAws) -> Any:
    if request.param == "fake":
        return FakeQueue()
    return SqsPollQueue(stack.queue_url, stack.client("sqs"))


def test_queue_sends_a_message_that_parses_back(queue: Any, stack: LocalAws) -> None:
    message_id = queue.send(MESSAGE, delay_seconds=0)
    assert isinstance(message_id, str) and message_id
    assert queue.dead_letter("junk", "body: not valid JSON")
    if isinstance(queue, SqsPollQueue):
        sqs = stack.client("sqs")
        body = sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=1)["Messages"][0]["Body"]
        assert json.loads(body)["task_id"] == "c1"
        dead = sqs.receive_message(QueueUrl=stack.dlq_url, WaitTimeSeconds=1)["Messages"][0]["Body"]
        assert dead == "junk"


@pytest.fixture(params=["fake", "sns"])
def notifier(request: pytest.FixtureRequest, stack: LocalAws) -> Any:
    if request.param == "fake":
        return FakeNotifier()
    return SnsNotifier(stack.topic_arn, stack.client("sns"))


def test_notifier_publishes_subject_message_and_attributes(notifier: Any, stack: LocalAws) -> None:
    note = Notification(
        "APIG import failed (APIG.3201): c1", {"task_id": "c1", "outcome": "failed"}, "failed", "import_api"
    )
    assert notifier.publish(note)
    if isinstance(notifier, SnsNotifier):
        [received] = stack.notifications(wait_seconds=1)
        assert received == {
            "subject": note.subject,
            "message": note.message,
            "attributes": {"outcome": "failed", "task_type": "import_api"},
        }


def test_release_ends_the_lease_and_clears_the_next_poll(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("release", request)
    claim(records, message, "m1")
    with pytest.raises(Fenced):
        records.release(message.task_id, claim_id="m2", now=T0 + 1)
    records.release(message.task_id, claim_id="m1", now=T0 + 1)
    record = records.get(message.task_id)
    assert record is not None and record.lease_until == 0 and record.next_poll_at is None
    assert records.take_over(message.task_id, claim_id="m1", now=T0 + 2, lease_until=T0 + 32)


@pytest.fixture(params=["fake", "dynamodb"])
def ledger(request: pytest.FixtureRequest, stack: LocalAws) -> TokenLedger:
    if request.param == "fake":
        return FakeTokenLedger()
    return DynamoTokenLedger(stack.table, stack.client("dynamodb"))


def test_a_token_id_is_used_once(ledger: TokenLedger, request: pytest.FixtureRequest) -> None:
    key = f"k-{request.node.callspec.id}"
    assert ledger.use_once(key, expires_at=T0 + 300) is True
    assert ledger.use_once(key, expires_at=T0 + 300) is False
    assert ledger.use_once(key + "-other", expires_at=T0 + 300) is True


def test_a_won_claim_returns_the_record_with_its_caller(records: TaskRecords, request: pytest.FixtureRequest) -> None:
    message = unique("caller", request)
    caller = Caller("https://issuer.example", "repo:o/a", {"repository": "o/a"})
    assert records.create_queued(message, now=T0, caller=caller).won
    won = claim(records, message, "m1")
    assert won.won and won.record is not None
    assert (won.record.caller, won.record.status, won.record.attempts) == (caller.as_dict(), "polling", 1)


def test_a_claim_under_another_project_or_first_poll_loses(
    records: TaskRecords, request: pytest.FixtureRequest
) -> None:
    message = unique("identity", request)
    assert claim(records, message, "m1").won
    successor = PollMessage(**{**message.__dict__, "attempt": 1, "first_poll_at": T0})
    assert not claim(records, PollMessage(**{**successor.__dict__, "project_id": "other"}), "evil").won
    assert not claim(records, successor, "evil", now=T0 + 60).won  # its first poll moved by a minute
    assert claim(records, successor, "m2").won


@pytest.fixture(params=["fake", "dynamodb"])
def baselines(request: pytest.FixtureRequest, stack: LocalAws) -> Baselines:
    if request.param == "fake":
        return FakeBaselines()
    return DynamoBaselines(stack.table, stack.client("dynamodb"))


def test_a_baseline_moves_forward_only(baselines: Baselines, request: pytest.FixtureRequest) -> None:
    scope = BaselineScope("i1", f"g-{request.node.callspec.id}", "RELEASE")
    assert baselines.get(scope) is None
    first = Baseline("e1", "exports/i1/e1/a.json", T0)
    assert baselines.advance(scope, first)
    newer = Baseline("e2", "exports/i1/e2/a.json", T0 + 60, previous_task_id="e1", previous_key=first.key)
    assert baselines.advance(scope, newer)
    assert not baselines.advance(scope, first)  # an older export, however late, never moves it back
    assert not baselines.advance(scope, newer)  # nor does the same one again
    assert baselines.advance(scope, Baseline("e3", "exports/i1/e3/a.json", T0 + 60))  # a tie: the larger task id
    assert baselines.get(scope) == Baseline("e3", "exports/i1/e3/a.json", T0 + 60)
    assert baselines.get(BaselineScope("i1", f"g-{request.node.callspec.id}", "TEST")) is None


def test_a_baseline_keeps_the_one_it_replaced(baselines: Baselines, request: pytest.FixtureRequest) -> None:
    scope = BaselineScope("i1", f"p-{request.node.callspec.id}", "RELEASE")
    moved = Baseline("e2", "k2", T0, previous_task_id="e1", previous_key="k1")
    assert baselines.advance(scope, moved)
    assert baselines.get(scope) == moved


def test_the_store_reads_back_what_it_stored(store: ExportStore, request: pytest.FixtureRequest) -> None:
    key = f"exports/i1/{request.node.callspec.id}-read/swagger.json"
    store.put(key, '{"ü": 1}'.encode(), content_type="application/json", metadata={})
    assert store.get(key) == '{"ü": 1}'.encode()


def test_reading_a_missing_object_is_a_key_error(store: ExportStore, request: pytest.FixtureRequest) -> None:
    with pytest.raises(KeyError):
        store.get(f"exports/i1/{request.node.callspec.id}-gone/swagger.json")
