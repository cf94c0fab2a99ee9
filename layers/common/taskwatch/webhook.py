"""The webhook's logic: authenticate, validate, record and enqueue a watch; answer a task's status.

No HTTP framework and no boto3 here: the handler hands in headers and the raw body, the ports
(records, queue, keys) are passed in, so tests use in-memory fakes.

Submitting a task that is already watched never forks its poll chain:
- a new task is recorded `queued`, then its first poll message (attempt 0) is sent: `202`;
- a task recorded `queued` but maybe never enqueued (a crash between the two writes) is enqueued
  again; the poller's claim on attempt 0 drops whichever copy comes second: `202`;
- a task already polling or finished is left alone and its current status is answered: `200`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from taskwatch.credentials import read_secret_string
from taskwatch.errors import DependencyError, InvalidMessage, TaskwatchError
from taskwatch.model import ID_PATTERN, PollMessage, parse_poll_message
from taskwatch.records import ClaimResult, TaskRecord
from taskwatch.webhook_auth import AuthFailed, Reason, Scheme, verify

MAX_BODY_BYTES = 16 * 1024
# DynamoDB stores at most 32 nested levels; the body's own object and the record around it take some.
MAX_JSON_DEPTH = 20
KEYS_CACHE_SECONDS = 300.0
MIN_REFRESH_INTERVAL_SECONDS = 10.0
SUBMIT_SCHEMES = (Scheme.STANDARD, Scheme.GITHUB)
# Status reads require Standard Webhooks: its timestamp keeps a captured request from being replayed later.
STATUS_SCHEMES = (Scheme.STANDARD,)


class BodyTooLarge(TaskwatchError):
    """The body is over MAX_BODY_BYTES; it was neither decoded nor parsed."""


class TaskUnknown(TaskwatchError):
    """No record of the task (never submitted, or expired)."""


# --- ports -----------------------------------------------------------------------------------------------


class WatchRecords(Protocol):
    def create_queued(self, message: PollMessage, *, now: float) -> ClaimResult: ...

    def get(self, task_id: str) -> TaskRecord | None: ...


class PollSender(Protocol):
    def send(self, message: PollMessage, *, delay_seconds: int) -> str: ...


class KeySource(Protocol):
    def current(self) -> Sequence[str]:
        """The keys a signature may match (the current one first)."""
        ...

    def refresh(self) -> bool:
        """Read the keys again; False when they were read too recently to be worth it."""
        ...


class WebhookKeys:
    """The webhook key's AWSCURRENT and (when there is one) AWSPREVIOUS versions, from Secrets Manager.

    Kept for KEYS_CACHE_SECONDS across invocations. A well-formed signature that matches no cached
    key forces one fresh read, so a rotated key works at once; forced reads are at least
    MIN_REFRESH_INTERVAL_SECONDS apart, so a flood of bad signatures cannot flood Secrets Manager.
    """

    def __init__(self, secret_id: str, client: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret_id = secret_id
        self._client = client
        self._clock = clock
        self._keys: list[str] | None = None
        self._fetched_at = 0.0
        self._forced_at: float | None = None

    def current(self) -> Sequence[str]:
        if self._keys is None or self._clock() - self._fetched_at > KEYS_CACHE_SECONDS:
            self._load()
        assert self._keys is not None
        return self._keys

    def refresh(self) -> bool:
        now = self._clock()
        if self._forced_at is not None and now - self._forced_at < MIN_REFRESH_INTERVAL_SECONDS:
            return False
        self._forced_at = now
        self._load()
        return True

    def _load(self) -> None:
        keys = [read_secret_string(self._client, self._secret_id, "AWSCURRENT")]
        try:
            previous = read_secret_string(self._client, self._secret_id, "AWSPREVIOUS")
        except LookupError:
            previous = None
        if previous and previous not in keys:
            keys.append(previous)
        self._keys = [key.strip() for key in keys]
        self._fetched_at = self._clock()


def authenticate(
    keys: KeySource, headers: Mapping[str, str], body: bytes, *, now: float, schemes: Sequence[Scheme]
) -> Scheme:
    """The scheme that signed the request; raises AuthFailed. Retries once with freshly read keys."""
    try:
        return verify(headers, body, keys.current(), now=now, schemes=schemes)
    except AuthFailed as failure:
        if failure.reason is not Reason.MISMATCH or not keys.refresh():
            raise
    return verify(headers, body, keys.current(), now=now, schemes=schemes)


# --- request pieces ------------------------------------------------------------------------------------


def read_body(raw: str | None, *, is_base64: bool) -> bytes:
    """The request's raw bytes, size-checked before anything is decoded or parsed."""
    if not raw:
        return b""
    if is_base64:
        # base64 grows by 4/3: anything longer cannot decode to an allowed body.
        if len(raw) > (MAX_BODY_BYTES + 2) // 3 * 4 + 4:
            raise BodyTooLarge()
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMessage(["body: isBase64Encoded is set but the body is not base64"]) from None
    else:
        if len(raw) > MAX_BODY_BYTES:
            raise BodyTooLarge()
        body = raw.encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    return body


