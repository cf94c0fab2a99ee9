"""SNS adapter: outcome notifications (docs/contract.md, "Notifications")."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from taskwatch.adapters.aws import aws_call
from taskwatch.domain.notifications import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef


class SnsNotifier:
    def __init__(self, topic_arn: str, client: SNSClient) -> None:
        self._topic_arn = topic_arn
        self._client = client

    def publish(self, notification: Notification) -> str:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "outcome": {"DataType": "String", "StringValue": notification.outcome},
            "task_type": {"DataType": "String", "StringValue": notification.task_type},
        }
        if notification.drift:
            attributes["drift"] = {"DataType": "String", "StringValue": notification.drift}
        with aws_call("publishing the notification"):
            answer = self._client.publish(
                TopicArn=self._topic_arn,
                Subject=notification.subject,
                Message=json.dumps(notification.message, ensure_ascii=False, sort_keys=True),
                MessageAttributes=attributes,
            )
        return str(answer["MessageId"])
