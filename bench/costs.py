"""2. Requests and cost: every AWS request a poll and a whole task make, counted on the real handler's clients
and on the event-source stand-in's, with the task record's size for DynamoDB capacity units."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import sys
import time
import uuid
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.harness import ROOT, Local, new_stack, poll_body
from bench.stats import median


class RequestCounter:
    """Counts AWS API calls by (caller, service, operation) through botocore's event system."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.payload: Counter[tuple[str, str, str]] = Counter()  # 64 KB chunks for SQS billing

    def attach(self, client: Any, caller: str) -> None:
        def before_call(event_name: str, params: dict[str, Any], **kwargs: Any) -> None:
            service, operation = event_name.split(".")[1:3]
            key = (caller, service, operation)
            self.calls[key] += 1
            body = params.get("body") or b""
            size = len(body) if isinstance(body, bytes | str) else 0
            self.payload[key] += max(1, math.ceil(size / 65536))

        client.meta.events.register("before-call.*.*", before_call)

    def snapshot(self) -> Counter[tuple[str, str, str]]:
        return Counter(self.calls)


def require_function_calls(calls: Counter[tuple[str, str, str]]) -> Counter[tuple[str, str, str]]:
    """Not a timing check: with no handler requests counted the hooks missed its clients, and every cost
    figure would be wrong, so the bench stops instead of reporting them."""
    if not any(caller == "function" for caller, _, _ in calls):
        raise RuntimeError("no AWS requests counted for a steady poll: the request hooks are not attached")
    return calls


