"""The cold-start anchor: a minimal Powertools SQS batch handler with a pydantic record model.

It parses the same poll message the poller gets and does nothing else, so it is the floor a
Powertools + pydantic handler starts from.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field


class PollBody(BaseModel):
    project_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    instance_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    task_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    region: str | None = None
    expected_type: str | None = None
    max_wait_seconds: int | None = None


class PollRecord(SqsRecordModel):
    body: Json[PollBody]


processor = BatchProcessor(event_type=EventType.SQS, model=PollRecord)
seen: list[str] = []


def record_handler(record: PollRecord) -> None:
    seen.append(record.body.task_id)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
