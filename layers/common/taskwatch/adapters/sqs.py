"""SQS adapter: poll messages (re-enqueue with a delay) and the dead-letter queue for poison messages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from taskwatch.adapters.aws import aws_call
from taskwatch.domain.ports import QueueMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsPollQueue:
    def __init__(self, queue_url: str, client: SQSClient) -> None:
        self._queue_url = queue_url
        self._client = client
        self._dead_letter_url: str | None = None
        self._dead_letter_known = False

    def send(self, message: QueueMessage, *, delay_seconds: int) -> str:
        with aws_call("enqueueing a poll or a callback"):
            answer = self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=message.to_json(),
                DelaySeconds=max(0, min(delay_seconds, 900)),
            )
        return str(answer["MessageId"])

    def dead_letter(self, body: str, reason: str) -> bool:
        """Move an invalid message to the queue's DLQ at once; False when the queue has none."""
        url = self._dlq_url()
        if url is None:
            return False
        with aws_call("dead-lettering an invalid message"):
            self._client.send_message(
                QueueUrl=url,
                MessageBody=body,
                MessageAttributes={"rejected_because": {"DataType": "String", "StringValue": reason[:1000]}},
            )
        return True

    def _dlq_url(self) -> str | None:
        """The DLQ named by the queue's redrive policy. SQS requires a DLQ in the queue's own account and
        region, so its URL is the queue's with the last segment swapped: no GetQueueUrl, which the
        poller's role (rightly) does not allow."""
        if not self._dead_letter_known:
            with aws_call("reading the queue's redrive policy"):
                attributes = self._client.get_queue_attributes(
                    QueueUrl=self._queue_url, AttributeNames=["RedrivePolicy"]
                ).get("Attributes", {})
            policy = attributes.get("RedrivePolicy")
            if policy:
                name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[1]
                self._dead_letter_url = self._queue_url.rsplit("/", 1)[0] + "/" + name
            self._dead_letter_known = True
        return self._dead_letter_url
