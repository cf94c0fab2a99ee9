"""apig-taskwatch benchmarks: cold start, cost per poll, poll-schedule efficiency, memory, scale, size.

    python bench/run.py [--smoke] [--out BENCHMARKS.md]

Real figures (cold start, requests, memory) run the real handlers against the local emulators
(moto server + the APIG emulator, started once here); schedule and scale figures run in virtual time.
`--smoke` runs everything small and never fails on a timing, only on a crash.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import importlib.util
import io
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
AK, SK = "BENCHAKQTWAOYTTINDUT2", "benchskMFyfvK41ba2giqM7Uio6PznpdUKGpownR"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
INSTANCE_ID = "eddc4d25480b4cd6b512f270a1b8b341"
MB = 1024 * 1024

# --- public on-demand list prices, us-east-1 ------------------------------------------------------------
PRICES_SOURCE = (
    "aws.amazon.com/{sqs,lambda,dynamodb,s3,sns,secrets-manager,step-functions}/pricing, us-east-1 on-demand list "
    "prices as published in 2025 (taken from issue #6; not re-fetched at run time)"
)
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, per request (each 64 KB chunk of payload)
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_SECOND_ARM = 0.0000133334  # arm64, first pricing tier
LAMBDA_MEMORY_GB = 0.5
DDB_PER_WRU = 0.625 / 1e6  # on-demand write request unit (1 per KB written)
DDB_PER_RRU = 0.125 / 1e6  # on-demand read request unit (1 per 4 KB, strongly consistent)
S3_PER_PUT = 0.005 / 1000
SNS_PER_PUBLISH = 0.50 / 1e6
SFN_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard
SFN_TRANSITIONS_PER_POLL = 3  # job-poller pattern: Wait -> GetStatus (Task) -> Choice
ASSUMED_APIG_RTT = 0.150  # seconds a poll waits on APIG across clouds (assumption, not measured)


@dataclass
class Local:
    endpoint: str
    apig: Any  # apig_emulator.ApigEmulator


@contextmanager
def local_emulators() -> Iterator[Local]:
    from apig_emulator import ApigEmulator
    from taskwatch_local.stack import aws_emulator

    with aws_emulator() as endpoint, ApigEmulator(credentials={AK: SK}) as apig:
        yield Local(endpoint, apig)


def new_stack(local: Local, **settings: Any) -> Any:
    from taskwatch_local.stack import StackSettings, create_stack

    return create_stack(local.endpoint, settings=StackSettings(**settings), huawei_credentials={"ak": AK, "sk": SK})


def poll_body(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"project_id": PROJECT_ID, "instance_id": INSTANCE_ID, "task_id": task_id, **extra}


def sqs_event(body: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    now_ms = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench-" + uuid.uuid4().hex,
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now_ms,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        ]
    }


def webhook_event(key: str, task_id: str) -> dict[str, Any]:
    from taskwatch.webhook_auth import sign_github

    event: dict[str, Any] = json.loads((ROOT / "events" / "webhook_post_github.json").read_text())
    body = json.loads(event["body"])
    body["task_id"] = task_id
    raw = json.dumps(body, separators=(",", ":"))
    event["body"] = raw
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "x-hub-signature-256"}
    headers.update({k.lower(): v for k, v in sign_github(key, raw.encode()).items()})
    headers["content-length"] = str(len(raw.encode()))
    event["headers"] = headers
    return event


def queue_arn(stack: Any) -> str:
    attributes = stack.client("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


# --- fresh interpreters ---------------------------------------------------------------------------------


@dataclass
class ChildRun:
    wall_s: float
    rss_mb: float
    import_s: float
    handle_s: float
    answer: Any


def child_env(stack: Any, apig_url: str) -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**keep, **stack.function_env(apig_endpoint=apig_url), "POWERTOOLS_METRICS_NAMESPACE": "Bench"}


def run_child(kind: str, event: dict[str, Any], env: dict[str, str], workdir: Path) -> ChildRun:
    event_path = workdir / f"{uuid.uuid4().hex}.event.json"
    result_path = event_path.with_suffix(".result")
    event_path.write_text(json.dumps(event))
    with (workdir / "child.stderr").open("ab") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [PY, str(BENCH / "child.py"), kind, str(event_path), str(result_path)],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT,
        )
        _, status, _ = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = (workdir / "child.stderr").read_text()[-3000:]
        raise RuntimeError(f"{kind} child exited {process.returncode}:\n{tail}")
    result = json.loads(result_path.read_text())
    return ChildRun(wall, result["peak_rss_mb"], result["import_s"], result["handle_s"], result["answer"])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --- 1. cold start ----------------------------------------------------------------------------------------


@dataclass
class ColdStart:
    runs: dict[str, list[ChildRun]] = field(default_factory=dict)
    profile: list[tuple[int, int, str]] = field(default_factory=list)  # cumulative us, self us, module


def layer_at(ref: str, workdir: Path) -> Path:
    """The taskwatch package as it was at git `ref`, unpacked for PYTHONPATH (ahead of the editable install)."""
    target = workdir / "layer-at-ref"
    target.mkdir()
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", ref, "layers/common/taskwatch"], cwd=ROOT, capture_output=True, check=True  # noqa: S607
    ).stdout
    subprocess.run(["tar", "-x", "--strip-components=2", "-C", str(target)], input=archive, check=True)  # noqa: S603,S607
    return target


def bench_cold_start(local: Local, n: int, workdir: Path, compare_ref: str | None = None) -> ColdStart:
    stack = new_stack(local)
    env = child_env(stack, local.apig.url)
    arn = queue_arn(stack)
    from apig_emulator import Step

    kinds = ["poller", "anchor"]
    if (ROOT / "functions" / "webhook" / "app.py").exists():
        kinds.insert(1, "webhook")
    envs = {kind: env for kind in kinds}
    if compare_ref:
        kinds.insert(1, f"poller@{compare_ref}")
        envs[kinds[1]] = {**env, "PYTHONPATH": str(layer_at(compare_ref, workdir))}
    out = ColdStart({kind: [] for kind in kinds})
    for i in range(n + 1):  # the first round warms the OS file cache and is not counted
        for label in kinds:
            kind = label.split("@")[0]
            task_id = f"cold{i}{kind}{uuid.uuid4().hex[:8]}"
            local.apig.script(task_id, [Step.waiting()], task_type="export_api")
            event = webhook_event(stack.webhook_key, task_id) if kind == "webhook" else sqs_event(
                poll_body(task_id, expected_type="export_api"), arn)
            run = run_child(kind, event, envs[label], workdir)
            check_answer(kind, run.answer)
            if i > 0:
                out.runs[label].append(run)
    out.profile = import_profile(env)
    return out


def check_answer(kind: str, answer: Any) -> None:
    if kind == "webhook":
        if answer.get("statusCode") != 202:
            raise RuntimeError(f"webhook answered {answer}")
    elif answer.get("batchItemFailures"):
        raise RuntimeError(f"{kind} failed its record: {answer}")


def import_profile(env: dict[str, str]) -> list[tuple[int, int, str]]:
    code = (
        "import importlib.util, sys;"
        f"s = importlib.util.spec_from_file_location('poller_app', {str(ROOT / 'functions/poller/app.py')!r});"
        "m = importlib.util.module_from_spec(s); sys.modules['poller_app'] = m; s.loader.exec_module(m)"
    )
    done = subprocess.run(  # noqa: S603
        [PY, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|", 2))
        rows.append((int(cumulative), int(self_us), name))
    return sorted(rows, reverse=True)[:10]


# --- 2. requests and cost ---------------------------------------------------------------------------------


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
        (kind, inner), = value.items()
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
    from taskwatch import aws, runtime
    from taskwatch.dynamodb import DynamoTaskRecords, task_key
    from taskwatch_local.event_source import SqsEventSource

    # Delays of 0 s run a whole chain in a couple of seconds; requests per poll do not depend on the delay.
    stack = new_stack(local, poll_min_delay_seconds=0, poll_max_delay_seconds=0, function_timeout=10.0,
                      visibility_timeout=30)
    saved = dict(os.environ)
    os.environ.update(stack.function_env(apig_endpoint=local.apig.url))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    runtime.reset()
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
            ("export: 10 polls, stored in S3", "export_api",
             [Step.processing()] * 9 + [Step.export_json(swagger)]),
            ("import failed on poll 3, notified", "import_api",
             [Step.waiting(), Step.processing(), Step.failed()]),
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

            source = SqsEventSource(esm_sqs, stack.queue_url, handler, batch_size=10, function_timeout=10.0,
                                    wait_seconds=0)
            start_calls, start_chunks = counter.snapshot(), Counter(counter.payload)
            # CI's submission (the webhook's SendMessage) is not part of the poller's cost.
            stack.client("sqs").send_message(QueueUrl=stack.queue_url,
                                             MessageBody=json.dumps(poll_body(task_id, expected_type=task_type)))

            def finished(task: str = task_id) -> bool:
                record = records.get(task)
                return record is not None and record.terminal

            if not source.run_until(finished, timeout=60):
                raise RuntimeError(f"cost scenario {name!r} did not finish")
            source.poll_once()  # the last batch's delete happens inside poll_once; nothing left to receive
            item = stack.client("dynamodb").get_item(TableName=stack.table, Key=task_key(task_id))["Item"]
            tasks.append(TaskCost(
                name=name, polls=local.apig.calls(task_id), invocations=invocations, durations=durations,
                total=counter.snapshot() - start_calls, chunks=Counter(counter.payload) - start_chunks,
                item_kb=math.ceil(dynamo_item_size(item) / 1024), notifications=len(stack.notifications()),
            ))
        export = tasks[0]
        steady_index = range(2, len(export.invocations) - 1)  # after the first poll (secret read), before the end
        steady = require_function_calls(export.invocations[len(export.invocations) // 2])
        steady_duration = median([export.durations[i] for i in steady_index])
        return Costs(tasks, steady, steady_duration, export.item_kb)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        runtime.reset()


def price_of(calls: Counter[tuple[str, str, str]], item_kb: int) -> dict[str, float]:
    """Dollars for the given AWS calls, by service."""
    dollars: dict[str, float] = defaultdict(float)
    for (_, service, operation), count in calls.items():
        if service == "sqs":
            dollars["SQS"] += count * SQS_PER_REQUEST
        elif service == "dynamodb" and operation in ("UpdateItem", "PutItem", "DeleteItem"):
            dollars["DynamoDB"] += count * item_kb * DDB_PER_WRU
        elif service == "dynamodb":
            dollars["DynamoDB"] += count * math.ceil(item_kb / 4) * DDB_PER_RRU
        elif service == "s3" and operation in ("PutObject", "CopyObject", "ListObjectsV2"):
            dollars["S3"] += count * S3_PER_PUT
        elif service == "sns" and operation == "Publish":
            dollars["SNS"] += count * SNS_PER_PUBLISH
        elif service == "secretsmanager":
            dollars["Secrets Manager"] += count * 0.05 / 10000
    return dict(dollars)


def lambda_price(invocations: int, seconds: float) -> float:
    return invocations * LAMBDA_PER_REQUEST + seconds * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_ARM


# --- 3. poll schedule in virtual time ---------------------------------------------------------------------


Schedule = Callable[[int, float, Callable[[], float]], int | None]  # (attempt, elapsed, random) -> delay


def policy_schedule(max_wait: int) -> Schedule:
    from taskwatch.policy import PollPolicy

    policy = PollPolicy(max_wait=max_wait)

    def next_delay(attempt: int, elapsed: float, rnd: Callable[[], float]) -> int | None:
        return policy.delay_within_deadline(attempt, elapsed, 0.0, float(max_wait), rnd)

    return next_delay


def fixed_schedule(seconds: int) -> Schedule:
    return lambda attempt, elapsed, rnd: seconds


def watch(duration: float, schedule: Schedule, rnd: Callable[[], float]) -> tuple[float, int]:
    """(detection lag, APIG calls) for a task that finishes `duration` s after its first poll at 0."""
    now, attempt = 0.0, 1
    while now < duration:
        delay = schedule(attempt, now, rnd)
        if delay is None:
            return math.inf, attempt
        now += max(delay, 1)
        attempt += 1
    return now - duration, attempt


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


@dataclass
class BucketStats:
    low: float
    high: float
    n: int
    lag_p50: float
    lag_p95: float
    share_p50: float
    share_p95: float
    calls_mean: float
    calls_p95: float
    bound_p95: float  # p95 of lag / max(10 s, 10 % of the task's duration): the goal holds when <= 1


def bench_schedule(samples: int) -> dict[str, list[BucketStats]]:
    rng = random.Random(20260601)
    durations = [log_uniform(rng, 5, 3600) for _ in range(samples)]
    edges = [5 * (3600 / 5) ** (i / 6) for i in range(7)]
    policies = {
        "PollPolicy defaults (5/300 s)": policy_schedule(max_wait=7200),
        "fixed 10 s": fixed_schedule(10),
        "fixed 30 s": fixed_schedule(30),
    }
    result: dict[str, list[BucketStats]] = {}
    for name, schedule in policies.items():
        jitter = random.Random(7)
        observed = [(d, *watch(d, schedule, jitter.random)) for d in durations]
        buckets = []
        for low, high in itertools.pairwise(edges):
            rows = [(d, lag, calls) for d, lag, calls in observed if low <= d < high or (high == edges[-1] == d)]
            lags = [lag for _, lag, _ in rows]
            shares = [lag / d for d, lag, _ in rows]
            calls = [float(c) for _, _, c in rows]
            bound = [lag / lag_goal(d) for d, lag, _ in rows]
            buckets.append(BucketStats(low, high, len(rows), p(lags, .5), p(lags, .95), p(shares, .5),
                                       p(shares, .95), statistics.fmean(calls), p(calls, .95), p(bound, .95)))
        result[name] = buckets
    return result


def lag_goal(duration: float) -> float:
    return max(10.0, 0.1 * duration)


def calls_for(duration: float, schedule: Schedule, runs: int = 200) -> float:
    jitter = random.Random(11)
    return statistics.fmean(watch(duration, schedule, jitter.random)[1] for _ in range(runs))


# --- 5. scale in virtual time -----------------------------------------------------------------------------


@dataclass
class Scale:
    per_second: list[int]
    peak_after_minute: int
    mean_after_minute: float
    last_second: int
    polls: int
    lag_p50: float
    lag_p95: float
    backlog_wait_p95: float


def bench_scale(tasks: int, pollers: int, service_s: float) -> Scale:
    """Event-driven: SQS hands each visible message to the first free poller; a poll holds the poller
    for `service_s` and calls APIG once at its start; a running task goes back with the policy's delay."""
    from taskwatch.policy import PollPolicy

    policy = PollPolicy(max_wait=7200)
    rng, jitter = random.Random(5), random.Random(6)
    submitted = [rng.uniform(0, 60) for _ in range(tasks)]
    duration = [log_uniform(rng, 5, 3600) for _ in range(tasks)]
    # visible queue: (visible_at, seq, task, attempt, first_poll_at)
    ready: list[tuple[float, int, int, int, float]] = [(submitted[t], t, t, 1, math.nan) for t in range(tasks)]
    heapq.heapify(ready)
    free = [0.0] * pollers
    seq = tasks
    calls: Counter[int] = Counter()
    lags: list[float] = []
    waits: list[float] = []
    while ready:
        visible, _, task, attempt, first = heapq.heappop(ready)
        worker_free = heapq.heappop(free)
        start = max(visible, worker_free)
        waits.append(start - visible)
        first = start if math.isnan(first) else first
        calls[int(start)] += 1
        finish = start + service_s
        heapq.heappush(free, finish)
        done_at = submitted[task] + duration[task]
        if start >= done_at:
            lags.append(start - done_at)
            continue
        delay = policy.delay_within_deadline(attempt, start, first, first + policy.max_wait, jitter.random)
        if delay is None:
            continue
        seq += 1
        heapq.heappush(ready, (finish + delay, seq, task, attempt + 1, first))
    last = max(calls)
    series = [calls.get(s, 0) for s in range(last + 1)]
    after = series[60:] or [0]
    return Scale(series, max(after), statistics.fmean(after), last, sum(series), p(lags, .5), p(lags, .95),
                 p(waits, .95))


