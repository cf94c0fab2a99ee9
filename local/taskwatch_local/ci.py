"""`taskwatch submit` and `taskwatch wait`: what a CI job runs against the webhook.

Standard library HTTP only (urllib), signed with Standard Webhooks. The key is read from an
environment variable, never from the command line, so it stays out of process listings.

Exit codes: 0 the task's outcome is `succeeded`; 1 any other outcome; 2 usage, HTTP or
authentication errors; 3 the wait timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from taskwatch.domain.model import TASK_TYPES
from taskwatch.domain.records import WatchStatus
from taskwatch.domain.signatures import sign_standard

EXIT_SUCCEEDED, EXIT_OUTCOME, EXIT_ERROR, EXIT_TIMEOUT = 0, 1, 2, 3
RUNNING_STATUSES = tuple(status.value for status in WatchStatus if status.running)
DEFAULT_KEY_ENV = "TASKWATCH_WEBHOOK_KEY"
MAX_TRANSIENT_FAILURES = 5
USER_AGENT = "taskwatch-cli/0.1"


class CliError(Exception):
    """Ends the command with exit code 2 and this message on stderr."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any  # the decoded JSON, or None when the answer was not JSON
    retry: bool = False  # a connection error, throttling or 5xx: worth asking again


class WebhookClient:
    """Signed requests to the webhook: POST /tasks and GET /tasks/{task_id}."""

    def __init__(
        self, base_url: str, key: str, *, timeout: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        url = base_url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CliError(f"--url must be an http(s) URL, not {base_url!r}")
        self.base_url = url.removesuffix("/tasks")
        self._key = key
        self._timeout = timeout
        self._clock = clock

    def submit(self, message: dict[str, Any]) -> HttpAnswer:
        body = json.dumps(message, separators=(",", ":")).encode()
        return self._request("POST", "/tasks", body)

    def status(self, task_id: str) -> HttpAnswer:
        return self._request("GET", "/tasks/" + urllib.parse.quote(task_id, safe=""), b"")

    def _request(self, method: str, path: str, body: bytes) -> HttpAnswer:
        # A fresh id and timestamp per request: the webhook refuses signatures older than 5 minutes.
        # A GET signs its path, so a captured status read cannot be replayed against another task.
        payload = body if method == "POST" else path.encode()
        headers = sign_standard(self._key, "msg_" + secrets.token_hex(12), int(self._clock()), payload)
        headers["User-Agent"] = USER_AGENT
        headers["Accept"] = "application/json"
        if body:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.base_url + path, data=body if method != "GET" else None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                return HttpAnswer(answer.status, _json(answer.read()))
        except urllib.error.HTTPError as error:
            status = error.code
            return HttpAnswer(status, _json(error.read()), retry=status == 429 or status >= 500)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            return HttpAnswer(0, {"error": "unreachable", "details": [str(reason)]}, retry=True)


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def describe(answer: HttpAnswer) -> str:
    if isinstance(answer.body, dict):
        details = answer.body.get("details")
        text = str(answer.body.get("error", ""))
        if isinstance(details, list) and details:
            text += ": " + "; ".join(str(d) for d in details)
        return f"HTTP {answer.status} {text}".strip()
    return f"HTTP {answer.status}"


# --- progress --------------------------------------------------------------------------------------------


class Progress:
    """One line rewritten in place on a terminal; otherwise one line per change."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = ""
        self._width = 0

    def show(self, line: str) -> None:
        if line == self._last:
            return
        self._last = line
        if self._tty:
            self._stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def done(self) -> None:
        if self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()
        self._last = ""


def progress_line(task_id: str, record: dict[str, Any]) -> str:
    parts = [f"task {task_id}: {record.get('status')}"]
    if record.get("task_type"):
        parts.append(str(record["task_type"]))
    parts.append(f"attempts {record.get('attempts', 0)}")
    if record.get("next_poll_at"):
        parts.append(f"next poll {record['next_poll_at']}")
    return ", ".join(parts)


# --- the commands' logic -----------------------------------------------------------------------------


def submit_task(client: WebhookClient, message: dict[str, Any], *, err: TextIO) -> str:
    """POST the watch; returns the status URL. Raises CliError when the webhook refuses it."""
    answer = client.submit(message)
    if answer.status in (200, 202) and isinstance(answer.body, dict) and "status_url" in answer.body:
        return str(answer.body["status_url"])
    if answer.status == 401:
        raise CliError("the webhook refused the signature (401): check the key and the machine's clock")
    raise CliError(f"the webhook refused the watch: {describe(answer)}")


def wait_for_task(
    client: WebhookClient,
    task_id: str,
    *,
    timeout: float,
    interval: float,
    out: TextIO,
    err: TextIO,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Read the status until the task ends; print its record as JSON; return the exit code."""
    deadline = clock() + timeout
    progress = Progress(err)
    record: dict[str, Any] | None = None
    transient_failures = 0
    while True:
        answer = client.status(task_id)
        if answer.status == 200 and isinstance(answer.body, dict):
            transient_failures = 0
            record = answer.body
            if record.get("status") not in RUNNING_STATUSES:
                progress.show(progress_line(task_id, record))
                progress.done()
                out.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
                return EXIT_SUCCEEDED if record.get("status") == "succeeded" else EXIT_OUTCOME
            progress.show(progress_line(task_id, record))
        elif answer.status == 404:
            # A watch started through the queue is only recorded once the poller first claims it.
            transient_failures = 0
            progress.show(f"task {task_id}: not recorded yet")
        elif answer.retry and transient_failures + 1 < MAX_TRANSIENT_FAILURES:
            transient_failures += 1
            progress.show(f"task {task_id}: status unavailable ({describe(answer)}), retrying")
        else:
            progress.done()
            if answer.status == 401:
                raise CliError("the webhook refused the signature (401): check the key and the machine's clock")
            raise CliError(f"reading the task's status failed: {describe(answer)}")
        remaining = deadline - clock()
        if remaining <= 0:
            progress.done()
            if record is not None:
                out.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
            err.write(f"taskwatch: gave up waiting for task {task_id} after {timeout:g} s\n")
            return EXIT_TIMEOUT
        sleep(min(interval, remaining))


# --- argparse wiring ---------------------------------------------------------------------------------


def register(subcommands: Any) -> None:
    submit = subcommands.add_parser(
        "submit",
        help="start watching an APIG task through the webhook (prints its status URL)",
        description="POST a signed watch to the webhook and print the task's status URL.",
    )
    _common(submit)
    submit.add_argument("--project-id", required=True)
    submit.add_argument("--instance-id", required=True)
    submit.add_argument("--region", help="Huawei Cloud region of the APIG instance (default: the stack's)")
    submit.add_argument("--expected-type", choices=TASK_TYPES, help="fail the watch if the task is of another type")
    submit.add_argument("--max-wait", type=int, metavar="SECONDS", help="deadline for the task (1..604800)")
    submit.add_argument("--source", metavar="JSON", help="CI context, a JSON object echoed in notifications")
    submit.add_argument("--wait", action="store_true", help="then wait for the outcome, as `taskwatch wait` does")
    _wait_options(submit)
    submit.set_defaults(run=run_submit)

    wait = subcommands.add_parser(
        "wait",
        help="wait for a watched task's outcome (exit 0 only when it succeeded)",
        description="Read the task's status until it ends and print its record as JSON.",
    )
    _common(wait)
    _wait_options(wait)
    wait.set_defaults(run=run_wait)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the webhook's base URL (the stack's WebhookUrl output)")
    parser.add_argument(
        "--key-env",
        default=DEFAULT_KEY_ENV,
        metavar="NAME",
        help=f"environment variable holding the webhook key (default {DEFAULT_KEY_ENV})",
    )
    parser.add_argument("--task-id", required=True)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=_seconds, default=3600.0, metavar="SECONDS", help="default 3600")
    parser.add_argument("--interval", type=_seconds, default=5.0, metavar="SECONDS", help="default 5")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _client(args: argparse.Namespace) -> WebhookClient:
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        raise CliError(f"the webhook key is not set: export it in the environment variable {args.key_env}")
    return WebhookClient(args.url, key)


