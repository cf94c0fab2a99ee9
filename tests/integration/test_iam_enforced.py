"""The functions with exactly the permissions template.yaml gives them, on a moto server that enforces IAM.

A moto server of its own, in a child process (taskwatch_local/iam_enforced.py), never the shared stack's:
the stack is created during moto's unauthenticated allowance, each function's execution role is created
from the template (its inline policies, every !Ref / !GetAtt / !Sub replaced by the local resource's real
name or ARN) and assumed, then the allowance ends. The functions run in-process with their role's
temporary credentials in the environment, as Lambda gives them; the SQS event source and the observer
of the results use an administrator's keys, as Lambda's service and an operator would.

What moto's enforcement cannot evaluate, and how that is handled (nothing in the policies is weakened):

* Resources of DynamoDB, SNS and Secrets Manager requests: moto checks those against "*", which no
  ARN-scoped statement matches, so every such call would be denied. The child process gives moto the
  real resource (table, topic, secret ARN), so the template's scoping is evaluated as AWS would.
* Conditions in identity policies are ignored by moto: the kms:ViaService condition of the poller's
  KMS statement is not evaluated (nor needed: moto's SNS does not call KMS).
* The roles are assumed by an administrator during the allowance, not by lambda.amazonaws.com, whose
  service principal moto cannot evaluate in a trust policy.
* Resource policies (the queues' and bucket's TLS-only denies) are not created locally.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from apig_emulator import ApigEmulator, Step
from functions.poller import app as poller_app
from functions.webhook import app as webhook_app
from taskwatch import wiring
from taskwatch.adapters.dynamodb import DynamoTaskRecords
from taskwatch_local.ci import WebhookClient
from taskwatch_local.event_source import SqsEventSource
from taskwatch_local.http_api import LocalHttpApi
from taskwatch_local.iam_enforced import (
    administrator,
    assume,
    enforce,
    enforcing_aws_emulator,
    execution_role,
    stack_intrinsics,
)
from taskwatch_local.stack import TESTING_CREDENTIALS, AwsCredentials, LocalAws, create_stack
from taskwatch_local.template_resources import load_template, read_template_stack
from tests.integration.conftest import AK, FAST, INSTANCE_ID, SK, poll_message

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

REPORT_PARTIAL = {
    "success": [{"id": "a1", "method": "GET", "path": "/pets", "action": "create"}],
    "failure": [{"method": "POST", "path": "/pets", "error_code": "APIG.3201", "error_msg": "Backend address invalid"}],
    "group_id": "g1",
}


@dataclass(frozen=True)
class EnforcedStack:
    stack: LocalAws  # seen with the administrator's keys
    poller: AwsCredentials
    webhook: AwsCredentials

    def as_(self, credentials: AwsCredentials) -> LocalAws:
        return replace(self.stack, credentials=credentials)

    def records(self) -> DynamoTaskRecords:
        return DynamoTaskRecords(self.stack.table, self.stack.client("dynamodb"))


@pytest.fixture(scope="module")
def enforced() -> Iterator[EnforcedStack]:
    template, names = load_template(), read_template_stack()
    stack_name = f"taskwatch-iam-{uuid.uuid4().hex[:8]}"
    with enforcing_aws_emulator() as endpoint:
        stack = create_stack(
            endpoint,
            settings=FAST,
            huawei_credentials={"ak": AK, "sk": SK},
            name=stack_name,
            resource_names={
                "queue": names.queue,
                "dead_letter_queue": names.dead_letter_queue,
                "bucket": names.bucket,
                "topic": names.topic,
                "table": names.table,
                "huawei_secret": names.huawei_secret,
                "webhook_secret": names.webhook_secret,
            },
        )
        intrinsics = stack_intrinsics(template, names, stack, stack_name)
        poller = assume(stack, execution_role(template, names.poller, intrinsics), f"{stack_name}-poller")
        webhook = assume(stack, execution_role(template, names.webhook, intrinsics), f"{stack_name}-webhook")
        admin = administrator(stack)
        enforce(endpoint)
        yield EnforcedStack(replace(stack, credentials=admin), poller, webhook)
    wiring.reset()


@pytest.fixture
def clean(enforced: EnforcedStack) -> Iterator[EnforcedStack]:
    """Each test leaves the queues empty (moto allows one PurgeQueue a minute, as SQS does); the tests read
    messages with VisibilityTimeout=0 so that nothing they looked at is in flight here."""
    yield enforced
    sqs = enforced.stack.client("sqs")
    for url in (enforced.stack.queue_url, enforced.stack.dlq_url, enforced.stack.inbox_url):
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def run_as(
    monkeypatch: pytest.MonkeyPatch, stack: LocalAws, role: AwsCredentials, apig: ApigEmulator | None = None
) -> None:
    """The function's environment as Lambda sets it: the stack's settings and the role's credentials."""
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for key, value in stack.function_env(apig_endpoint=apig.url if apig else None, credentials=role).items():
        monkeypatch.setenv(key, value)
    wiring.reset()


