"""What the real-handler benchmarks share: the local emulators and stack, handler events, and fresh-interpreter
runs of bench/child.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
AK, SK = "BENCHAKQTWAOYTTINDUT2", "benchskMFyfvK41ba2giqM7Uio6PznpdUKGpownR"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
INSTANCE_ID = "eddc4d25480b4cd6b512f270a1b8b341"
MB = 1024 * 1024


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
    from taskwatch.domain.signatures import STANDARD_HEADERS, sign_standard

    event: dict[str, Any] = json.loads((ROOT / "events" / "webhook_post_standard.json").read_text())
    body = json.loads(event["body"])
    body["task_id"] = task_id
    raw = json.dumps(body, separators=(",", ":"))
    event["body"] = raw
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in STANDARD_HEADERS}
    signed = sign_standard(key, f"msg_{task_id}", int(time.time()), raw.encode())
    headers.update({k.lower(): v for k, v in signed.items()})
    headers["content-length"] = str(len(raw.encode()))
    event["headers"] = headers
    return event


def queue_arn(stack: Any) -> str:
    attributes = stack.client("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


@dataclass
class ChildRun:
    wall_s: float
    rss_mb: float
    import_s: float
    handle_s: float
    answer: Any
    taskwatch_files: list[str]


def child_env(stack: Any, apig_url: str) -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**keep, **stack.function_env(apig_endpoint=apig_url), "POWERTOOLS_METRICS_NAMESPACE": "Bench"}


def run_child(
    kind: str,
    event: dict[str, Any],
    env: dict[str, str],
    workdir: Path,
    handler: Path | None = None,
    python_args: tuple[str, ...] = (),
) -> ChildRun:
    """One fresh interpreter running bench/child.py; `handler` replaces the kind's handler file of this tree,
    `python_args` go to the interpreter (-S: no site-packages, for Lambda-like runs on PYTHONPATH alone)."""
    event_path = workdir / f"{uuid.uuid4().hex}.event.json"
    result_path = event_path.with_suffix(".result")
    event_path.write_text(json.dumps(event))
    extra = [str(handler)] if handler else []
    with (workdir / "child.stderr").open("ab") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [PY, *python_args, str(BENCH / "child.py"), kind, str(event_path), str(result_path), *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=ROOT,
        )
        _, status, _ = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = (workdir / "child.stderr").read_text()[-3000:]
        raise RuntimeError(f"{kind} child exited {process.returncode}:\n{tail}")
    result = json.loads(result_path.read_text())
    return ChildRun(
        wall, result["peak_rss_mb"], result["import_s"], result["handle_s"], result["answer"], result["taskwatch_files"]
    )


def check_answer(kind: str, answer: Any) -> None:
    if kind == "webhook":
        if answer.get("statusCode") != 202:
            raise RuntimeError(f"webhook answered {answer}")
    elif answer.get("batchItemFailures"):
        raise RuntimeError(f"{kind} failed its record: {answer}")