def _message(args: argparse.Namespace) -> dict[str, Any]:
    message: dict[str, Any] = {
        "project_id": args.project_id,
        "instance_id": args.instance_id,
        "task_id": args.task_id,
    }
    if args.region:
        message["region"] = args.region
    if args.expected_type:
        message["expected_type"] = args.expected_type
    if args.max_wait is not None:
        message["max_wait_seconds"] = args.max_wait
    if args.source:
        try:
            source = json.loads(args.source)
        except ValueError:
            raise CliError("--source must be a JSON object") from None
        if not isinstance(source, dict):
            raise CliError("--source must be a JSON object")
        message["source"] = source
    return message


def run_submit(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        client = _client(args)
        status_url = submit_task(client, _message(args), err=err)
        out.write(status_url + "\n")
        out.flush()
        if not args.wait:
            return EXIT_SUCCEEDED
        return wait_for_task(client, args.task_id, timeout=args.timeout, interval=args.interval, out=out, err=err)
    except CliError as error:
        err.write(f"taskwatch: {error}\n")
        return EXIT_ERROR


def run_wait(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return wait_for_task(
            _client(args), args.task_id, timeout=args.timeout, interval=args.interval, out=out, err=err
        )
    except CliError as error:
        err.write(f"taskwatch: {error}\n")
        return EXIT_ERROR
