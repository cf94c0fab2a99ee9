"""Poller: SQS batch consumer that polls APIG async tasks (partial batch responses)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskwatch import wiring
from taskwatch.domain.callbacks import CallbackDeliverer
from taskwatch.domain.watcher import Watcher
from taskwatch.entrypoints.poller import process_record

logger = Logger(service="taskwatch-poller")
metrics = Metrics(namespace="ApigTaskwatch", service="taskwatch-poller")
processor = BatchProcessor(event_type=EventType.SQS)

LEASE_MARGIN_SECONDS = 5.0
LEASE_CAP_SECONDS = 120.0


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    watcher: Watcher | None = None,
    deliverer: CallbackDeliverer | None = None,
) -> dict[str, Any]:
    active = watcher or wiring.watcher()
    callbacks = deliverer or wiring.deliverer()
    # A claim is held at most until this invocation is over; SQS's visibility timeout is longer.
    lease_seconds = min(context.get_remaining_time_in_millis() / 1000 + LEASE_MARGIN_SECONDS, LEASE_CAP_SECONDS)

    def record_handler(record: SQSRecord) -> None:
        process_record(
            record,
            watcher=active,
            deliverer=callbacks,
            dead_letters=wiring.poll_queue(),
            lease_seconds=lease_seconds,
            logger=logger,
            metrics=metrics,
        )

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