# --- 4. memory with large exports -------------------------------------------------------------------------


def swagger_of(size: int) -> str:
    head, tail = '{"swagger": "2.0", "info": {"title": "bench", "version": "1"}, "paths": {', "}}"
    parts, total, i = [head], len(head) + len(tail), 0
    while total < size:
        entry = (f'{"," if i else ""}"/pets/{i}": {{"get": {{"summary": "read pet {i}", '
                 f'"responses": {{"200": {{"description": "ok"}}}}}}}}')
        parts.append(entry)
        total += len(entry)
        i += 1
    parts.append(tail)
    return "".join(parts)


def bench_memory(local: Local, sizes_mb: list[int], repeats: int, workdir: Path) -> dict[int, list[ChildRun]]:
    from apig_emulator import Step

    stack = new_stack(local)
    env = child_env(stack, local.apig.url)
    arn = queue_arn(stack)
    out: dict[int, list[ChildRun]] = {}
    for size_mb in [0, *sizes_mb]:
        text = swagger_of(max(size_mb * MB, 200))
        out[size_mb] = []
        for _ in range(repeats):
            task_id = f"mem{size_mb}x{uuid.uuid4().hex[:8]}"
            local.apig.script(task_id, [Step.export_json(text)], task_type="export_api")
            run = run_child("poller", sqs_event(poll_body(task_id, expected_type="export_api"), arn), env, workdir)
            check_answer("poller", run.answer)
            out[size_mb].append(run)
            local.apig.script(task_id, [Step.waiting()])  # let the emulator drop the large answer
    return out


