"""WatchService: HTTP API (payload v2.0). POST /tasks starts a watch, GET /tasks/{task_id} answers its status."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from taskwatch import wiring
from taskwatch.domain.errors import DependencyError, InvalidMessage
from taskwatch.domain.limits import MAX_REQUEST_BYTES
from taskwatch.domain.signatures import AuthFailed
from taskwatch.domain.submissions import TaskUnknown, WatchConflict, WatchService
from taskwatch.entrypoints.http import BodyTooLarge, read_body, stage_of, status_url

logger = Logger(service="taskwatch-webhook")
metrics = Metrics(namespace="ApigTaskwatch", service="taskwatch-webhook")
app = APIGatewayHttpResolver()

_TASK_PATH = re.compile(r"/tasks/([^/]+)")
type ErrorHandler[E: Exception] = Callable[[E], Response[str]]


def handles[E: Exception](exc_class: type[E]) -> Callable[[ErrorHandler[E]], ErrorHandler[E]]:
    """`app.exception_handler`, typed."""

    def register(func: ErrorHandler[E]) -> ErrorHandler[E]:
        app.exception_handler(exc_class)(func)
        return func

    return register


def _service() -> WatchService:
    service: WatchService = app.context["service"]
    return service


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or {},
    )


def _body() -> bytes:
    event = app.current_event
    return read_body(event.body, is_base64=bool(event.is_base64_encoded))


@app.post("/tasks")
def submit() -> Response[str]:
    event = app.current_event
    submission = _service().submit(event.headers, _body())
    logger.append_keys(task_id=submission.task_id)
    logger.info(
        "watch submitted", new_watch=submission.created, enqueued=submission.enqueued, status=submission.status.value
    )
    metrics.add_metric(
        name="WatchesCreated" if submission.created else "DuplicateSubmissions", unit=MetricUnit.Count, value=1
    )
    context = event.request_context
    proto = event.headers.get("x-forwarded-proto", "https")
    url = status_url(
        context.domain_name,
        stage_of(event.raw_event.get("requestContext", {})),
        submission.task_id,
        scheme=proto if proto in ("http", "https") else "https",
    )
    return _answer(
        submission.http_status, {"task_id": submission.task_id, "status": submission.status.value, "status_url": url}
    )


@app.get("/tasks/<task_id>")
def status(task_id: str) -> Response[str]:
    record = _service().status(app.current_event.headers, task_id)
    metrics.add_metric(name="StatusReads", unit=MetricUnit.Count, value=1)
    return _answer(200, record.status_view())


@app.not_found
def unknown_route(_: NotFoundError) -> Response[str]:
    event = app.current_event
    path = event.path
    if path == "/tasks":
        return _answer(405, {"error": "method_not_allowed", "details": ["/tasks accepts POST"]}, {"Allow": "POST"})
    match = _TASK_PATH.fullmatch(path)
    if match:
        if event.http_method.upper() == "GET":
            # A task id with characters the route does not take: authenticate first, then say why it is wrong.
            return status(match.group(1))
        return _answer(
            405, {"error": "method_not_allowed", "details": ["/tasks/{task_id} accepts GET"]}, {"Allow": "GET"}
        )
    return _answer(404, {"error": "not_found", "details": ["no such route"]})


@handles(AuthFailed)
def unauthorized(failure: AuthFailed) -> Response[str]:
    # The reason class and scheme only: never headers, signatures or keys.
    logger.warning("request not authenticated", scheme=failure.scheme, reason=failure.reason.value)
    metrics.add_metric(name="AuthFailures", unit=MetricUnit.Count, value=1)
    return _answer(401, {"error": "unauthorized"})


@handles(InvalidMessage)
def invalid(error: InvalidMessage) -> Response[str]:
    logger.info("invalid request", details=error.details)
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
    return _answer(400, {"error": "invalid_request", "details": error.details})


@handles(WatchConflict)
def conflict(error: WatchConflict) -> Response[str]:
    logger.info("conflicting submission", details=error.details)
    metrics.add_metric(name="ConflictingSubmissions", unit=MetricUnit.Count, value=1)
    return _answer(409, {"error": "conflict", "details": error.details})


@handles(BodyTooLarge)
def too_large(_: BodyTooLarge) -> Response[str]:
    logger.info("request body too large")
    return _answer(413, {"error": "payload_too_large", "details": [f"body: at most {MAX_REQUEST_BYTES} bytes"]})


@handles(TaskUnknown)
def unknown_task(error: TaskUnknown) -> Response[str]:
    return _answer(404, {"error": "not_found", "details": [f"task_id: no watch is recorded for {error}"]})


@handles(DependencyError)
def unavailable(error: DependencyError) -> Response[str]:
    logger.exception("a dependency failed", error=str(error))
    return _answer(503, {"error": "unavailable", "details": ["try again shortly"]}, {"Retry-After": "5"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, service: WatchService | None = None
) -> dict[str, Any]:
    app.context["service"] = service or wiring.watch_service()
    return app.resolve(event, context)