def error_code(call: Callable[[], Any]) -> str:
    """The error's code, or "allowed". moto answers the IAM refusals of JSON-protocol services (SQS,
    DynamoDB, Secrets Manager) in XML, which botocore reports as code "403"; the code is in that body."""
    try:
        call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        found = re.search(r"<Code>(\w+)</Code>", str(error.get("Message", "")))
        return found.group(1) if found and error.get("Code") == "403" else str(error.get("Code", ""))
    return "allowed"


def event_source(stack: LocalAws) -> SqsEventSource:
    return SqsEventSource(
        stack.client("sqs"),
        stack.queue_url,
        poller_app.lambda_handler,
        batch_size=stack.settings.batch_size,
        function_timeout=stack.settings.function_timeout,
        wait_seconds=1,
    )


# --- enforcement is on -------------------------------------------------------------------------------------


def test_enforcement_is_on_and_each_role_is_held_to_its_own_resources(enforced: EnforcedStack) -> None:
    # Given the stack with IAM enforced
    poller, webhook = enforced.as_(enforced.poller), enforced.as_(enforced.webhook)
    key = f"exports/{INSTANCE_ID}/probe/swagger.json"
    # Then moto's test credentials are not an IAM principal any more
    sqs_testing = enforced.as_(TESTING_CREDENTIALS).client("sqs")
    assert error_code(sqs_testing.list_queues) == "InvalidClientTokenId"
    # And the webhook cannot write exports, and the poller cannot look queues up by name
    s3_webhook = webhook.client("s3")
    assert error_code(lambda: s3_webhook.put_object(Bucket=webhook.bucket, Key=key, Body=b"{}")) == "AccessDenied"
    dlq_name = enforced.stack.dlq_url.rsplit("/", 1)[1]
    assert error_code(lambda: poller.client("sqs").get_queue_url(QueueName=dlq_name)) == "AccessDenied"
    # And resources are scoped: the poller writes below the export prefix only, and reads its own secrets only
    # (the Huawei credentials, and the webhook key that signs outcome callbacks)
    s3_poller = poller.client("s3")
    assert error_code(lambda: s3_poller.put_object(Bucket=poller.bucket, Key=key, Body=b"{}")) == "allowed"
    assert error_code(lambda: s3_poller.put_object(Bucket=poller.bucket, Key="elsewhere", Body=b"{}")) == "AccessDenied"
    secrets_poller = poller.client("secretsmanager")
    assert error_code(lambda: secrets_poller.get_secret_value(SecretId=poller.huawei_secret_id)) == "allowed"
    assert error_code(lambda: secrets_poller.get_secret_value(SecretId=poller.webhook_secret_id)) == "allowed"
    assert error_code(lambda: s3_poller.get_object(Bucket=poller.bucket, Key="elsewhere")) == "AccessDenied"
    secrets_webhook = webhook.client("secretsmanager")
    assert error_code(lambda: secrets_webhook.get_secret_value(SecretId=webhook.huawei_secret_id)) == "AccessDenied"
    # And the webhook cannot publish notifications
    sns_webhook = webhook.client("sns")
    assert error_code(lambda: sns_webhook.publish(TopicArn=webhook.topic_arn, Message="{}")) == "AccessDenied"