def parse_submission(body: bytes) -> PollMessage:
    """A POST /tasks body as a poll message (public fields only); InvalidMessage names every problem."""
    if not body.strip():
        raise InvalidMessage(["body: required, a JSON object with project_id, instance_id and task_id"])
    try:
        decoded = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidMessage([f"body: JSON nested more than {MAX_JSON_DEPTH} levels deep"]) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidMessage(["body: not valid JSON"]) from None
    if not isinstance(decoded, dict):
        raise InvalidMessage(["body: must be a JSON object"])
    if _depth(decoded) > MAX_JSON_DEPTH:
        raise InvalidMessage([f"body: JSON nested more than {MAX_JSON_DEPTH} levels deep"])
    return parse_poll_message(decoded, allow_bookkeeping=False)


def check_task_id(task_id: str) -> str:
    if not ID_PATTERN.fullmatch(task_id):
        raise InvalidMessage(["task_id: must match [A-Za-z0-9_-]{1,64}"])
    return task_id


def status_url(domain: str, stage: str | None, task_id: str, *, scheme: str = "https") -> str:
    """Where the task's status can be read: `https://{domain}[/{stage}]/tasks/{task_id}`."""
    prefix = f"/{stage}" if stage and stage != "$default" else ""
    return f"{scheme}://{domain}{prefix}/tasks/{task_id}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item)
    return deepest


# --- the two operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    task_id: str
    status: str
    created: bool  # a new watch was recorded by this request
    enqueued: bool  # a poll message was sent by this request

    @property
    def http_status(self) -> int:
        return 202 if self.status == "queued" else 200


_STAGE = re.compile(r"[A-Za-z0-9_-]{1,128}")


class Webhook:
    def __init__(
        self,
        *,
        records: WatchRecords,
        queue: PollSender,
        keys: KeySource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records = records
        self.queue = queue
        self.keys = keys
        self.clock = clock

    def authenticate(self, headers: Mapping[str, str], body: bytes, *, schemes: Sequence[Scheme]) -> Scheme:
        return authenticate(self.keys, headers, body, now=self.clock(), schemes=schemes)

    def submit(self, headers: Mapping[str, str], body: bytes) -> Submission:
        """Start watching the task the body names (see the module docstring for duplicates)."""
        self.authenticate(headers, body, schemes=SUBMIT_SCHEMES)
        message = parse_submission(body)
        # Twice at most: the existing record may expire (TTL) between the failed put and now.
        for _ in range(2):
            result = self.records.create_queued(message, now=self.clock())
            if result.won:
                self.queue.send(message, delay_seconds=0)
                return Submission(message.task_id, "queued", created=True, enqueued=True)
            existing = result.record
            if existing is None:
                continue
            if existing.status == "queued":
                self.queue.send(message, delay_seconds=0)
                return Submission(message.task_id, "queued", created=False, enqueued=True)
            return Submission(message.task_id, existing.status, created=False, enqueued=False)
        raise DependencyError("the task record vanished while it was being created")

    def status(self, headers: Mapping[str, str], body: bytes, task_id: str) -> TaskRecord:
        self.authenticate(headers, body, schemes=STATUS_SCHEMES)
        record = self.records.get(check_task_id(task_id))
        if record is None:
            raise TaskUnknown(task_id)
        return record


def stage_of(request_context: Mapping[str, Any]) -> str | None:
    stage = request_context.get("stage")
    return stage if isinstance(stage, str) and _STAGE.fullmatch(stage) else None
