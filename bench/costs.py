"""2. Requests and cost: every AWS request a poll and a whole task make, counted on the real handler's clients
and on the event-source stand-in's, with the task record's size for DynamoDB capacity units."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
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


@dataclass
class Costs:
    tasks: list[TaskCost]
    steady: Counter[tuple[str, str, str]]
    steady_duration_s: float
    item_kb: int


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


def bench_costs(local: Local) -> Costs:
    from apig_emulator import Step
    from taskwatch import wiring
    from taskwatch.adapters import aws
    from taskwatch.adapters.dynamodb import DynamoTaskRecords, task_key
    from taskwatch_local.event_source import SqsEventSource

    # Delays of 0 s run a whole chain in a couple of seconds; requests per poll do not depend on the delay.
    stack = new_stack(
        local, poll_min_delay_seconds=0, poll_max_delay_seconds=0, function_timeout=10.0, visibility_timeout=30
    )
    saved = dict(os.environ)
    os.environ.update(stack.function_env(apig_endpoint=local.apig.url))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    wiring.reset()
    try:
        poller = load_handler("bench_poller_app", ROOT / "functions" / "poller" / "app.py")
        counter = RequestCounter()
        for service in ("sqs", "dynamodb", "s3", "sns", "secretsmanager"):
            counter.attach(aws.client(service), "function")
        esm_sqs = stack.client("sqs")
        counter.attach(esm_sqs, "event source")
        records = DynamoTaskRecords(stack.table, stack.client("dynamodb"))
        swagger = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1"}, "paths": {}}'
        scenarios = [
            ("export: 10 polls, stored in S3", "export_api", [Step.processing()] * 9 + [Step.export_json(swagger)]),
            ("import failed on poll 3, notified", "import_api", [Step.waiting(), Step.processing(), Step.failed()]),
        ]
        tasks: list[TaskCost] = []
        for name, task_type, steps in scenarios:
            task_id = "cost" + uuid.uuid4().hex[:12]
            local.apig.script(task_id, steps, task_type=task_type)
            invocations: list[Counter[tuple[str, str, str]]] = []
            durations: list[float] = []

            def handler(event: dict[str, Any], context: Any) -> Any:
                before = counter.snapshot()
                started = time.perf_counter()
                with redirect_stdout(io.StringIO()):  # Powertools metrics print EMF lines
                    answer = poller.lambda_handler(event, context)
                # The lists of the task being run: the handler is only called while its task runs.
                durations.append(time.perf_counter() - started)  # noqa: B023
                invocations.append(counter.snapshot() - before)  # noqa: B023
                return answer

            source = SqsEventSource(
                esm_sqs, stack.queue_url, handler, batch_size=10, function_timeout=10.0, wait_seconds=0
            )
            start_calls, start_chunks = counter.snapshot(), Counter(counter.payload)
            # CI's submission (the webhook's SendMessage) is not part of the poller's cost.
            stack.client("sqs").send_message(
                QueueUrl=stack.queue_url, MessageBody=json.dumps(poll_body(task_id, expected_type=task_type))
            )

            def finished(task: str = task_id) -> bool:
                record = records.get(task)
                return record is not None and record.terminal

            if not source.run_until(finished, timeout=60):
                raise RuntimeError(f"cost scenario {name!r} did not finish")
            source.poll_once()  # the last batch's delete happens inside poll_once; nothing left to receive
            item = stack.client("dynamodb").get_item(TableName=stack.table, Key=task_key(task_id))["Item"]
            tasks.append(
                TaskCost(
                    name=name,
                    polls=local.apig.calls(task_id),
                    invocations=invocations,
                    durations=durations,
                    total=counter.snapshot() - start_calls,
                    chunks=Counter(counter.payload) - start_chunks,
                    item_kb=math.ceil(dynamo_item_size(item) / 1024),
                    notifications=len(stack.notifications()),
                )
            )
        export = tasks[0]
        steady_index = range(2, len(export.invocations) - 1)  # after the first poll (secret read), before the end
        steady = require_function_calls(export.invocations[len(export.invocations) // 2])
        steady_duration = median([export.durations[i] for i in steady_index])
        return Costs(tasks, steady, steady_duration, export.item_kb)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        wiring.reset()
