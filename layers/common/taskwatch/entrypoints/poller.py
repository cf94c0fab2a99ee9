"""The poller's per-record work: validate the message, run one watcher step, log and measure it."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from taskwatch.domain.callbacks import (
    CallbackDeliverer,
    CallbackMessage,
    CallbackStep,
    is_callback,
    parse_callback_message,
)
from taskwatch.domain.errors import DependencyError, InvalidMessage
from taskwatch.domain.model import parse_poll_message
from taskwatch.domain.ports import DeadLetters
from taskwatch.domain.watcher import Step, Watcher


def process_record(
    record: Any,
    *,
    watcher: Watcher,
    deliverer: CallbackDeliverer | None = None,
    dead_letters: DeadLetters,
    lease_seconds: float,
    logger: Logger,
    metrics: Metrics,
) -> None:
    """Handle one SQS record. Raising marks it failed in the batch response, so SQS redelivers it."""
    body: str = record.body
    decoded = _json_object(body)
    try:
        if is_callback(decoded):
            assert decoded is not None
            _deliver(record, parse_callback_message(decoded, now=time.time()), deliverer, dead_letters, logger, metrics)
            return
        message = parse_poll_message(decoded if decoded is not None else body)
    except InvalidMessage as exc:
        _refuse(record, exc, dead_letters=dead_letters, logger=logger, metrics=metrics)
        return

    logger.append_keys(task_id=message.task_id)
    try:
        try:
            result = watcher.handle(message, delivery_id=record.message_id, lease_seconds=lease_seconds)
        except InvalidMessage as exc:
            # Well-formed but not this watch's (another project, a forged time): nothing of the watch is touched.
            _refuse(record, exc, dead_letters=dead_letters, logger=logger, metrics=metrics)
            return
        except DependencyError as exc:
            # Expected now and then (throttling, an outage): SQS redelivers the record and the watch resumes.
            metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=1)
            logger.warning("poll failed, SQS will redeliver it", attempt=message.attempt + 1, error=str(exc))
            raise
        except Exception:
            metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=1)
            logger.exception("poll failed unexpectedly, SQS will redeliver it", attempt=message.attempt + 1)
            raise
        fields: dict[str, Any] = {"attempt": message.attempt + 1, "step": result.step.value}
        if result.step is Step.POLLING:
            metrics.add_metric(name="Polls", unit=MetricUnit.Count, value=1)
            logger.info("task still running", next_poll_in=result.delay_seconds, **fields)
        elif result.step is Step.FINISHED:
            assert result.outcome is not None
            metrics.add_metric(name="Polls", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name=f"Outcome_{result.outcome.value}", unit=MetricUnit.Count, value=1)
            if result.detection_lag is not None:
                metrics.add_metric(name="DetectionLag", unit=MetricUnit.Seconds, value=result.detection_lag)
            logger.info("task finished", outcome=result.outcome.value, **fields)
        elif result.step is Step.DUPLICATE:
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
            logger.info("duplicate delivery dropped", **fields)
        else:
            logger.info("redelivery deferred until the claim can be resumed", retry_in=result.delay_seconds, **fields)
    finally:
        logger.remove_keys(["task_id"])


def _refuse(record: Any, exc: InvalidMessage, *, dead_letters: DeadLetters, logger: Logger, metrics: Metrics) -> None:
    """An invalid message never reaches APIG and never blocks its batch: moved to the DLQ at once, with why."""
    moved = dead_letters.dead_letter(record.body, "; ".join(exc.details))
    logger.error(
        "invalid poll message",
        message_id=record.message_id,
        details=exc.details,
        disposition="dead-lettered" if moved else "dropped",
    )
    metrics.add_metric(name="InvalidMessages", unit=MetricUnit.Count, value=1)


def _json_object(body: str) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _deliver(
    record: Any,
    message: CallbackMessage,
    deliverer: CallbackDeliverer | None,
    dead_letters: DeadLetters,
    logger: Logger,
    metrics: Metrics,
) -> None:
    """One callback delivery. A failure to reach the receiver is the chain's business (a delayed retry);
    a failure of our own AWS calls is SQS's (the record is redelivered)."""
    if deliverer is None:
        raise InvalidMessage(["kind: callbacks are not handled here"])
    logger.append_keys(task_id=message.task_id)
    try:
        result = deliverer.handle(message, delivery_id=record.message_id)
        fields: dict[str, Any] = {"callback_attempt": message.attempt + 1, "step": result.step.value}
        if result.step is CallbackStep.DELIVERED:
            metrics.add_metric(name="CallbacksDelivered", unit=MetricUnit.Count, value=1)
            logger.info("callback delivered", http_status=result.status, **fields)
        elif result.step is CallbackStep.DUPLICATE:
            logger.info("duplicate callback delivery dropped", **fields)
        else:
            metrics.add_metric(name="CallbackFailures", unit=MetricUnit.Count, value=1)
            logger.warning("callback not delivered", error=result.error, retry_in=result.delay_seconds, **fields)
            if result.step is CallbackStep.FAILED:
                dead_letters.dead_letter(record.body, f"callback not delivered: {result.error}")
    finally:
        logger.remove_keys(["task_id"])