def load_handler(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class TaskCost:
    name: str
    polls: int
    invocations: list[Counter[tuple[str, str, str]]]
    durations: list[float]
    total: Counter[tuple[str, str, str]]
    chunks: Counter[tuple[str, str, str]]
    item_kb: int
    notifications: int
    log_bytes: int = 0  # what the poller's invocations printed (Powertools JSON logs and EMF metrics)
    task_type: str = ""


@dataclass
class WebhookCall:
    """One webhook invocation: its AWS requests, warm duration and log bytes."""

    calls: Counter[tuple[str, str, str]]
    duration_s: float
    log_bytes: int


@dataclass
class Costs:
    tasks: list[TaskCost]
    steady: Counter[tuple[str, str, str]]
    steady_duration_s: float
    item_kb: int
    steady_log_bytes: int = 0
    submission: WebhookCall | None = None  # POST /tasks (a new watch), warm
    status_read: WebhookCall | None = None  # GET /tasks/{task_id}, warm


@dataclass
class TaskRun:
    cost: TaskCost
    logs: list[int]  # log bytes of each poller invocation
    submission: WebhookCall
    read: WebhookCall


class ByteSink(io.TextIOBase):
    """A stdout that keeps nothing and counts the UTF-8 bytes written to it."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, text: str) -> int:
        self.count += len(text.encode("utf-8"))
        return len(text)

    def writable(self) -> bool:
        return True


def signed_webhook_event(key: str, task_id: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """An HTTP API v2 event for POST /tasks with `body`, or GET /tasks/{task_id} when `body` is None, signed with
    the Standard Webhooks key (a GET signs its path)."""
    from taskwatch.domain.signatures import STANDARD_HEADERS, sign_standard

    sample = "webhook_post_standard.json" if body is not None else "webhook_get_status.json"
    event: dict[str, Any] = json.loads((ROOT / "events" / sample).read_text())
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in STANDARD_HEADERS}
    if body is not None:
        raw = json.dumps(body, separators=(",", ":"))
        event["body"] = raw
        payload = raw.encode()
        headers["content-length"] = str(len(payload))
    else:
        path = f"/tasks/{task_id}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["pathParameters"] = {"task_id": task_id}
        payload = path.encode()
    signed = sign_standard(key, f"msg_{uuid.uuid4().hex}", int(time.time()), payload)
    headers.update({k.lower(): v for k, v in signed.items()})
    event["headers"] = headers
    return event


def dynamo_item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size rule (attribute names + values), close enough for capacity units."""

    def value_size(value: dict[str, Any]) -> int:
        ((kind, inner),) = value.items()
        if kind == "S":
            return len(str(inner).encode())
        if kind == "N":
            return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        return len(json.dumps(inner))

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@dataclass
class _Bench:
    """The handlers loaded once in this process, with every AWS request they make counted."""

    stack: Any
    apig: Any
    counter: RequestCounter
    sink: ByteSink
    poller: ModuleType
    webhook: ModuleType
    esm_sqs: Any  # the event-source stand-in's SQS client (Lambda's SQS poller, billed to the account too)

    def call_webhook(self, event: dict[str, Any], expect: int) -> WebhookCall:
        from taskwatch_local.event_source import LocalContext

        before, logged = self.counter.snapshot(), self.sink.count
        started = time.perf_counter()
        with redirect_stdout(self.sink):
            answer = self.webhook.lambda_handler(event, LocalContext(function_name="bench-webhook", timeout_seconds=10))
        duration = time.perf_counter() - started
        if answer.get("statusCode") != expect:
            raise RuntimeError(f"webhook answered {answer}, expected {expect}")
        return WebhookCall(self.counter.snapshot() - before, duration, self.sink.count - logged)

    def run_task(self, name: str, task_type: str, answers: list[Any]) -> TaskRun:
        """Submit through the webhook, poll to the end through the event-source stand-in, read the status."""
        from taskwatch.adapters.dynamodb import DynamoTaskRecords, task_key
        from taskwatch_local.event_source import SqsEventSource

        task_id = "cost" + uuid.uuid4().hex[:12]
        self.apig.script(task_id, answers, task_type=task_type)
        invocations: list[Counter[tuple[str, str, str]]] = []
        durations: list[float] = []
        logs: list[int] = []

        def handler(event: dict[str, Any], context: Any) -> Any:
            before, logged = self.counter.snapshot(), self.sink.count
            started = time.perf_counter()
            with redirect_stdout(self.sink):  # Powertools metrics print EMF lines
                answer = self.poller.lambda_handler(event, context)
            durations.append(time.perf_counter() - started)
            invocations.append(self.counter.snapshot() - before)
            logs.append(self.sink.count - logged)
            return answer

        source = SqsEventSource(
            self.esm_sqs, self.stack.queue_url, handler, batch_size=10, function_timeout=10.0, wait_seconds=0
        )
        # CI's submission goes through the webhook (counted apart from the poller's requests).
        body = poll_body(task_id, expected_type=task_type)
        submission = self.call_webhook(signed_webhook_event(self.stack.webhook_key, task_id, body), 202)
        start_calls, start_chunks = self.counter.snapshot(), Counter(self.counter.payload)
        records = DynamoTaskRecords(self.stack.table, self.stack.client("dynamodb"))

        def finished() -> bool:
            record = records.get(task_id)
            return record is not None and record.terminal

        if not source.run_until(finished, timeout=60):
            raise RuntimeError(f"cost scenario {name!r} did not finish")
        source.poll_once()  # the last batch's delete happens inside poll_once; nothing left to receive
        total, chunks = self.counter.snapshot() - start_calls, Counter(self.counter.payload) - start_chunks
        item = self.stack.client("dynamodb").get_item(TableName=self.stack.table, Key=task_key(task_id))["Item"]
        cost = TaskCost(
            name=name,
            polls=self.apig.calls(task_id),
            invocations=invocations,
            durations=durations,
            total=total,
            chunks=chunks,
            item_kb=math.ceil(dynamo_item_size(item) / 1024),
            notifications=len(self.stack.notifications()),
            log_bytes=sum(logs),
            task_type=task_type,
        )
        # A CI job waiting on the outcome reads the record (taskwatch wait: every 5 s by default).
        read = self.call_webhook(signed_webhook_event(self.stack.webhook_key, task_id, None), 200)
        return TaskRun(cost, logs, submission, read)


def bench_costs(local: Local) -> Costs:
    from apig_emulator import ScriptedAnswer
    from taskwatch import wiring
    from taskwatch.adapters import aws

    # Delays of 0 s run a whole chain in a couple of seconds; requests per poll do not depend on the delay.
    stack = new_stack(
        local, poll_min_delay_seconds=0, poll_max_delay_seconds=0, function_timeout=10.0, visibility_timeout=30
    )
    saved = dict(os.environ)
    os.environ.update(stack.function_env(apig_endpoint=local.apig.url))
    # The template's LOG_LEVEL, so the log bytes counted are production's; they go to a counting sink.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO"
    wiring.reset()
    sink = ByteSink()
    try:
        with redirect_stdout(sink):  # Powertools' Logger binds its handler to the stdout of its creation
            poller = load_handler("bench_poller_app", ROOT / "functions" / "poller" / "app.py")
            webhook = load_handler("bench_webhook_app", ROOT / "functions" / "webhook" / "app.py")
        counter = RequestCounter()
        for service in ("sqs", "dynamodb", "s3", "sns", "secretsmanager"):
            counter.attach(aws.client(service), "function")
        esm_sqs = stack.client("sqs")
        counter.attach(esm_sqs, "event source")
        bench = _Bench(stack, local.apig, counter, sink, poller, webhook, esm_sqs)
        swagger = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1"}, "paths": {}}'
        imported = ScriptedAnswer.import_report(success=[{"path": "/pets", "method": "GET", "action": "create"}])
        exported = ScriptedAnswer.export_json(swagger)
        failed = ScriptedAnswer.failed()
        scenarios = [
            ("export: 10 polls, stored in S3", "export_api", [ScriptedAnswer.processing()] * 9 + [exported]),
            ("import failed on poll 3, notified", "import_api", [ScriptedAnswer.processing()] * 2 + [failed]),
            ("import succeeded on poll 6, report stored", "import_api", [ScriptedAnswer.processing()] * 5 + [imported]),
        ]
        runs = [bench.run_task(*scenario) for scenario in scenarios]
        tasks = [run.cost for run in runs]
        export, export_logs = runs[0].cost, runs[0].logs
        steady_index = range(2, len(export.invocations) - 1)  # after the first poll (secret read), before the end
        steady = require_function_calls(export.invocations[len(export.invocations) // 2])
        steady_duration = median([export.durations[i] for i in steady_index])
        steady_logged = round(median([float(export_logs[i]) for i in steady_index]))
        # The submission and read of the last scenario: warm, with the webhook key already cached.
        return Costs(tasks, steady, steady_duration, export.item_kb, steady_logged, runs[-1].submission, runs[-1].read)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        wiring.reset()


@dataclass
class Inventory:
    """What template.yaml bills by the month whatever the traffic."""

    alarms: int
    alarm_metrics: int  # a metric-math alarm is billed per metric it reads
    dashboards: int
    dashboard_metrics: int
    custom_metrics: int  # ApigTaskwatch metrics (name + dimensions) the dashboard shows
    kms_keys: int
    secrets: int
    queues_polled: int  # queues a Lambda event source long-polls


def stack_inventory() -> Inventory:
    from taskwatch_local.template_resources import load_template

    resources = load_template()["Resources"].values()

    def of(kind: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in resources if r["Type"] == kind]

    alarms = of("AWS::CloudWatch::Alarm")
    alarm_metrics = sum(1 if "MetricName" in a else sum(1 for m in a["Metrics"] if "MetricStat" in m) for a in alarms)
    rows: set[str] = set()
    for dashboard in of("AWS::CloudWatch::Dashboard"):
        body = json.loads(re.sub(r"\$\{[A-Za-z0-9:.]+\}", "0", dashboard["DashboardBody"]["Fn::Sub"]))
        for widget in body["widgets"]:
            for row in widget["properties"].get("metrics", []):
                rows.add(json.dumps([part for part in row if not isinstance(part, dict)]))
    custom = {row for row in rows if json.loads(row)[0] == "ApigTaskwatch"}
    event_sources = [
        event
        for function in of("AWS::Serverless::Function")
        for event in function.get("Events", {}).values()
        if event["Type"] == "SQS"
    ]
    return Inventory(
        alarms=len(alarms),
        alarm_metrics=alarm_metrics,
        dashboards=len(of("AWS::CloudWatch::Dashboard")),
        dashboard_metrics=len(rows),
        custom_metrics=len(custom),
        kms_keys=len(of("AWS::KMS::Key")),
        secrets=len(of("AWS::SecretsManager::Secret")),
        queues_polled=len(event_sources),
    )