# --- the poller --------------------------------------------------------------------------------------------


def test_the_poller_role_dead_letters_invalid_messages_at_once(
    clean: EnforcedStack, apig: ApigEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two messages that can never be valid on the poll queue
    stack = clean.stack
    sqs = stack.client("sqs")
    invalid = ["this is not json", json.dumps({"project_id": "p", "task_id": "../../etc"})]
    for body in invalid:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    # When the event source delivers them to the poller running with its role's credentials
    run_as(monkeypatch, stack, clean.poller, apig)
    source = event_source(stack)
    assert source.run_until(lambda: stack.queue_depth() == 0, timeout=10)
    # Then both are on the DLQ at once, with the reason, and no record failed or was retried
    dead = sqs.receive_message(
        QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(invalid)
    reasons = [m["MessageAttributes"]["rejected_because"]["StringValue"] for m in dead]
    assert any("instance_id: required" in r and "task_id: must match" in r for r in reasons)
    assert (source.log.records, source.log.failed_records, source.log.crashed_batches) == (2, 0, 0)
    assert apig.requests == []


def test_the_poller_role_follows_a_watch_to_its_end(
    clean: EnforcedStack, apig: ApigEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an import that is processing, then partly fails
    stack = clean.stack
    apig.script("iam1", [Step.processing(), Step.succeed(REPORT_PARTIAL)], task_type="import_api")
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(poll_message("iam1")))
    # When the poller follows it with its role's credentials: the Huawei secret, claims, a re-enqueue,
    # the report in S3, the outcome, the notification
    run_as(monkeypatch, stack, clean.poller, apig)
    source = event_source(stack)

    def finished() -> bool:
        record = clean.records().get("iam1")
        return record is not None and record.terminal and record.notified

    assert source.run_until(finished, timeout=30)
    # Then every step was allowed: the outcome is recorded, the report stored, the subscriber notified
    record = clean.records().get("iam1")
    assert record is not None and (record.status.value, record.attempts) == ("partial_failure", 2)
    report = f"exports/{INSTANCE_ID}/iam1/import-report.json"
    assert json.loads(stack.objects()[report]) == REPORT_PARTIAL
    [note] = stack.notifications(wait_seconds=1)
    assert note["message"]["outcome"] == "partial_failure"
    assert (source.log.failed_records, source.log.crashed_batches) == (0, 0)
    assert stack.queue_depth() == 0 and stack.queue_depth(stack.dlq_url) == 0


# --- the webhook -------------------------------------------------------------------------------------------


@pytest.fixture
def webhook(clean: EnforcedStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookClient]:
    run_as(monkeypatch, clean.stack, clean.webhook)
    api = LocalHttpApi(webhook_app.lambda_handler)
    api.start()
    try:
        yield WebhookClient(api.url, clean.stack.webhook_key)
    finally:
        api.stop()


def test_the_webhook_role_starts_a_watch_and_answers_its_status(clean: EnforcedStack, webhook: WebhookClient) -> None:
    # When CI posts a signed watch, posts it again, and reads its status, through the webhook with its role
    first = webhook.submit(poll_message("iam2", source={"pipeline": "p-7"}))
    again = webhook.submit(poll_message("iam2", source={"pipeline": "p-7"}))
    status = webhook.status("iam2")
    # Then every call was allowed: the watch is recorded and queued, and its status answered
    assert (first.status, first.body["status"]) == (202, "queued"), first
    assert (again.status, again.body["status"]) == (202, "queued"), again
    assert (status.status, status.body["task_id"], status.body["status"]) == (200, "iam2", "queued"), status
    record = clean.records().get("iam2")
    assert record is not None and record.source == {"pipeline": "p-7"}
    # (a record still queued is enqueued again on a repeated POST; the poller's claim drops the copy)
    sqs = clean.stack.client("sqs")
    queued = sqs.receive_message(
        QueueUrl=clean.stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
    )
    assert [json.loads(m["Body"])["task_id"] for m in queued["Messages"]] == ["iam2", "iam2"]
