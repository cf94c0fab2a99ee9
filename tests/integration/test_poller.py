"""The poller's behaviour, one test per rule of docs/contract.md "Poller", on the local stack over real HTTP:
moto server (SQS, S3, SNS, DynamoDB, Secrets Manager), the APIG emulator verifying signatures,
and the SQS event-source stand-in delivering batches to the real handler."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from apig_emulator import ScriptedAnswer
from functions.poller import app as poller_app
from taskwatch import wiring
from taskwatch.adapters.apig import ApigClient
from taskwatch.domain.watcher import Watcher
from taskwatch_local.stack import StackSettings
from tests.fakes import Faulty
from tests.integration.conftest import FAST, INSTANCE_ID, PROJECT_ID, SK, Harness, poll_message

SWAGGER = '{\n\t"swagger": "2.0",\n\t"info": {"title": "petstore", "version": "1"}\n}'
REPORT_OK = {
    "success": [{"id": "a1", "method": "GET", "path": "/pets", "action": "create"}],
    "failure": [],
    "swagger": {"id": "s1", "result": "Success"},
    "group_id": "g1",
}
REPORT_PARTIAL = {
    "success": [{"id": "a1", "method": "GET", "path": "/pets", "action": "create"}],
    "failure": [
        {"method": "POST", "path": "/pets/fail", "error_code": "APIG.3201", "error_msg": "Backend address is invalid"},
        {"method": "DELETE", "path": "/pets/{id}", "error_code": "APIG.2012", "error_msg": "Invalid parameter"},
    ],
    "swagger": {"id": "s1", "result": "Success"},
    "group_id": "g1",
}


def key(task_id: str, name: str) -> str:
    return f"exports/{INSTANCE_ID}/{task_id}/{name}"


# --- running tasks ------------------------------------------------------------------------------------


def test_running_task_is_sent_back_with_a_policy_delay(harness: Harness) -> None:
    # Given a task that is waiting
    harness.apig.script("run1", [ScriptedAnswer.waiting()], task_type="import_api")
    # When one poll happens
    harness.send(poll_message("run1"))
    harness.source.poll_once()
    # Then the poll message is back on the queue, delayed, with the attempt counted
    sqs = harness.stack.client("sqs")
    assert sqs.receive_message(QueueUrl=harness.stack.queue_url, WaitTimeSeconds=0).get("Messages") is None
    view = harness.record("run1")
    assert view is not None and view["status"] == "polling" and view["attempts"] == 1
    assert view["next_poll_at"] is not None
    message = sqs.receive_message(QueueUrl=harness.stack.queue_url, WaitTimeSeconds=3)["Messages"][0]
    body = json.loads(message["Body"])
    assert body["task_id"] == "run1" and body["attempt"] == 1 and "first_poll_at" in body
    assert harness.apig.calls("run1") == 1


# --- outcomes -----------------------------------------------------------------------------------------


def test_export_published_shape_is_stored_byte_for_byte_with_metadata(harness: Harness) -> None:
    # Given an export that succeeds with the published FileName/FileType/Comment shape
    name = "test8-RELEASE-all-2023-07-11-19:54:22"
    harness.apig.script(
        "exp1",
        [ScriptedAnswer.processing(), ScriptedAnswer.export_json(SWAGGER, file_name=name)],
        task_type="export_api",
    )
    # When CI asks us to watch it, with a CI context
    harness.send(poll_message("exp1", expected_type="export_api", source={"pipeline": "p-42", "commit": "abc"}))
    harness.run_until_finished("exp1")
    # Then the swagger text is in S3 unchanged, typed JSON, with the task id, type and source in metadata
    s3 = harness.stack.client("s3")
    stored = s3.get_object(Bucket=harness.stack.bucket, Key=key("exp1", f"{name}.json"))
    assert stored["Body"].read() == SWAGGER.encode()
    assert stored["ContentType"] == "application/json"
    assert stored["Metadata"]["task_id"] == "exp1" and stored["Metadata"]["task_type"] == "export_api"
    assert json.loads(stored["Metadata"]["source"]) == {"pipeline": "p-42", "commit": "abc"}
    # And the record points at it; a success sends no notification by default
    view = harness.record("exp1")
    assert view is not None and view["outcome"] == "succeeded"
    assert view["export"] == {"bucket": harness.stack.bucket, "key": key("exp1", f"{name}.json")}
    assert harness.stack.notifications() == []


def test_export_documented_shape_without_file_name_is_swagger_yaml(harness: Harness) -> None:
    # Given an export answered in the documented file_type/content shape, as YAML
    yaml_text = "swagger: '2.0'\ninfo:\n  title: petstore\n"
    harness.apig.script("exp2", [ScriptedAnswer.export_documented(yaml_text, file_type="yaml")], task_type="export_api")
    harness.send(poll_message("exp2"))
    harness.run_until_finished("exp2")
    # Then it is stored as swagger.yaml with a YAML content type
    stored = harness.stack.client("s3").get_object(Bucket=harness.stack.bucket, Key=key("exp2", "swagger.yaml"))
    assert stored["Body"].read() == yaml_text.encode()
    assert stored["ContentType"] == "application/yaml"


def test_import_without_failures_succeeds_and_stores_the_report(harness: Harness) -> None:
    harness.apig.script("imp1", [ScriptedAnswer.waiting(), ScriptedAnswer.succeed(REPORT_OK)], task_type="import_api")
    harness.send(poll_message("imp1", expected_type="import_api"))
    harness.run_until_finished("imp1")
    objects = harness.stack.objects()
    assert json.loads(objects[key("imp1", "import-report.json")]) == REPORT_OK
    view = harness.record("imp1")
    assert view is not None and view["status"] == "succeeded" and view["failures"] == []
    assert harness.stack.notifications() == []


def test_import_with_failures_is_partial_failure_listing_every_failure(harness: Harness) -> None:
    # Given an import where two APIs fail
    harness.apig.script(
        "imp2", [ScriptedAnswer.processing(), ScriptedAnswer.succeed(REPORT_PARTIAL)], task_type="import_api"
    )
    harness.send(poll_message("imp2", source={"job": "deploy-api"}))
    harness.run_until_finished("imp2")
    # Then one notification lists every failed method/path/error
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "partial_failure"
    assert note["message"]["failures"] == REPORT_PARTIAL["failure"]
    assert note["message"]["source"] == {"job": "deploy-api"}
    assert note["message"]["attempts"] == 2
    assert note["attributes"] == {"outcome": "partial_failure", "task_type": "import_api"}
    assert len(note["subject"]) <= 100 and "imp2" in note["subject"] and "APIG.3201" in note["subject"]
    # And the report is stored and the record lists the failures
    assert key("imp2", "import-report.json") in harness.stack.objects()
    view = harness.record("imp2")
    assert view is not None and view["status"] == "partial_failure" and len(view["failures"]) == 2


def test_task_type_other_than_expected_is_an_error(harness: Harness) -> None:
    harness.apig.script("mis1", [ScriptedAnswer.succeed(REPORT_OK)], task_type="import_api")
    harness.send(poll_message("mis1", expected_type="export_api"))
    harness.run_until_finished("mis1")
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "error" and note["message"]["task_type"] == "import_api"
    assert harness.stack.objects() == {}


def test_failed_task_notifies_its_error_code_and_message(harness: Harness) -> None:
    harness.apig.script(
        "fail1",
        [ScriptedAnswer.failed(error_code="APIG.3201", error_msg="The API group name already exists")],
        task_type="import_api",
    )
    harness.send(poll_message("fail1"))
    harness.run_until_finished("fail1")
    [note] = harness.stack.notifications(wait_seconds=1)
    message = note["message"]
    assert (message["outcome"], message["error_code"], message["error_msg"]) == (
        "failed",
        "APIG.3201",
        "The API group name already exists",
    )
    assert set(message) == {
        "task_id",
        "project_id",
        "instance_id",
        "task_type",
        "outcome",
        "error_code",
        "error_msg",
        "failures",
        "export",
        "source",
        "attempts",
        "elapsed_seconds",
    }
    assert message["project_id"] == PROJECT_ID and message["instance_id"] == INSTANCE_ID
    view = harness.record("fail1")
    assert view is not None and view["status"] == "failed" and view["error_code"] == "APIG.3201"


def test_unknown_task_is_not_found(harness: Harness) -> None:
    # Given no such task in APIG (the emulator answers 404 APIG.3093)
    harness.send(poll_message("ghost1"))
    harness.run_until_finished("ghost1")
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "not_found" and note["message"]["error_code"] == "APIG.3093"


def test_other_client_errors_are_an_error_outcome(harness: Harness) -> None:
    harness.apig.script("bad1", [ScriptedAnswer.error(400, "APIG.2012", "Invalid parameter")], task_type="export_api")
    harness.send(poll_message("bad1"))
    harness.run_until_finished("bad1")
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "error" and note["message"]["error_code"] == "APIG.2012"
    assert harness.apig.calls("bad1") == 1


def test_garbage_from_apig_is_one_error_not_a_crash_loop(harness: Harness) -> None:
    harness.apig.script("junk1", [ScriptedAnswer.raw(200, "<html>oops</html>")], task_type="export_api")
    harness.send(poll_message("junk1"))
    harness.run_until_finished("junk1")
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "error"
    assert harness.apig.calls("junk1") == 1


def test_success_is_notified_when_notify_on_success(make_harness: Any) -> None:
    harness = make_harness(StackSettings(**{**FAST.__dict__, "notify_on_success": True}))
    harness.apig.script("exp3", [ScriptedAnswer.export_json(SWAGGER)], task_type="export_api")
    harness.send(poll_message("exp3"))
    harness.run_until_finished("exp3")
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "succeeded"
    assert note["message"]["export"]["key"].endswith(".json")


# --- credentials ----------------------------------------------------------------------------------------


def test_wrong_credentials_are_unauthorized_after_one_fresh_secret_read(harness: Harness) -> None:
    # Given APIG no longer accepts our AK/SK and the secret still holds them
    harness.apig.set_credentials({"OTHERAK": "OTHERSK"})
    harness.apig.script("auth1", [ScriptedAnswer.processing()], task_type="export_api")
    harness.send(poll_message("auth1"))
    harness.run_until_finished("auth1")
    # Then the outcome is unauthorized, after exactly one retry with a fresh read
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "unauthorized" and note["message"]["error_code"] == "APIG.1002"
    rejected = [r for r in harness.apig.requests if r.status == 401]
    assert len(rejected) == 2


def test_rotated_secret_heals_itself(harness: Harness) -> None:
    # Given a warm poller that cached the old credentials
    harness.apig.script(
        "rot1", [ScriptedAnswer.processing(), ScriptedAnswer.export_json(SWAGGER)], task_type="export_api"
    )
    harness.send(poll_message("rot1"))
    harness.source.poll_once()
    # When the credentials are rotated in APIG and in the secret
    harness.apig.set_credentials({"NEWAK": "NEWSK"})
    harness.stack.client("secretsmanager").put_secret_value(
        SecretId=harness.stack.huawei_secret_id, SecretString=json.dumps({"ak": "NEWAK", "sk": "NEWSK"})
    )
    harness.run_until_finished("rot1")
    # Then the next poll's 401 triggers one fresh read and the watch succeeds
    view = harness.record("rot1")
    assert view is not None and view["outcome"] == "succeeded"
    assert harness.stack.notifications() == []


# --- transient errors and the deadline -------------------------------------------------------------------


def test_transient_errors_are_retried_with_backoff_then_succeed(harness: Harness) -> None:
    # Given APIG throttles, fails, and answers too slowly before the task is seen finished
    harness.apig.script(
        "tr1",
        [
            ScriptedAnswer.error(500, "APIG.9999", "System error"),
            ScriptedAnswer.error(429, "APIG.0308", "Too many requests"),
            ScriptedAnswer.error(500, "APIG.9008", "Request throttled"),
            ScriptedAnswer.slow(12, ScriptedAnswer.processing()),
            ScriptedAnswer.export_json(SWAGGER),
        ],
        task_type="export_api",
    )
    wiring.reset()
    watcher = wiring.watcher()
    # A read timeout well below the slow answer's 12 s, as the deployed one is well below Lambda's timeout.
    watcher.apig = ApigClient(wiring.huawei_credentials(), endpoint=harness.apig.url, read_timeout=0.5)
    harness.source._handler = lambda event, context: poller_app.lambda_handler(event, context, watcher=watcher)
    harness.send(poll_message("tr1"))
    harness.run_until_finished("tr1", timeout=60)
    # Then the export lands once and nobody is told of a failure
    view = harness.record("tr1")
    assert view is not None and view["outcome"] == "succeeded" and view["attempts"] == 5
    assert list(harness.stack.objects()) == [key("tr1", "petstore-RELEASE-all-2026-11-28-10:00:00.json")]
    assert harness.stack.notifications() == []


def test_task_still_running_at_its_deadline_times_out(harness: Harness) -> None:
    harness.apig.script("slow1", [ScriptedAnswer.processing()], task_type="import_api")
    harness.send(poll_message("slow1", max_wait_seconds=3))
    harness.run_until_finished("slow1", timeout=30)
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "timed_out"
    assert 2 <= harness.apig.calls("slow1") <= 5
    assert note["message"]["elapsed_seconds"] >= 3


# --- bad input ------------------------------------------------------------------------------------------


def test_poison_message_is_dead_lettered_without_blocking_or_reaching_apig(harness: Harness) -> None:
    # Given a batch with good messages and poison ones
    harness.apig.script("good1", [ScriptedAnswer.export_json(SWAGGER)], task_type="export_api")
    harness.apig.script("good2", [ScriptedAnswer.succeed(REPORT_OK)], task_type="import_api")
    harness.send(poll_message("good1"))
    harness.send("this is not json")
    harness.send({"project_id": "p", "task_id": "../../etc"})
    harness.send(poll_message("good2"))
    # When one batch is delivered
    assert harness.source.poll_once() == 4
    # Then the good ones finished, the poison ones went to the DLQ at once, and APIG saw only good ids
    for task_id in ("good1", "good2"):
        view = harness.record(task_id)
        assert view is not None and view["outcome"] == "succeeded"
    dlq = harness.stack.client("sqs").receive_message(
        QueueUrl=harness.stack.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in dlq) == sorted(["this is not json", '{"project_id": "p", "task_id": "../../etc"}'])
    reasons = [m["MessageAttributes"]["rejected_because"]["StringValue"] for m in dlq]
    assert any("instance_id: required" in r and "task_id: must match" in r for r in reasons)
    assert {r.path.rsplit("/", 1)[-1] for r in harness.apig.requests} == {"good1", "good2"}
    assert harness.source.log.failed_records == 0


# --- at-least-once delivery -----------------------------------------------------------------------------


def test_duplicate_deliveries_of_every_message_do_not_fork_store_or_notify_twice(harness: Harness) -> None:
    # Given an import that partially fails after three polls, and a queue that delivers every message twice
    harness.apig.script(
        "dup1",
        [ScriptedAnswer.waiting(), ScriptedAnswer.processing(), ScriptedAnswer.succeed(REPORT_PARTIAL)],
        task_type="import_api",
    )
    sqs = harness.stack.client("sqs")
    real_send = sqs.send_message

    def send_twice(**kwargs: Any) -> Any:
        real_send(**kwargs)
        return real_send(**kwargs)

    wiring.reset()
    watcher = wiring.watcher()
    watcher.queue._client = type("Twice", (), {"send_message": staticmethod(send_twice)})()  # type: ignore[attr-defined]
    harness.source._handler = lambda event, context: poller_app.lambda_handler(event, context, watcher=watcher)
    harness.send(poll_message("dup1"))
    harness.send(poll_message("dup1"))
    harness.run_until_finished("dup1")
    harness.drain(8)
    # Then APIG was polled once per attempt, one report was stored once, one notification went out
    assert harness.apig.calls("dup1") == 3
    assert harness.stack.object_versions() == 1
    notes = harness.stack.notifications(wait_seconds=1)
    assert [n["message"]["outcome"] for n in notes] == ["partial_failure"]
    assert harness.stack.queue_depth() == 0


def test_same_message_delivered_twice_in_one_batch_is_handled_once(harness: Harness) -> None:
    # Given one SQS message that the event source hands over twice in the same batch
    harness.apig.script(
        "dup2", [ScriptedAnswer.failed(error_code="APIG.3201", error_msg="exists")], task_type="import_api"
    )
    harness.send(poll_message("dup2"))
    message = harness.stack.client("sqs").receive_message(QueueUrl=harness.stack.queue_url, WaitTimeSeconds=1)[
        "Messages"
    ][0]
    record = harness.source._record(message)
    from taskwatch_local.event_source import LocalContext

    response = poller_app.lambda_handler({"Records": [record, dict(record)]}, LocalContext())
    # Then APIG was called once and one notification went out
    assert harness.apig.calls("dup2") == 1
    assert len(harness.stack.notifications(wait_seconds=1)) == 1
    assert response == {"batchItemFailures": []}


FAULTS = [
    ("records", "claim", False),
    ("records", "claim", True),
    ("queue", "send", False),
    ("queue", "send", True),
    ("store", "put", False),
    ("store", "put", True),
    ("records", "finish", False),
    ("records", "finish", True),
    ("notifier", "publish", False),
    ("notifier", "publish", True),
    ("records", "mark_notified", False),
    ("records", "mark_notified", True),
]


@pytest.mark.parametrize(
    ("port", "method", "after"), FAULTS, ids=[f"{p}.{m}-{'after' if a else 'before'}" for p, m, a in FAULTS]
)
def test_a_fault_in_each_aws_call_loses_nothing_and_duplicates_nothing(
    harness: Harness, port: str, method: str, after: bool
) -> None:
    # Given a partially failing import whose watch sees one AWS call fail (before or after it took effect)
    harness.apig.script(
        "flt1",
        [ScriptedAnswer.processing(), ScriptedAnswer.processing(), ScriptedAnswer.succeed(REPORT_PARTIAL)],
        task_type="import_api",
    )
    wiring.reset()
    watcher: Watcher = wiring.watcher()
    fail_on = {2} if (port, method) in (("records", "claim"), ("queue", "send")) else {1}
    setattr(watcher, port, Faulty(getattr(watcher, port), method, fail_on=fail_on, after=after))
    harness.source._handler = lambda event, context: poller_app.lambda_handler(event, context, watcher=watcher)
    # When the watch runs to its end
    harness.send(poll_message("flt1"))
    harness.run_until_finished("flt1", timeout=60)
    harness.drain(10)
    # Then the outcome is recorded, the report stored once and exactly one notification sent
    view = harness.record("flt1")
    assert view is not None and view["status"] == "partial_failure"
    assert harness.stack.object_versions() == 1
    notes = harness.stack.notifications(wait_seconds=1)
    if (port, method, after) == ("notifier", "publish", True):
        # SNS accepted the publish but its answer was lost: nobody can know it went out, so it is sent
        # again (at-least-once, as SNS itself is). The copy is identical, so subscribers can drop it.
        assert len(notes) == 2 and notes[0]["message"] == notes[1]["message"]
    else:
        assert [n["message"]["outcome"] for n in notes] == ["partial_failure"]
    assert harness.stack.queue_depth() == 0 and harness.stack.queue_depth(harness.stack.dlq_url) == 0
    assert getattr(watcher, port).calls >= 1


def test_a_persistent_aws_failure_lands_in_the_dlq_after_max_receive_count(make_harness: Any) -> None:
    harness = make_harness(StackSettings(**{**FAST.__dict__, "max_receive_count": 2, "visibility_timeout": 1}))
    harness.apig.script("dlq1", [ScriptedAnswer.processing()], task_type="import_api")
    wiring.reset()
    watcher = wiring.watcher()
    watcher.records = Faulty(watcher.records, "claim", fail_on=set(range(1, 100)))
    harness.source._handler = lambda event, context: poller_app.lambda_handler(event, context, watcher=watcher)
    harness.send(poll_message("dlq1"))
    sqs = harness.stack.client("sqs")
    assert harness.source.run_until(lambda: harness.stack.queue_depth(harness.stack.dlq_url) == 1, timeout=20)
    [dead] = sqs.receive_message(QueueUrl=harness.stack.dlq_url)["Messages"]
    assert json.loads(dead["Body"])["task_id"] == "dlq1"
    assert harness.apig.calls("dlq1") == 0
    # Powertools raises when every record of a batch failed; Lambda then retries the whole batch.
    assert harness.source.log.crashed_batches + harness.source.log.failed_records >= 2


# --- size and secrecy -----------------------------------------------------------------------------------


def test_a_20_mb_export_is_stored_intact(harness: Harness) -> None:
    paths = ",".join(f'"/pets/{i}": {{"get": {{"summary": "{"x" * 180}"}}}}' for i in range(100_000))
    big = '{"swagger": "2.0", "paths": {' + paths + "}}"
    assert len(big) > 20_000_000
    harness.apig.script("big1", [ScriptedAnswer.export_json(big, file_name="big")], task_type="export_api")
    harness.send(poll_message("big1"))
    harness.run_until_finished("big1", timeout=120)
    body = harness.stack.client("s3").get_object(Bucket=harness.stack.bucket, Key=key("big1", "big.json"))["Body"]
    assert body.read() == big.encode()


def test_secrets_never_appear_in_logs(
    harness: Harness, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given planted secrets: the Huawei SK, a security token, and a rotated-out SK
    harness.apig.set_temporary({"TMPAK": ("TMPSK-planted-secret", "SECTOKEN-planted-secret")})
    harness.stack.client("secretsmanager").put_secret_value(
        SecretId=harness.stack.huawei_secret_id,
        SecretString=json.dumps(
            {"ak": "TMPAK", "sk": "TMPSK-planted-secret", "security_token": "SECTOKEN-planted-secret"}
        ),
    )
    harness.apig.script(
        "sec1",
        [ScriptedAnswer.processing(), ScriptedAnswer.failed(error_code="APIG.3201", error_msg="nope")],
        task_type="import_api",
    )
    # INFO is what the functions run at (LOG_LEVEL); botocore's own DEBUG wire dumps would print any
    # response body, which is why nothing in the stack enables them.
    caplog.set_level(logging.INFO)
    structured = io.StringIO()
    handler = logging.StreamHandler(structured)
    handler.setFormatter(poller_app.logger.registered_formatter)
    powertools_logger = logging.getLogger(poller_app.logger.name)
    powertools_logger.addHandler(handler)
    # When a watch runs through polls and a failure notification
    try:
        harness.send(poll_message("sec1"))
        harness.run_until_finished("sec1")
    finally:
        powertools_logger.removeHandler(handler)
    notes = harness.stack.notifications(wait_seconds=1)
    # Then no log line, notification or status answer contains them
    captured = capsys.readouterr()
    logs = structured.getvalue()
    text = logs + captured.out + captured.err + caplog.text + json.dumps(notes) + json.dumps(harness.record("sec1"))
    assert "planted-secret" not in text and SK not in text
    lines = [json.loads(line) for line in logs.splitlines()]
    assert [line["task_id"] for line in lines if line["message"] == "task finished"] == ["sec1"]


def test_an_iam_token_secret_is_sent_as_x_auth_token(harness: Harness) -> None:
    # Given the secret holds an IAM token instead of AK/SK, and APIG accepts that token
    harness.apig.set_tokens({"MIIE-planted-iam-token"})
    harness.stack.client("secretsmanager").put_secret_value(
        SecretId=harness.stack.huawei_secret_id, SecretString=json.dumps({"token": "MIIE-planted-iam-token"})
    )
    harness.apig.script("tok1", [ScriptedAnswer.export_json(SWAGGER)], task_type="export_api")
    # When the task is watched
    harness.send(poll_message("tok1"))
    harness.run_until_finished("tok1")
    # Then APIG saw a token-authenticated request and the export landed
    view = harness.record("tok1")
    assert view is not None and view["outcome"] == "succeeded"
    [request] = [r for r in harness.apig.requests if r.task_id == "tok1"]
    assert request.status == 200 and "X-Auth-Token" in request.headers and "Authorization" not in request.headers


def test_an_import_with_thousands_of_failures_still_records_and_notifies(harness: Harness) -> None:
    # Given an import whose report lists 3,000 failures with long messages (over 6 MB of JSON)
    failures = [
        {"method": "GET", "path": f"/api/{i}", "error_code": "APIG.3201", "error_msg": "x" * 2000} for i in range(3000)
    ]
    harness.apig.script("huge1", [ScriptedAnswer.succeed({**REPORT_OK, "failure": failures})], task_type="import_api")
    harness.send(poll_message("huge1"))
    harness.run_until_finished("huge1")
    # Then the record and the notification carry the first 200 (within DynamoDB's and SNS's limits)
    [note] = harness.stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "partial_failure" and len(note["message"]["failures"]) == 200
    assert "3000 of 3001 APIs failed" in note["message"]["error_msg"]
    view = harness.record("huge1")
    assert view is not None and view["status"] == "partial_failure" and len(view["failures"]) == 200
    # And the import report in S3 keeps every failure
    report = json.loads(harness.stack.objects()[key("huge1", "import-report.json")])
    assert len(report["failure"]) == 3000
