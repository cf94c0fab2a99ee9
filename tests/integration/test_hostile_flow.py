"""Hostile input through the real poller and webhook on the local stack (moto over HTTP, with DynamoDB's
conditional writes made atomic): each ends in one outcome, nothing is lost, nothing crash-loops."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from apig_emulator import ScriptedAnswer
from functions.poller import app as poller_app
from functions.webhook import app as webhook_app
from taskwatch.domain.signatures import sign_standard
from taskwatch_local.ci import WebhookClient
from taskwatch_local.http_api import LocalHttpApi
from tests.integration.conftest import INSTANCE_ID, PROJECT_ID, Harness, poll_message
from tests.integration.test_webhook_flow import one_at_a_time

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]
SWAGGER = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1.0"}, "paths": {}}'


def dead_letters(harness: Harness) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = (
        harness.stack.client("sqs")
        .receive_message(
            QueueUrl=harness.stack.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        .get("Messages", [])
    )
    return messages


def test_250_failures_of_cjk_text_still_record_and_notify_the_partial_import(harness: Harness) -> None:
    # Given an import whose 250 failures each carry 300 CJK characters (~720 KB of error text in all)
    text = "接口定义" * 75
    failures = [
        {"method": "GET", "path": f"/api/{i}/{text}", "error_code": "APIG.3201", "error_msg": text} for i in range(250)
    ]
    harness.apig.script("cjk1", [ScriptedAnswer.import_report(failure=failures)], task_type="import_api")
    # When the poller handles it
    harness.send(poll_message("cjk1", expected_type="import_api"))
    harness.run_until_finished("cjk1")
    # Then the record holds the outcome with as many failures as fit, the subscriber got one notification,
    # and the import report in S3 keeps all 250
    record = harness.record("cjk1")
    assert record is not None and record["status"] == "partial_failure"
    assert 0 < len(record["failures"]) < 250 and "are listed" in record["error_msg"]
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "partial_failure" and len(note["message"]["failures"]) == len(
        record["failures"]
    )
    report = json.loads(harness.stack.objects()[f"exports/{INSTANCE_ID}/cjk1/import-report.json"])
    assert len(report["failure"]) == 250
    assert harness.source.log.failed_records == 0


def test_a_forged_message_under_another_project_is_dead_lettered_and_the_export_still_lands(
    harness: Harness,
) -> None:
    # Given a running export under our project
    harness.apig.script(
        "ext1", [ScriptedAnswer.processing(), ScriptedAnswer.export_json(SWAGGER)], task_type="export_api"
    )
    harness.send(poll_message("ext1", expected_type="export_api"))
    harness.source.poll_once()
    # When someone with send rights on the queue forges its next poll under another project
    harness.send(
        {
            "project_id": "attacker",
            "instance_id": INSTANCE_ID,
            "task_id": "ext1",
            "attempt": 1,
            "first_poll_at": 1.0,
        }
    )
    harness.send({"project_id": "attacker", "instance_id": INSTANCE_ID, "task_id": "ext1"})
    harness.run_until_finished("ext1")
    harness.drain(3)
    # Then the forgeries went to the DLQ with their reasons, and our export finished and was stored
    reasons = [m["MessageAttributes"]["rejected_because"]["StringValue"] for m in dead_letters(harness)]
    assert len(reasons) == 2 and all("project_id" in r or "first_poll_at" in r for r in reasons)
    record = harness.record("ext1")
    assert record is not None and record["status"] == "succeeded" and record["project_id"] == PROJECT_ID
    assert harness.stack.object_versions() == 1


@pytest.mark.parametrize("number", ["1e400", "1e-200", "1" * 41])
def test_a_number_dynamodb_cannot_store_is_dead_lettered_at_once(harness: Harness, number: str) -> None:
    body = json.dumps(poll_message("num1"))[:-1] + f', "source": {{"n": {number}}}}}'
    harness.send(body)
    harness.source.poll_once()
    [dead] = dead_letters(harness)
    assert (
        "source: holds a number DynamoDB cannot store" in dead["MessageAttributes"]["rejected_because"]["StringValue"]
    )
    assert harness.record("num1") is None and harness.source.log.failed_records == 0


@pytest.fixture
def front(make_harness: Any) -> Iterator[tuple[Harness, WebhookClient]]:
    lock = threading.Lock()
    harness: Harness = make_harness(handler=one_at_a_time(lock, poller_app.lambda_handler))
    api = LocalHttpApi(one_at_a_time(lock, webhook_app.lambda_handler))
    api.start()
    try:
        yield harness, WebhookClient(api.url, harness.stack.webhook_key)
    finally:
        harness.source.stop()
        api.stop()


@pytest.mark.parametrize("number", ["1e400", "-1e-200", "9" * 41])
def test_the_webhook_answers_400_naming_source_for_an_unstorable_number(
    front: tuple[Harness, WebhookClient], number: str
) -> None:
    harness, client = front
    # The number as it would arrive in the JSON text (Python's json would turn 1e400 into Infinity)
    body = (json.dumps(poll_message("num2"))[:-1] + f', "source": {{"coverage": {number}}}}}').encode()
    headers = {
        **sign_standard(harness.stack.webhook_key, "msg_num", int(time.time()), body),
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(client.base_url + "/tasks", data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    details = json.loads(refused.value.read())["details"]
    assert refused.value.code == 400 and any(d.startswith("source:") for d in details), details
    assert harness.stack.queue_depth() == 0 and harness.record("num2") is None
