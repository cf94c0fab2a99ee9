"""Concurrency on the local stack, over real HTTP.

DynamoDB applies a conditional write atomically; moto does not, so the local stack serialises moto's
DynamoDB requests (taskwatch_local/moto_atomic.py). The first tests prove that the lock is in place
and that it is needed. The last one runs the poller with every batch handled by two invocations at
the same time, as SQS's at-least-once delivery and Lambda's concurrency allow, and finds no effect
doubled.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from apig_emulator import Step
from taskwatch_local import moto_atomic
from taskwatch_local.stack import REGION
from tests.integration.conftest import Harness, poll_message

pytestmark = pytest.mark.integration

WRITERS = 16
ROUNDS = 20
# As wide as the poller's claim (taskwatch/adapters/dynamodb.py): moto's window between checking the
# condition and applying the update grows with the update expression.
CLAIM_UPDATE = "SET attempts = :next, claim_id = :me, " + ", ".join(f"field_{i} = :filler" for i in range(12))

SWAGGER = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1"}}'
REPORT_OK = {"success": [{"id": "a1", "method": "GET", "path": "/pets"}], "failure": [], "group_id": "g1"}
REPORT_PARTIAL = {
    "success": [{"id": "a1", "method": "GET", "path": "/pets"}],
    "failure": [{"method": "POST", "path": "/pets", "error_code": "APIG.3201", "error_msg": "Backend address invalid"}],
    "group_id": "g1",
}


# --- the lock itself: many writers racing one conditional UpdateItem ---------------------------------------


@dataclass(frozen=True)
class Round:
    won: list[str]
    lost: int
    errors: list[str]


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """moto answers on threads of this process. Switching threads far more often than every 5 ms makes
    an unguarded check-then-write interleave in nearly every round instead of now and then."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def dynamodb(endpoint: str) -> Any:
    # One client per writer (a client's connection pool would queue them) and no retries: every
    # answer is the first one moto gave.
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=1),
    )


def claim(client: Any, table: str, key: dict[str, Any], attempt: int, me: str, start: threading.Barrier) -> str:
    """One writer's claim of attempt + 1: "won", or the error code it got."""
    start.wait()
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=CLAIM_UPDATE,
            ConditionExpression="attempts = :prev",
            ExpressionAttributeValues={
                ":prev": {"N": str(attempt)},
                ":next": {"N": str(attempt + 1)},
                ":me": {"S": me},
                ":filler": {"S": "x" * 64},
            },
        )
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code", ""))
    return "won"


def race_for_the_same_claim(endpoint: str, table: str) -> tuple[list[Round], dict[str, Any]]:
    """ROUNDS rounds; in each, WRITERS threads released together claim attempt k -> k + 1. Returns the
    rounds and the item as it ends up."""
    key = {"pk": {"S": f"race#{uuid.uuid4().hex}"}}
    clients = [dynamodb(endpoint) for _ in range(WRITERS)]
    names = [f"writer-{n}" for n in range(WRITERS)]
    clients[0].put_item(TableName=table, Item={**key, "attempts": {"N": "0"}})
    rounds: list[Round] = []
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for attempt in range(ROUNDS):
            start = threading.Barrier(WRITERS)
            futures = [
                pool.submit(claim, c, table, key, attempt, me, start) for c, me in zip(clients, names, strict=True)
            ]
            answers = [future.result() for future in futures]
            rounds.append(
                Round(
                    won=[me for me, answer in zip(names, answers, strict=True) if answer == "won"],
                    lost=answers.count("ConditionalCheckFailedException"),
                    errors=[a for a in answers if a not in ("won", "ConditionalCheckFailedException")],
                )
            )
    item: dict[str, Any] = clients[0].get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    return rounds, item


@pytest.fixture(scope="module")
def table(aws_endpoint: str) -> str:
    name = f"race-{uuid.uuid4().hex[:8]}"
    dynamodb(aws_endpoint).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_exactly_one_of_many_racing_conditional_updates_wins_each_round(
    aws_endpoint: str, table: str, eager_thread_switches: None
) -> None:
    # Given the local stack's moto server, with its DynamoDB requests serialised
    assert moto_atomic.installed()
    # When 16 writers race the same conditional claim, 20 rounds in a row
    rounds, item = race_for_the_same_claim(aws_endpoint, table)
    # Then each round has exactly one winner, every other writer sees its condition fail, nothing errs
    assert [len(r.won) for r in rounds] == [1] * ROUNDS
    assert [r.lost for r in rounds] == [WRITERS - 1] * ROUNDS
    assert [r.errors for r in rounds] == [[]] * ROUNDS
    # And the item holds the last round's winner, counted once per round
    assert (item["attempts"]["N"], item["claim_id"]["S"]) == (str(ROUNDS), rounds[-1].won[0])


def test_without_the_lock_moto_lets_two_writers_pass_the_same_condition(
    aws_endpoint: str, table: str, eager_thread_switches: None
) -> None:
    # Given moto's own DynamoDB, without the local stack's lock
    moto_atomic.uninstall()
    try:
        # When the same race runs
        rounds, _ = race_for_the_same_claim(aws_endpoint, table)
    finally:
        moto_atomic.install()
    # Then some round has several winners: the fence the poller relies on would not hold
    assert any(len(r.won) > 1 for r in rounds), rounds


# --- the product: every poll handled by two invocations at the same time -----------------------------------