# --- 6. package size --------------------------------------------------------------------------------------

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


@dataclass
class PackageSize:
    source: str
    total_mb: float
    runtime_provided_mb: float
    top: list[tuple[str, float]]
    import_s: float


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_package(repeats: int, workdir: Path) -> PackageSize:
    built = ROOT / ".aws-sam" / "build" / "CommonLayer" / "python"
    if built.is_dir():
        directory, source = built, "`.aws-sam/build/CommonLayer` (sam build, arm64 wheels)"
    else:
        directory = workdir / "layer"
        done = subprocess.run(  # noqa: S603
            [PY, "-m", "pip", "install", "-q", "--target", str(directory), "-r",
             str(ROOT / "layers/common/requirements.txt")],
            capture_output=True, text=True, timeout=240, check=False,
        )
        if done.returncode != 0:
            return PackageSize(f"pip install failed: {done.stderr.strip()[-200:]}", math.nan, math.nan, [], math.nan)
        shutil.copytree(ROOT / "layers/common/taskwatch", directory / "taskwatch")
        source = "`pip install --target` of layers/common/requirements.txt (host wheels) + taskwatch"
    sizes: Counter[str] = Counter()
    for entry in directory.iterdir():
        name = entry.name
        if name.endswith((".dist-info", ".data")):
            name = name.split("-")[0].lower()
        sizes[name.removesuffix(".py")] += tree_size(entry)
    total = sum(sizes.values())
    provided = sum(sizes.get(name, 0) for name in RUNTIME_PROVIDED)
    top = [(name, size / MB) for name, size in sizes.most_common(10)]
    code = "import time; t = time.perf_counter(); import taskwatch.runtime; print(time.perf_counter() - t)"
    times = [float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True,  # noqa: S603
                                  cwd=ROOT).stdout) for _ in range(repeats)]
    return PackageSize(source, total / MB, provided / MB, top, median(times))


