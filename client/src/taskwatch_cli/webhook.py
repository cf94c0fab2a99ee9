"""The webhook's two operations, authenticated and resilient: POST /tasks and GET /tasks/{task_id}."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskwatch_cli.auth import Credentials, SharedKey
from taskwatch_cli.errors import CliError
from taskwatch_cli.http import Answer, Request, RetryPolicy, send


@dataclass(frozen=True)
class HttpAnswer:
    status: int  # 0 when the webhook could not be reached
    body: Any  # the decoded JSON, or None when the answer was not JSON
    retry: bool = False  # still a connection error, throttling or 5xx after the retries


def _stderr(message: str) -> None:
    sys.stderr.write(f"taskwatch: {message}\n")


class WebhookClient:
    """`WebhookClient(url, key)` signs with the shared key; `credentials=` takes a CI token instead."""

    def __init__(
        self,
        base_url: str,
        key: str | None = None,
        *,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        say: Callable[[str], None] = _stderr,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = base_url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CliError(f"--url must be an http(s) URL, not {base_url!r}")
        self.base_url = url.removesuffix("/tasks")
        if credentials is None:
            if key is None:
                raise ValueError("a key or credentials are needed")
            credentials = SharedKey(key, clock=clock)
        self.credentials: Credentials = credentials
        self._timeout = timeout
        self._policy = policy
        self._say = say
        self._sleep = sleep

    def status_url(self, task_id: str) -> str:
        return self.base_url + self._task_path(task_id)

    def submit(self, message: dict[str, Any]) -> HttpAnswer:
        body = json.dumps(message, separators=(",", ":")).encode()
        return self._call("POST", "/tasks", body)

    def status(self, task_id: str) -> HttpAnswer:
        return self._call("GET", self._task_path(task_id), None)

    @staticmethod
    def _task_path(task_id: str) -> str:
        return "/tasks/" + urllib.parse.quote(task_id, safe="")

    def _call(self, method: str, path: str, body: bytes | None) -> HttpAnswer:
        answer = self._send(method, path, body)
        fallback = self.credentials.fallback
        if answer.status == 401 and fallback is not None:
            self._say(f"the webhook refused {self.credentials.description} (401); using {fallback.description}")
            self.credentials = fallback
            answer = self._send(method, path, body)
        if answer.status == 0:
            return HttpAnswer(0, {"error": "unreachable", "details": [answer.text]}, retry=True)
        return HttpAnswer(answer.status, answer.body, answer.transient)

    def _send(self, method: str, path: str, body: bytes | None) -> Answer:
        # A GET signs its path, so a captured status read cannot be replayed against another task.
        payload = body if body is not None else path.encode()

        def build() -> Request:
            headers = self.credentials.headers(payload)
            if body is not None:
                headers["Content-Type"] = "application/json"
            return Request(method, self.base_url + path, headers, body)

        return send(
            f"{method} {path}", build, say=self._say, policy=self._policy, timeout=self._timeout, sleep=self._sleep
        )


def describe(answer: HttpAnswer) -> str:
    if answer.status == 0 and isinstance(answer.body, dict):
        return f"no answer ({'; '.join(str(d) for d in answer.body.get('details') or [])})"
    return Answer(answer.status, answer.body).describe()


def refused(answer: HttpAnswer, credentials: Credentials) -> CliError:
    """The error for a 401, naming what was refused."""
    return CliError(
        f"the webhook refused {credentials.description} (401): check the key or the token's audience and trust "
        "rule, and the machine's clock"
    )
