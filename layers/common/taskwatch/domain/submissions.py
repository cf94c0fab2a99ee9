"""The webhook's use cases: authenticate, validate, record and enqueue a watch; answer a watch's status.

No HTTP framework and no boto3 here: the handler hands in headers and bytes, the ports (records,
queue, keys) are passed in, so tests use in-memory fakes.

A watch is identified by (project_id, instance_id, task_id). Submitting a task that is already
watched never forks its poll chain:
- a new task is recorded `queued`, then its first poll message (attempt 0) is sent: `202`;
- a task recorded `queued` but maybe never enqueued (a crash between the two writes) is enqueued
  again; the poller's claim on attempt 0 drops whichever copy comes second: `202`;
- a task already polling or finished is left alone and its current status is answered: `200`;
- the same task id under another project or instance, or started by another pipeline's token, is
  refused (`409`): it is somebody else's watch.

Callers are the operator (the shared key: may read every watch) or a CI job proven by its OIDC token
(may read only the watches its own repository or project started; any other is `404`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from taskwatch.domain.callbacks import CallbackRules, NoResolver, Resolver
from taskwatch.domain.errors import DependencyError, InvalidMessage, TaskwatchError
from taskwatch.domain.identity import Caller, Operator, Principal
from taskwatch.domain.limits import DYNAMODB_MAX_DEPTH
from taskwatch.domain.model import ID_PATTERN, PollMessage, parse_poll_message
from taskwatch.domain.ports import KeySource, PollQueue, TaskRecords, TokenVerifier
from taskwatch.domain.records import TaskRecord, WatchStatus
from taskwatch.domain.signatures import AuthFailed, Reason, Scheme, verify

# The body's own object and the record around it take some of DynamoDB's levels.
MAX_JSON_DEPTH = DYNAMODB_MAX_DEPTH - 12


class TaskUnknown(TaskwatchError):
    """No record of the task (never submitted, or expired)."""


class WatchConflict(TaskwatchError):
    """The task id is already watched under another project or instance."""

    def __init__(self, details: list[str]) -> None:
        super().__init__("; ".join(details))
        self.details = details


def authenticate(keys: KeySource, headers: Mapping[str, str], payload: bytes, *, now: float) -> None:
    """Raise AuthFailed unless the request is signed by a current key; retries once with freshly read keys."""
    try:
        verify(headers, payload, keys.current(), now=now)
        return
    except AuthFailed as failure:
        if failure.reason is not Reason.MISMATCH or not keys.refresh():
            raise
    verify(headers, payload, keys.current(), now=now)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <JWT>` header, if the request carries one."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def status_payload(task_id: str) -> bytes:
    """What a status read signs: its path below the API's base URL."""
    return f"/tasks/{task_id}".encode("utf-8", "surrogatepass")


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


def _conflicts(existing: TaskRecord, message: PollMessage) -> list[str]:
    return [
        f"{name}: task {message.task_id} is already watched under another {name.removesuffix('_id')}"
        for name in ("project_id", "instance_id")
        if getattr(existing, name) != getattr(message, name)
    ]


@dataclass(frozen=True)
class Submission:
    task_id: str
    status: WatchStatus
    created: bool  # a new watch was recorded by this request
    enqueued: bool  # a poll message was sent by this request

    @property
    def http_status(self) -> int:
        return 202 if self.status is WatchStatus.QUEUED else 200


class WatchService:
    """POST /tasks and GET /tasks/{task_id}, without HTTP."""

    def __init__(
        self,
        *,
        records: TaskRecords,
        queue: PollQueue,
        keys: KeySource,
        tokens: TokenVerifier | None = None,
        callback_rules: CallbackRules | None = None,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records = records
        self.queue = queue
        self.keys = keys
        self.tokens = tokens
        self.callback_rules = callback_rules or CallbackRules()
        self.resolver = resolver
        self.clock = clock

    def principal(self, headers: Mapping[str, str], payload: bytes) -> Principal:
        """Who is asking: a CI job proven by its OIDC token, or the operator holding the shared key."""
        token = bearer_token(headers)
        if token is not None:
            if not token or self.tokens is None or not self.tokens.enabled:
                raise AuthFailed(Reason.MISSING if not token else Reason.REFUSED, Scheme.OIDC)
            return self.tokens.verify(token)
        authenticate(self.keys, headers, payload, now=self.clock())
        return Operator()

    def submit(self, headers: Mapping[str, str], body: bytes) -> Submission:
        """Start watching the task the body names (see the module docstring for duplicates)."""
        principal = self.principal(headers, body)
        message = parse_submission(body)
        if message.callback_url is not None:
            problems = self.callback_rules.problems(message.callback_url, self.resolver or NoResolver())
            if problems:
                raise InvalidMessage(problems)
        caller = principal if isinstance(principal, Caller) else None
        # Twice at most: the existing record may expire (TTL) between the failed put and now.
        for _ in range(2):
            result = self.records.create_queued(message, now=self.clock(), caller=caller)
            if result.won:
                self.queue.send(message, delay_seconds=0)
                return Submission(message.task_id, WatchStatus.QUEUED, created=True, enqueued=True)
            existing = result.record
            if existing is None:
                continue
            conflicts = _conflicts(existing, message)
            if caller is not None and not caller.may_read(existing.caller):
                conflicts.append(f"task_id: task {message.task_id} is already watched by another pipeline")
            if conflicts:
                raise WatchConflict(conflicts)
            if existing.status is WatchStatus.QUEUED:
                self.queue.send(message, delay_seconds=0)
                return Submission(message.task_id, WatchStatus.QUEUED, created=False, enqueued=True)
            return Submission(message.task_id, existing.status, created=False, enqueued=False)
        raise DependencyError("the task record vanished while it was being created")

    def status(self, headers: Mapping[str, str], task_id: str) -> TaskRecord:
        principal = self.principal(headers, status_payload(task_id))
        record = self.records.get(check_task_id(task_id))
        # Another repository's watch is answered exactly like a task nobody watches.
        if record is None or (isinstance(principal, Caller) and not principal.may_read(record.caller)):
            raise TaskUnknown(task_id)
        return record
