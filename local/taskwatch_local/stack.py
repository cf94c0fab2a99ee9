"""The stack on one machine: moto's server on 127.0.0.1 and the resources the functions use.

Everything is reached over real HTTP through boto3's own AWS_ENDPOINT_URL, exactly as the deployed
functions reach AWS; nothing in the handlers knows it is local. One gap between moto and AWS is closed
on purpose: DynamoDB's conditional writes are made atomic (see moto_atomic.py).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from taskwatch_local import moto_atomic

REGION = "us-east-1"
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass(frozen=True)
class StackSettings:
    """Queue and function settings that mirror template.yaml (the demo reads them from there)."""

    visibility_timeout: int = 20
    max_receive_count: int = 5
    batch_size: int = 10
    function_timeout: float = 3.0
    export_prefix: str = "exports/"
    poll_min_delay_seconds: int = 5
    poll_max_delay_seconds: int = 300
    poll_max_wait_seconds: int = 3600
    notify_on_success: bool = False


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """As Lambda sets them for the function's role; no AWS_SESSION_TOKEN for long-term keys."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


TESTING_CREDENTIALS = AwsCredentials(LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"], LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"])


@dataclass
class LocalAws:
    endpoint: str
    queue_url: str
    dlq_url: str
    bucket: str
    topic_arn: str
    table: str
    huawei_secret_id: str
    webhook_secret_id: str
    webhook_key: str = field(repr=False)
    inbox_url: str  # an SQS queue subscribed to the topic: what a subscriber would receive
    settings: StackSettings

    # Whose requests client() signs; moto's fixed test credentials unless IAM is enforced (iam_enforced.py).
    credentials: AwsCredentials = field(default_factory=lambda: TESTING_CREDENTIALS, repr=False)

    def client(self, service: str) -> Any:
        session: Any = boto3.session.Session(
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
            aws_session_token=self.credentials.session_token,
            region_name=REGION,
        )
        return session.client(service, endpoint_url=self.endpoint)

    def function_env(
        self, apig_endpoint: str | None = None, credentials: AwsCredentials | None = None
    ) -> dict[str, str]:
        """The contract's variables (docs/contract.md) for both functions, pointing at this stack; `credentials` are
        what Lambda puts in the environment from the function's execution role (default: moto's test ones)."""
        env = {
            **LOCAL_AWS_ENV,
            **(credentials or TESTING_CREDENTIALS).env(),
            "AWS_ENDPOINT_URL": self.endpoint,
            "TASK_QUEUE_URL": self.queue_url,
            "EXPORT_BUCKET": self.bucket,
            "EXPORT_PREFIX": self.settings.export_prefix,
            "NOTIFY_TOPIC_ARN": self.topic_arn,
            "NOTIFY_ON_SUCCESS": "true" if self.settings.notify_on_success else "false",
            "TASK_TABLE": self.table,
            "HUAWEI_CREDENTIALS_SECRET_ID": self.huawei_secret_id,
            "WEBHOOK_SECRET_ID": self.webhook_secret_id,
            "POLL_MIN_DELAY_SECONDS": str(self.settings.poll_min_delay_seconds),
            "POLL_MAX_DELAY_SECONDS": str(self.settings.poll_max_delay_seconds),
            "POLL_MAX_WAIT_SECONDS": str(self.settings.poll_max_wait_seconds),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "ApigTaskwatch",
        }
        if apig_endpoint:
            env["APIG_ENDPOINT"] = apig_endpoint
        return env

    # --- what a user can observe -------------------------------------------------------------------------

    def notifications(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Drain the subscriber inbox: each item has `subject`, `message` (parsed) and `attributes`."""
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for item in messages:
                envelope = json.loads(item["Body"])
                found.append(
                    {
                        "subject": envelope.get("Subject"),
                        "message": json.loads(envelope["Message"]),
                        "attributes": {k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()},
                    }
                )
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=item["ReceiptHandle"])
            wait_seconds = 0

    def objects(self) -> dict[str, bytes]:
        s3 = self.client("s3")
        listing = s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {item["Key"]: s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read() for item in listing}

    def object_versions(self) -> int:
        versions = self.client("s3").list_object_versions(Bucket=self.bucket).get("Versions", [])
        return len(versions)

    def queue_depth(self, url: str | None = None) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())


# The suffix of each resource's local name; template_resources can supply the template's logical ids instead.
DEFAULT_RESOURCE_NAMES = {
    "queue": "poll",
    "dead_letter_queue": "dlq",
    "bucket": "exports",
    "topic": "notify",
    "table": "tasks",
    "huawei_secret": "huawei",
    "webhook_secret": "webhook",
}


def new_webhook_key() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_stack(
    endpoint: str,
    *,
    settings: StackSettings | None = None,
    huawei_credentials: dict[str, str] | None = None,
    name: str | None = None,
    resource_names: Mapping[str, str] | None = None,
) -> LocalAws:
    """Create the stack's queue + DLQ, bucket, topic (+ inbox subscriber), table and secrets.

    Each resource is named `{name}-{suffix}`, the suffix from `resource_names` (keys as in
    DEFAULT_RESOURCE_NAMES) or the default.
    """
    settings = settings or StackSettings()
    name = name or f"taskwatch-{uuid.uuid4().hex[:8]}"
    suffix = {**DEFAULT_RESOURCE_NAMES, **(resource_names or {})}
    probe = LocalAws(endpoint, "", "", "", "", "", "", "", "", "", settings)
    sqs, s3, sns = probe.client("sqs"), probe.client("s3"), probe.client("sns")
    ddb, sm = probe.client("dynamodb"), probe.client("secretsmanager")

    dlq_url = sqs.create_queue(
        QueueName=f"{name}-{suffix['dead_letter_queue']}", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{name}-{suffix['queue']}",
        Attributes={
            "VisibilityTimeout": str(settings.visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive_count)}
            ),
        },
    )["QueueUrl"]

    bucket = f"{name}-{suffix['bucket']}".lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    topic_arn = sns.create_topic(Name=f"{name}-{suffix['topic']}")["TopicArn"]
    inbox_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)

    table = f"{name}-{suffix['table']}"
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})

    creds = huawei_credentials or {"ak": "LOCALAK" + secrets.token_hex(4).upper(), "sk": secrets.token_hex(20)}
    huawei_secret = sm.create_secret(Name=f"{name}/{suffix['huawei_secret']}", SecretString=json.dumps(creds))["ARN"]
    webhook_key = new_webhook_key()
    webhook_secret = sm.create_secret(Name=f"{name}/{suffix['webhook_secret']}", SecretString=webhook_key)["ARN"]

    return LocalAws(
        endpoint=endpoint,
        queue_url=queue_url,
        dlq_url=dlq_url,
        bucket=bucket,
        topic_arn=topic_arn,
        table=table,
        huawei_secret_id=huawei_secret,
        webhook_secret_id=webhook_secret,
        webhook_key=webhook_key,
        inbox_url=inbox_url,
        settings=settings,
    )


@contextmanager
def aws_emulator() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 (a free port), its DynamoDB requests atomic; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    moto_atomic.install()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns everything else
    for key, value in LOCAL_AWS_ENV.items():
        os.environ.setdefault(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