def _execution_environment(env: dict[str, str], inbox: Connection, together: Barrier, timeout: float) -> None:
    """One Lambda execution environment, in its own process: the poller's module state, wiring and clients
    are its own, as they are for each concurrent invocation in Lambda. Handles one event at a time."""
    os.environ.update(env)
    warnings.filterwarnings("ignore", "No application metrics to publish")
    from functions.poller import app
    from taskwatch_local.event_source import LocalContext

    while (event := inbox.recv()) is not None:
        try:
            together.wait(timeout=30)
            inbox.send({"response": app.lambda_handler(event, LocalContext(timeout_seconds=timeout))})
        except Exception as exc:
            inbox.send({"crashed": repr(exc)})


class TwoInvocations:
    """The poller's handler for the SQS event source stand-in: every batch goes to two execution
    environments at once, released together. A record counts as failed only when both failed it, since
    the invocation that succeeds deletes the message.

    Processes rather than threads: Powertools keeps the batch processor, logger keys and metrics in
    module state, which two invocations never share in Lambda (see test_webhook_flow.one_at_a_time)."""

    def __init__(self, env: dict[str, str], function_timeout: float) -> None:
        context = multiprocessing.get_context("spawn")
        # Kept for the environments' lifetime: the semaphore behind it goes when the parent's object does.
        self._together = context.Barrier(2)
        self.crashes: list[str] = []
        self.batches = 0
        self._pipes: list[Connection] = []
        self._processes: list[BaseProcess] = []
        for n in range(2):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_execution_environment,
                args=(env, theirs, self._together, function_timeout),
                name=f"poller-environment-{n}",
                daemon=True,
            )
            process.start()
            self._pipes.append(mine)
            self._processes.append(process)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.batches += 1
        for pipe in self._pipes:
            pipe.send(event)
        failed: set[str] | None = None
        for pipe in self._pipes:
            if not pipe.poll(60):
                raise TimeoutError("a poller invocation did not answer within 60 s")
            answer = pipe.recv()
            if "crashed" in answer:
                self.crashes.append(answer["crashed"])
                continue
            mine = {item["itemIdentifier"] for item in answer["response"].get("batchItemFailures", [])}
            failed = mine if failed is None else failed & mine
        if failed is None:
            raise RuntimeError(f"both invocations crashed: {self.crashes[-2:]}")
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(failed)]}

    def close(self) -> None:
        for pipe in self._pipes:
            with suppress(OSError):  # an environment that died has closed its end already
                pipe.send(None)
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


@dataclass(frozen=True)
class Kind:
    steps: list[Step]
    task_type: str
    outcome: str
    stored: str | None  # the object name the watch stores, if any
    notified: bool


KINDS = [
    Kind([Step.processing(), Step.export_json(SWAGGER, file_name="api")], "export_api", "succeeded", "api.json", False),
    Kind(
        [Step.waiting(), Step.processing(), Step.succeed(REPORT_PARTIAL)],
        "import_api",
        "partial_failure",
        "import-report.json",
        True,
    ),
    Kind([Step.processing(), Step.succeed(REPORT_OK)], "import_api", "succeeded", "import-report.json", False),
    Kind([Step.waiting(), Step.failed(error_code="APIG.3201", error_msg="exists")], "import_api", "failed", None, True),
    Kind([Step.error(400, "APIG.2012", "Invalid parameter")], "export_api", "error", None, True),
]
TASKS = 30


@pytest.fixture
def two_at_once(harness: Harness) -> Iterator[TwoInvocations]:
    invocations = TwoInvocations(
        harness.stack.function_env(apig_endpoint=harness.apig.url), harness.stack.settings.function_timeout
    )
    harness.source._handler = invocations
    try:
        yield invocations
    finally:
        invocations.close()


def test_two_concurrent_invocations_of_every_poll_double_no_effect(
    harness: Harness, two_at_once: TwoInvocations
) -> None:
    # Given 30 tasks of five kinds (exports, imports that succeed or partly fail, failures, errors),
    # each needing one to three polls
    tasks = {f"conc{n:02d}": KINDS[n % len(KINDS)] for n in range(TASKS)}
    for task_id, kind in tasks.items():
        harness.apig.script(task_id, kind.steps, task_type=kind.task_type)
        harness.send(poll_message(task_id))
    # When every batch, first polls and re-polls alike, is handled by two poller invocations at once
    harness.run_until_finished(*tasks, timeout=45)
    # (the invocation that lost a claim parks a delayed continuation; it finds the poll done and ends)
    harness.drain(20)
    # Then each task has one record with the right outcome, polled once per attempt
    for task_id, kind in tasks.items():
        view = harness.record(task_id)
        assert view is not None and (view["outcome"], view["attempts"]) == (kind.outcome, len(kind.steps)), task_id
        assert harness.apig.calls(task_id) == len(kind.steps), task_id
    # And every export and report is stored exactly once: one version per object in the versioned bucket
    listing = harness.stack.client("s3").list_object_versions(Bucket=harness.stack.bucket)
    versions = Counter(version["Key"] for version in listing.get("Versions", []))
    expected = {
        f"exports/{poll_message(task_id)['instance_id']}/{task_id}/{kind.stored}": 1
        for task_id, kind in tasks.items()
        if kind.stored
    }
    assert dict(versions) == expected
    assert listing.get("DeleteMarkers", []) == []
    # And exactly one notification went out per task that did not succeed, none for the others
    notes = harness.stack.notifications(wait_seconds=1)
    assert Counter(note["message"]["task_id"] for note in notes) == Counter(
        task_id for task_id, kind in tasks.items() if kind.notified
    )
    assert all(note["message"]["outcome"] == tasks[note["message"]["task_id"]].outcome for note in notes)
    # And nothing is left over or dead-lettered, and no invocation crashed
    assert harness.stack.queue_depth() == 0 and harness.stack.queue_depth(harness.stack.dlq_url) == 0
    assert two_at_once.crashes == [] and harness.source.log.failed_records == 0
