"""HTTP on the standard library, resilient: every call of the client goes through `send`.

One exchange never raises for an HTTP error or a lost connection; it answers an `Answer` (status 0
when no HTTP answer came). `send` repeats an exchange that met throttling (429), a server error (5xx)
or a connection error, after a jittered exponential backoff (or the server's `Retry-After`), a bounded
number of times, and says so on stderr. Each repetition is built afresh: new signatures, new tokens.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from taskwatch_cli import __version__

USER_AGENT = f"taskwatch-cli/{__version__}"
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a status record is a few KiB; a body past this is not an answer of ours


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer (connection refused or reset, timeout, DNS)
    body: Any = None  # the answer decoded as JSON, or None
    text: str = ""  # the start of a non-JSON answer, or why no answer came
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.status in {0, 429} or self.status >= 500

    def describe(self) -> str:
        if self.status == 0:
            return f"no answer ({self.text})"
        text = f"HTTP {self.status}"
        if isinstance(self.body, dict):
            error = self.body.get("error") or self.body.get("error_code")
            message = self.body.get("error_msg") or self.body.get("message")
            details = self.body.get("details")
            if error:
                text += f" {error}"
            if message:
                text += f": {message}"
            if isinstance(details, list) and details:
                text += ": " + "; ".join(str(d) for d in details)
        elif self.text:
            text += f": {self.text}"
        return text


def exchange(request: Request, *, timeout: float) -> Answer:
    """One request; the answer whatever happened (never raises for HTTP or network failures)."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **request.headers}
    prepared = urllib.request.Request(  # noqa: S310 - callers pass http(s) URLs only (checked where they are read)
        request.url, data=request.body, headers=headers, method=request.method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as answer:  # noqa: S310
            return _answer(answer.status, answer.read(MAX_ANSWER_BYTES + 1), answer.headers)
    except urllib.error.HTTPError as error:
        with error:
            return _answer(error.code, error.read(MAX_ANSWER_BYTES + 1), error.headers)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return Answer(0, text=str(reason)[:300] or type(error).__name__)


def _answer(status: int, data: bytes, headers: Any) -> Answer:
    retry_after: float | None = None
    raw = headers.get("Retry-After") if headers is not None else None
    if raw and raw.strip().isdigit():
        retry_after = float(raw.strip())
    if len(data) > MAX_ANSWER_BYTES:
        return Answer(status, None, "the answer is too large", retry_after)
    try:
        body = json.loads(data) if data else None
    except ValueError:
        return Answer(status, None, data[:300].decode("utf-8", "replace"), retry_after)
    return Answer(status, body, "", retry_after)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; before try n + 1, about `base_delay` x 2^(n-1) seconds (x [0.5, 1) jitter)."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, retry: int, answer: Answer, rand: Callable[[], float]) -> float:
        if answer.retry_after is not None:
            return min(answer.retry_after, self.max_delay)
        return min(self.max_delay, self.base_delay * float(2 ** (retry - 1))) * (0.5 + 0.5 * rand())


def send(
    what: str,
    build: Callable[[], Request],
    *,
    say: Callable[[str], None],
    policy: RetryPolicy | None = None,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> Answer:
    """Exchange `build()`'s request, again on transient failures; the last answer."""
    policy = policy or RetryPolicy()
    attempt = 1
    while True:
        answer = exchange(build(), timeout=timeout)
        if not answer.transient or attempt >= policy.attempts:
            return answer
        delay = policy.delay(attempt, answer, rand)
        say(f"{what}: {answer.describe()}; retry {attempt} of {policy.attempts - 1} in {delay:.1f}s")
        sleep(delay)
        attempt += 1
