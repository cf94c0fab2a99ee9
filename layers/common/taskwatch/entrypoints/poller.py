"""The poller's per-record work: validate the message, run one watcher step, log and measure it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from taskwatch.domain.errors import DependencyError, InvalidMessage
from taskwatch.domain.model import parse_poll_message
from taskwatch.domain.ports import DeadLetters
from taskwatch.domain.watcher import Step, Watcher


def process_record(
    record: Any,
    *,
    watcher: Watcher,
    dead_letters: DeadLetters,
    lease_seconds: float,
    logger: Logger,
    metrics: Metrics,
) -> None:
    """Handle one SQS record. Raising marks it failed in the batch response, so SQS redelivers it."""
    body: str = record.body
    try:
        message = parse_poll_message(body)
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