# --- report -----------------------------------------------------------------------------------------------


def plot(schedule: dict[str, list[BucketStats]], scale: Scale, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lag_ax, calls_ax, rate_ax) = plt.subplots(1, 3, figsize=(17, 4.8))
    mids = [math.sqrt(b.low * b.high) for b in next(iter(schedule.values()))]
    for name, buckets in schedule.items():
        lag_ax.plot(mids, [b.bound_p95 for b in buckets], marker="o", label=name)
        calls_ax.plot(mids, [b.calls_mean for b in buckets], marker="o", label=name)
    lag_ax.axhline(1.0, linestyle="--", color="grey", label="goal: lag <= max(10 s, 10 % of duration)")
    for ax, title, label in ((lag_ax, "p95 of detection lag / max(10 s, 10 % of duration)", "ratio"),
                             (calls_ax, "APIG calls per task (mean)", "calls")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("task duration (s), bucket middle")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    rate_ax.plot(range(len(scale.per_second)), scale.per_second, linewidth=0.6)
    rate_ax.axhline(scale.mean_after_minute, color="grey", linestyle="--", label="mean after 1st minute")
    rate_ax.set_xlabel("time (s)")
    rate_ax.set_ylabel("APIG requests / s")
    rate_ax.set_title("10,000 tasks, 5 pollers: APIG request rate")
    rate_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def fmt_calls(calls: Counter[tuple[str, str, str]]) -> str:
    return ", ".join(f"{service}.{op} x{n}" for (_, service, op), n in sorted(calls.items()) if n) or "none"


def by_api(calls: Counter[tuple[str, str, str]], caller: str | None = None) -> Counter[tuple[str, str, str]]:
    merged: Counter[tuple[str, str, str]] = Counter()
    for (who, service, op), n in calls.items():
        if caller is None or who == caller:
            merged[("", service, op)] += n
    return merged


@dataclass
class Results:
    smoke: bool
    command: str
    started: str
    elapsed_s: float = 0.0
    cold: ColdStart | None = None
    costs: Costs | None = None
    schedule: dict[str, list[BucketStats]] = field(default_factory=dict)
    calls_60min: dict[str, float] = field(default_factory=dict)
    memory: dict[int, list[ChildRun]] = field(default_factory=dict)
    scale: Scale | None = None
    scale_sweep: dict[int, Scale] = field(default_factory=dict)
    scale_service_s: float = ASSUMED_APIG_RTT
    package: PackageSize | None = None
    plot_path: str = ""


def report(r: Results) -> str:  # noqa: PLR0915 - one page, written top to bottom
    lines: list[str] = []
    add = lines.append
    add("# Benchmarks" + (" (smoke run: small samples, not for quoting)" if r.smoke else ""))
    add("")
    add(f"- command: `{r.command}` (took {r.elapsed_s:.0f} s)")
    add(f"- date: {r.started}")
    add(f"- machine: `{platform.machine()}`, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}")
    add("- machines are shared and noisy: figures are medians, and every ratio compares runs made side by side "
        "in the same run, interleaved.")
    add("- local emulators: moto server (SQS, S3, SNS, DynamoDB, Secrets Manager) and the project's APIG emulator, "
        "both on 127.0.0.1, started once by the bench; network latency to real AWS/Huawei is not in these numbers.")
    add("")

    summary: list[str] = []
    if r.cold:
        add("## 1. Cold start")
        add("")
        n = len(next(iter(r.cold.runs.values())))
        add(f"Fresh interpreter per run (median of {n}, after one uncounted warm-up round; handlers interleaved): "
            "import the handler file and handle one first event against the local stack. *Process* is the "
            "wall time from spawn to exit, *peak RSS* the child's own high-water mark (`VmHWM` in "
            "/proc/self/status, read just before exit; `ru_maxrss` from wait4 would carry the bench's own RSS, "
            "which Linux keeps across fork + exec). The poller's event is "
            "one SQS record for a running task (a steady first poll: secret read, claim write, signed APIG GET, "
            "re-enqueue); the webhook's a GitHub-signed `POST /tasks`; the anchor is `bench/anchor.py`, a "
            "minimal Powertools `BatchProcessor(event_type=SQS, model=SqsRecordModel subclass with a pydantic "
            "Json body)` + `process_partial_response` handling the same SQS event (parsing only, no AWS calls).")
        add("")
        add("| handler | process (ms) | import (ms) | first event (ms) | peak RSS (MB) | process / anchor "
            "| RSS / anchor |")
        add("|---|---|---|---|---|---|---|")
        anchor = r.cold.runs["anchor"]
        a_wall, a_rss = median([x.wall_s for x in anchor]), median([x.rss_mb for x in anchor])
        for kind, runs in r.cold.runs.items():
            wall, rss = median([x.wall_s for x in runs]), median([x.rss_mb for x in runs])
            add(f"| {kind} | {wall * 1000:.0f} | {median([x.import_s for x in runs]) * 1000:.0f} | "
                f"{median([x.handle_s for x in runs]) * 1000:.0f} | {rss:.1f} | {wall / a_wall:.2f} | "
                f"{rss / a_rss:.2f} |")
        poller = r.cold.runs["poller"]
        ratio = median([x.wall_s for x in poller]) / a_wall
        per_pair = median([x.wall_s / y.wall_s for x, y in zip(poller, anchor, strict=False)])
        add("")
        add(f"Poller / anchor process time: **{ratio:.2f}** (median of per-round ratios: {per_pair:.2f}); goal <= 1.0: "
            f"{verdict(ratio <= 1.0)}.")
        import_ratio = median([x.import_s for x in poller]) / median([x.import_s for x in anchor])
        xray = next((c for c, _, name in r.cold.profile if name.strip() == "aws_xray_sdk.core"), 0) / 1000
        add(f"Import alone: poller / anchor = {import_ratio:.2f}. The anchor does no I/O, while the poller's first "
            "event creates three boto3 clients (Secrets Manager, DynamoDB, SQS) and makes four network calls; "
            f"Powertools' Tracer (the template sets `Tracing: Active`) imports the X-Ray SDK "
            f"({xray:.0f} ms cumulative below) and builds its sampling client. What a ratio <= 1.0 would take: "
            "no Tracer (or X-Ray only when sampled), the Huawei signer and boto3 loaded by the anchor's budget, "
            "i.e. a handler that is not doing the poller's job; that is not a sound trade for a poller whose "
            "cold starts are rare (one per execution environment, kept warm by polls every few seconds). "
            "Measured and kept instead: one boto3 session for all clients and S3/SNS clients created on first "
            "use (see *Code changes*).")
        summary.append(f"cold start poller/anchor = {ratio:.2f} (import only {import_ratio:.2f}; goal <= 1.0: "
                       f"{verdict(ratio <= 1.0)})")
        add("")
        add("Import-time profile of the poller (`python -X importtime`, top 10 by cumulative time, one run; "
            "nested modules are included in their parents' cumulative figure):")
        add("")
        add("| cumulative (ms) | self (ms) | module |")
        add("|---|---|---|")
        for cumulative, self_us, name in r.cold.profile:
            add(f"| {cumulative / 1000:.1f} | {self_us / 1000:.1f} | `{name.strip()}` |")
        add("")

    if r.costs:
        c = r.costs
        add("## 2. Cost per poll and per task")
        add("")
        add("AWS requests counted with `client.meta.events.register('before-call.*.*', ...)` on the handler's own "
            "boto3 clients (*function*) and on the SQS client of the event-source stand-in (*event source*: "
            "Lambda's SQS poller, whose ReceiveMessage/DeleteMessageBatch calls are billed to the account too). "
            "Delays were set to 0 s so a chain runs in seconds; the requests per poll do not depend on the delay.")
        add("")
        add(f"Prices ({PRICES_SOURCE}): SQS "
            f"${SQS_PER_REQUEST * 1e6:.2f}/M requests (per 64 KB chunk); Lambda ${LAMBDA_PER_REQUEST * 1e6:.2f}/M "
            f"requests + ${LAMBDA_PER_GB_SECOND_ARM}/GB-s (arm64) at {LAMBDA_MEMORY_GB * 1024:.0f} MB; DynamoDB "
            f"on-demand ${DDB_PER_WRU * 1e6:.3f}/M WRU (1 WRU per KB of item), ${DDB_PER_RRU * 1e6:.3f}/M RRU; "
            f"S3 PUT ${S3_PER_PUT * 1000:.3f}/1000; SNS ${SNS_PER_PUBLISH * 1e6:.2f}/M publishes; Secrets Manager "
            "$0.05/10,000 calls; Step Functions Standard $0.025/1000 state transitions.")
        add("")
        add("**One steady poll** (a running task, not the first poll of the environment):")
        add("")
        function_calls = by_api(c.steady)
        add(f"- function: {fmt_calls(function_calls)}")
        add("- event source, per poll: sqs.ReceiveMessage x1 + sqs.DeleteMessageBatch x1 (delayed messages "
            "arrive one by one, so a batch usually holds one record; larger batches only lower this)")
        add(f"- task record: {c.item_kb} KB -> {c.item_kb} WRU per conditional write")
        esm: Counter[tuple[str, str, str]] = Counter({("", "sqs", "ReceiveMessage"): 1,
                                                      ("", "sqs", "DeleteMessageBatch"): 1})
        aws_dollars = price_of(function_calls + esm, c.item_kb)
        measured = lambda_price(1, c.steady_duration_s)
        with_rtt = lambda_price(1, c.steady_duration_s + ASSUMED_APIG_RTT)
        sfn = SFN_TRANSITIONS_PER_POLL * SFN_PER_TRANSITION
        add("")
        add("| $ per million polls | measured local duration "
            f"({c.steady_duration_s * 1000:.0f} ms) | + {ASSUMED_APIG_RTT * 1000:.0f} ms assumed APIG round trip |")
        add("|---|---|---|")
        for service, dollars in sorted(aws_dollars.items()):
            add(f"| {service} | {dollars * 1e6:.2f} | {dollars * 1e6:.2f} |")
        add(f"| Lambda (request + GB-s) | {measured * 1e6:.2f} | {with_rtt * 1e6:.2f} |")
        ours, ours_rtt = sum(aws_dollars.values()) + measured, sum(aws_dollars.values()) + with_rtt
        add(f"| **total** | **{ours * 1e6:.2f}** | **{ours_rtt * 1e6:.2f}** |")
        add(f"| Step Functions Standard job poller ({SFN_TRANSITIONS_PER_POLL} transitions/poll, transitions only) "
            f"| {sfn * 1e6:.2f} | {sfn * 1e6:.2f} |")
        add(f"| ratio Step Functions / ours | {sfn / ours:.1f}x | {sfn / ours_rtt:.1f}x |")
        goal = ours_rtt <= sfn / 20
        add("")
        add(f"Goal <= 1/20 of Step Functions per poll (${sfn / 20 * 1e6:.2f}/M): {verdict(goal)} with the assumed "
            f"APIG round trip (${ours_rtt * 1e6:.2f}/M), {verdict(ours <= sfn / 20)} at the local duration "
            f"(${ours * 1e6:.2f}/M). The Lambda duration is the lever: every 100 ms more of APIG latency adds "
            f"${lambda_price(0, 0.1) * 1e6:.2f}/M; SQS (3 requests) and the claim write are fixed.")
        summary.append(f"cost per poll ${ours_rtt * 1e6:.2f}/M (with {ASSUMED_APIG_RTT * 1000:.0f} ms APIG) vs "
                       f"Step Functions ${sfn * 1e6:.0f}/M = 1/{sfn / ours_rtt:.0f} (goal <= 1/20: {verdict(goal)})")
        add("")
        add("**Whole tasks** (measured end to end through the event-source stand-in):")
        add("")
        add("| task | APIG polls | Lambda invocations | function requests | event-source requests | notifications "
            "| $ per million tasks (+ APIG RTT) |")
        add("|---|---|---|---|---|---|---|")
        for task in c.tasks:
            fn = by_api(task.total, "function")
            es = by_api(task.total, "event source")
            seconds = sum(task.durations) + ASSUMED_APIG_RTT * task.polls
            dollars = sum(price_of(fn + es, task.item_kb).values()) + lambda_price(len(task.invocations), seconds)
            add(f"| {task.name} | {task.polls} | {len(task.invocations)} | {fmt_calls(fn)} | {fmt_calls(es)} | "
                f"{task.notifications} | {dollars * 1e6:.2f} |")
        add("")
        add("The first poll of a fresh execution environment also reads the Huawei secret "
            "(secretsmanager.GetSecretValue, cached while warm). Lambda's SQS poller also long-polls an empty "
            "queue: about 5 ReceiveMessage calls per 20 s while idle (~0.65 M requests, ~$0.26 a month), a "
            "fixed cost independent of the number of polls.")
        add("")

    if r.schedule:
        add("## 3. Poll-schedule efficiency (virtual time)")
        add("")
        n = sum(b.n for b in next(iter(r.schedule.values())))
        add(f"{n} task durations, log-uniform between 5 s and 60 min (seeded); the first poll is at 0 (the watch "
            "starts with the task), then each policy's delays; a task is *detected* by the first poll at or after "
            "it finishes. *Lag* = detection time - finish time; *share* = lag / duration; *calls* = APIG GETs for "
            "the task. PollPolicy uses the defaults (min 5 s, max 300 s) with max_wait 7200 s so 60-min tasks "
            "fit, and its own jitter (seeded). No sleeping: `PollPolicy.delay_within_deadline` is called directly.")
        add("")
        add("| duration bucket (s) | n | policy | lag p50 (s) | lag p95 (s) | share p50 | share p95 | calls mean "
            "| p95 of lag / max(10 s, 10 %) | goal |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        policy_name = next(iter(r.schedule))
        all_met = True
        for index in range(len(r.schedule[policy_name])):
            for name, buckets in r.schedule.items():
                b = buckets[index]
                ok = b.bound_p95 <= 1.0
                if name == policy_name:
                    all_met = all_met and ok
                add(f"| {b.low:.0f}-{b.high:.0f} | {b.n} | {name} | {b.lag_p50:.1f} | {b.lag_p95:.1f} | "
                    f"{b.share_p50:.1%} | {b.share_p95:.1%} | {b.calls_mean:.1f} | {b.bound_p95:.2f} | "
                    f"{'yes' if ok else 'no'} |")
        add("")
        add("The goal is read per task: each task's lag is divided by its own bound max(10 s, 10 % of its "
            "duration), and the bucket meets the goal when the 95th percentile of that ratio is <= 1.")
        add("")
        c60 = r.calls_60min
        policy_calls, fixed30 = c60[policy_name], c60["fixed 30 s"]
        listed = ", ".join(f"{k}: {v:.1f}" for k, v in c60.items())
        add(f"APIG calls for a 60-min task (mean of 200 jittered runs): {listed}. Policy / fixed 30 s = "
            f"{policy_calls / fixed30:.2f}; goal <= 0.5: {verdict(policy_calls <= fixed30 / 2)}.")
        add(f"p95 lag goal in every bucket for PollPolicy: {verdict(all_met)}.")
        summary.append(f"schedule: p95 lag within max(10 s, 10 %) in every bucket: {verdict(all_met)}; 60-min task "
                       f"calls {policy_calls:.0f} vs fixed-30 s {fixed30:.0f} (goal <= half: "
                       f"{verdict(policy_calls <= fixed30 / 2)})")
        add("")
        add(f"![poll schedule and scale]({r.plot_path})")
        add("")

    if r.memory:
        add("## 4. Memory with large exports")
        add("")
        base_runs = r.memory[0]
        base = median([x.rss_mb for x in base_runs])
        add("A fresh poller process handles one poll that finds an export finished (APIG answers the whole swagger "
            "inside `task_result`, the poller stores it in S3). Peak RSS = the child's `VmHWM`, median of "
            f"{len(base_runs)} runs; baseline = the same path with a ~200-byte export.")
        add("")
        add("| export | peak RSS (MB) | over baseline (MB) | over / export size | goal <= baseline + 3x "
            "| fits 512 MB |")
        add("|---|---|---|---|---|---|")
        add(f"| tiny (baseline) | {base:.1f} | - | - | - | {'yes' if base < 512 else 'no'} |")
        memory_ok = True
        for size, runs in r.memory.items():
            if size == 0:
                continue
            rss = median([x.rss_mb for x in runs])
            over = rss - base
            ok = over <= 3 * size
            memory_ok = memory_ok and ok and rss < 512
            add(f"| {size} MB | {rss:.1f} | {over:.1f} | {over / size:.2f}x | {'yes' if ok else 'no'} | "
                f"{'yes' if rss < 512 else 'no'} |")
        add("")
        largest = max(r.memory)
        summary.append(f"memory up to {largest} MB export: {verdict(memory_ok)} "
                       f"(peak {median([x.rss_mb for x in r.memory[largest]]):.0f} MB, baseline {base:.0f} MB)")

    if r.scale:
        s = r.scale
        add("## 5. Scale (virtual time)")
        add("")
        add(f"10,000 tasks submitted uniformly within the first minute, durations log-uniform 5 s - 60 min, at most "
            f"5 concurrent pollers (the event source's maximum concurrency), each poll holding a poller for "
            f"{r.scale_service_s * 1000:.0f} ms (**assumed**: the local steady poll measured "
            f"{(r.costs.steady_duration_s * 1000 if r.costs else math.nan):.0f} ms without real network latency; "
            "a cross-cloud APIG round trip dominates in production). Event-driven simulation (heapq): a visible "
            "message goes to the first free poller, the APIG call happens at the start of the poll, a running task "
            "goes back with PollPolicy's delay.")
        add("")
        ok = s.peak_after_minute <= 2 * s.mean_after_minute
        add(f"- APIG requests/s after the first minute (1-s buckets, until the last poll at {s.last_second} s): "
            f"peak **{s.peak_after_minute}**, mean **{s.mean_after_minute:.1f}**, peak/mean "
            f"{s.peak_after_minute / s.mean_after_minute:.2f}; goal peak <= 2x mean: {verdict(ok)}.")
        add(f"- first minute: peak {max(s.per_second[:60])}/s; the pollers' ceiling is "
            f"{5 / r.scale_service_s:.1f} polls/s.")
        add(f"- {s.polls} polls in all; detection lag p50 {s.lag_p50:.1f} s, p95 {s.lag_p95:.1f} s; "
            f"p95 wait of a visible message for a free poller {s.backlog_wait_p95:.1f} s.")
        add("")
        if not ok:
            add("Why and what it would take: the burst's first polls (10,000 in a minute) keep every poller busy "
                "long after the first minute, so the peak *is* the concurrency ceiling, while the hour's mean is "
                "set by the long tasks' sparse polls. Peak <= 2x mean needs a ceiling <= 2x that mean: 2 pollers "
                "at this service time (table below), which trades it for a much longer detection lag. The ceiling "
                "is what protects APIG (a fixed, known request rate), so the limit works as designed; the sound "
                "lever for lag is more pollers, not a smoother peak.")
            add("")
        add("The same burst with other concurrency limits (same seeds):")
        add("")
        add("| pollers | ceiling (polls/s) | peak after 1st min | mean after 1st min | peak / mean | lag p95 (s) "
            "| last poll (s) |")
        add("|---|---|---|---|---|---|---|")
        for pollers, run in r.scale_sweep.items():
            add(f"| {pollers} | {pollers / r.scale_service_s:.1f} | {run.peak_after_minute} | "
                f"{run.mean_after_minute:.1f} | {run.peak_after_minute / run.mean_after_minute:.2f} | "
                f"{run.lag_p95:.1f} | {run.last_second} |")
        add("")
        summary.append(f"scale: APIG peak {s.peak_after_minute}/s vs mean {s.mean_after_minute:.1f}/s "
                       f"(goal peak <= 2x mean: {verdict(ok)})")

    if r.package:
        pk = r.package
        add("## 6. Package size")
        add("")
        add(f"Source: {pk.source}. Unpacked size **{pk.total_mb:.1f} MB**, of which {pk.runtime_provided_mb:.1f} MB "
            "are boto3/botocore/s3transfer, which the python3.12 Lambda runtime already provides.")
        add("")
        add("| package | MB |")
        add("|---|---|")
        for name, megabytes in pk.top:
            add(f"| {name} | {megabytes:.1f} |")
        add("")
        add(f"Import of `taskwatch.runtime` (the layer's wiring module, pulling every adapter) in a fresh "
            f"interpreter on this machine: median **{pk.import_s * 1000:.0f} ms**.")
        add("")

    add("## Code changes made for these figures")
    add("")
    add("- `layers/common/taskwatch/aws.py`: every boto3 client now comes from one cached `boto3.session.Session` "
        "(a session per client re-read botocore's endpoint and service indexes each time), and `LazyClient` "
        "creates a client on first use. `runtime.py` hands the S3 store and the SNS notifier lazy clients, so a "
        "steady poll creates three clients instead of five; `runtime.reset()` also forgets the session.")
    add("- `layers/common/taskwatch/apig.py`: drop the urllib3 response (it caches the body) before parsing, and "
        "decode the bytes, free them, then parse the text, so a large export is held in at most two forms at a "
        "time. The 50 MB case went from 201 MB over baseline (4.0x) to about 144 MB (2.9x) in a side run.")
    if r.cold and len(r.cold.runs) > 3:
        before = next(k for k in r.cold.runs if "@" in k)
        old_runs, new_runs = r.cold.runs[before], r.cold.runs["poller"]
        add(f"- side by side in this run, the poller's first event: "
            f"{median([x.handle_s for x in old_runs]) * 1000:.0f} ms "
            f"before (`{before}`) vs {median([x.handle_s for x in new_runs]) * 1000:.0f} ms after; "
            f"whole process {median([x.wall_s for x in r.cold.runs[before]]) * 1000:.0f} ms vs "
            f"{median([x.wall_s for x in r.cold.runs['poller']]) * 1000:.0f} ms.")
    add("")
    add("## Summary")
    add("")
    for item in summary:
        add(f"- {item}")
    add("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small samples; finishes in about a minute")
    parser.add_argument("--out", default="BENCHMARKS.md", help="where to write the report")
    parser.add_argument("--compare-ref", help="also cold-start the poller with layers/common/taskwatch at this git ref")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/run.py" + (" --smoke" if args.smoke else "") + f" --out {args.out}"
    if args.compare_ref:
        command += f" --compare-ref {args.compare_ref}"
    started = time.perf_counter()
    results = Results(args.smoke, command, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    repeats = 3 if args.smoke else 15

    def step(name: str) -> None:
        print(f"[bench {time.perf_counter() - started:6.1f} s] {name}", flush=True)

    with tempfile.TemporaryDirectory(prefix="taskwatch-bench-") as tmp, local_emulators() as local:
        workdir = Path(tmp)
        step("1. cold start")
        results.cold = bench_cold_start(local, repeats, workdir, args.compare_ref)
        step("2. requests and cost")
        results.costs = bench_costs(local)
        step("4. memory with large exports")
        results.memory = bench_memory(local, [1] if args.smoke else [1, 20, 50], 1 if args.smoke else 3, workdir)
    step("3. poll schedule")
    results.schedule = bench_schedule(500 if args.smoke else 2000)
    results.calls_60min = {
        "PollPolicy defaults (5/300 s)": calls_for(3600, policy_schedule(7200)),
        "fixed 10 s": calls_for(3600, fixed_schedule(10)),
        "fixed 30 s": calls_for(3600, fixed_schedule(30)),
    }
    step("5. scale")
    results.scale_sweep = {n: bench_scale(10_000, n, ASSUMED_APIG_RTT) for n in (2, 3, 4, 5, 10)}
    results.scale = results.scale_sweep[5]
    step("6. package size")
    with tempfile.TemporaryDirectory(prefix="taskwatch-layer-") as tmp:
        results.package = bench_package(3 if args.smoke else 7, Path(tmp))
    plot_path = out.parent / ("bench-smoke.png" if args.smoke else "bench/benchmarks.png")
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot(results.schedule, results.scale, plot_path)
    results.plot_path = os.path.relpath(plot_path, out.parent)
    results.elapsed_s = time.perf_counter() - started
    out.write_text(report(results))
    step(f"wrote {out} and {plot_path}")


if __name__ == "__main__":
    main()
