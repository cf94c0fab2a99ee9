"""Outcome callbacks: POST the outcome to the CI's own endpoint, so a pipeline need not hold a runner.

Where a callback may go is decided twice, at submission and again before every delivery (a name can
resolve elsewhere tomorrow): https only (plain http only to a loopback host listed by name), a host
that CALLBACK_ALLOWED_HOSTS allows, and no private, loopback, link-local, metadata or otherwise
special address unless that literal host is listed. Redirects are never followed.

Delivery rides the poll queue as a message of its own kind (`"kind": "callback"`). Each delivery
claims the record's `callback.attempts` counter like a poll claims `attempts`, so a duplicate SQS
delivery never POSTs twice; only a crash between the POST and its record can repeat one, and
receivers drop repeats by `webhook-id` (`{task_id}.{outcome}`, the same on every retry). A 2xx ends
the chain, `410 Gone` stops it, anything else is retried with jittered exponential backoff for 24
hours, then the message is dead-lettered and the callback recorded `failed`. None of this touches
the watch's other effects: the export, the record's outcome and the notification happen before the
first callback is enqueued, exactly once, whatever the receiver does.
"""

from __future__ import annotations

import ipaddress
import json
import math
import random as _random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from taskwatch.domain.errors import InvalidMessage, TaskwatchError
from taskwatch.domain.identity import LOOPBACK_HOSTS, glob_match
from taskwatch.domain.limits import SQS_MAX_DELAY_SECONDS
from taskwatch.domain.model import ID_PATTERN, Outcome
from taskwatch.domain.notifications import build_notification
from taskwatch.domain.records import Decision, TaskRecord
from taskwatch.domain.signatures import sign_standard

CALLBACK_KIND = "callback"
CALLBACK_WINDOW_SECONDS = 24 * 3600
CALLBACK_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 10
MAX_ERROR_CHARS = 300


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GONE = "gone"  # the receiver answered 410: it wants no more
    FAILED = "failed"  # not delivered within 24 hours (or its URL is no longer allowed)


def pending() -> dict[str, Any]:
    """A callback's state when its watch ends: nothing tried yet."""
    return {"status": CallbackStatus.PENDING.value, "attempts": 0, "last_error": None}


# --- where a callback may go ------------------------------------------------------------------------------


class Resolver(Protocol):
    def resolve(self, host: str) -> list[str]:
        """Every address the host name resolves to; raises OSError when it does not resolve."""
        ...


class NoResolver:
    """Where no resolver is wired, no name resolves: a callback to a name is refused, never guessed at."""

    def resolve(self, host: str) -> list[str]:
        raise OSError(f"no resolver for {host}")


def refused_address(address: str) -> bool:
    """True for anything but a public unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclass(frozen=True)
class CallbackRules:
    """CALLBACK_ALLOWED_HOSTS: host names or `*.`-globs; empty refuses every callback."""

    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> CallbackRules:
        hosts = (part.strip().lower().rstrip(".") for part in (text or "").split(","))
        return cls(tuple(host for host in hosts if host))

    def listed(self, host: str) -> bool:
        """The literal host is in the list (not through a glob): trusted even on a private address."""
        return host in self.allowed_hosts

    def allows(self, host: str) -> bool:
        return any(
            host == pattern or (pattern.startswith("*.") and glob_match(pattern, host) and host != pattern[2:])
            for pattern in self.allowed_hosts
        )

    def target_problems(self, url: str) -> list[str]:
        """What the allow list and the scheme say about `url`, before any name is resolved."""
        if not self.allowed_hosts:
            return ["callback_url: callbacks are not enabled here (CALLBACK_ALLOWED_HOSTS is empty)"]
        parts = urlsplit(url)
        host = host_of(url)
        if not self.allows(host):
            return [f"callback_url: {host} is not an allowed callback host"]
        if parts.scheme != "https" and not (self.listed(host) and _loopback_name(host)):
            return ["callback_url: must be https (plain http only to a listed loopback host)"]
        return []

    def problems(self, url: str, resolver: Resolver) -> list[str]:
        """Why `url` may not receive callbacks (empty when it may). Resolves the host: pure but for that."""
        problems = self.target_problems(url)
        host = host_of(url)
        if problems or self.listed(host):
            return problems
        try:
            addresses = resolver.resolve(host)
        except OSError:
            return [f"callback_url: {host} does not resolve"]
        if not addresses or any(refused_address(address) for address in addresses):
            return [f"callback_url: {host} resolves to a private, loopback, link-local or metadata address"]
        return []


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def _loopback_name(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the delivery message -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackMessage:
    """One delivery of a watch's outcome; `attempt` counts deliveries made before this one."""

    task_id: str
    project_id: str
    instance_id: str
    attempt: int = 0
    first_try_at: float | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "kind": CALLBACK_KIND,
            "task_id": self.task_id,
            "project_id": self.project_id,
            "instance_id": self.instance_id,
            "attempt": self.attempt,
        }
        if self.first_try_at is not None:
            body["first_try_at"] = self.first_try_at
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def is_callback(body: Any) -> bool:
    return isinstance(body, dict) and body.get("kind") == CALLBACK_KIND


def parse_callback_message(body: dict[str, Any], *, now: float) -> CallbackMessage:
    problems = [f"{name}: unknown field" for name in sorted(body) if name not in _CALLBACK_FIELDS]
    for name in ("task_id", "project_id", "instance_id"):
        value = body.get(name)
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            problems.append(f"{name}: must match [A-Za-z0-9_-]{{1,64}}")
    attempt = body.get("attempt", 0)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 0 <= attempt <= 10_000:
        problems.append("attempt: must be a non-negative integer")
    first_try_at = body.get("first_try_at")
    if first_try_at is not None and (
        isinstance(first_try_at, bool)
        or not isinstance(first_try_at, int | float)
        or not now - CALLBACK_WINDOW_SECONDS - 3600 <= first_try_at <= now + 300
    ):
        problems.append("first_try_at: outside the last 24 hours")
    if problems:
        raise InvalidMessage(problems)
    return CallbackMessage(
        body["task_id"],
        body["project_id"],
        body["instance_id"],
        attempt,
        float(first_try_at) if first_try_at is not None else None,
    )


_CALLBACK_FIELDS = ("kind", "task_id", "project_id", "instance_id", "attempt", "first_try_at")


def retry_delay(attempt: int, random: Callable[[], float]) -> int:
    """After delivery number `attempt` (1-based) failed: 10 s, 20 s, 40 s ... up to 15 minutes, jittered
    into [0.5, 1] of that, so receivers coming back are not hit by every pending callback at once."""
    target: int = min(FIRST_RETRY_SECONDS * 2 ** min(attempt - 1, 20), SQS_MAX_DELAY_SECONDS)
    return max(1, math.ceil(target * (0.5 + 0.5 * random())))


# --- delivering ---------------------------------------------------------------------------------------------


class CallbackUnreachable(TaskwatchError):
    """No HTTP answer: refused address, connection error, timeout. The text is safe to record."""


class CallbackSender(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str], *, rules: CallbackRules) -> int:
        """POST and return the status code (redirects are answers, never followed); raise CallbackUnreachable."""
        ...


class CallbackRecords(Protocol):
    def get(self, task_id: str) -> TaskRecord | None: ...

    def claim_callback(self, task_id: str, *, attempt: int, claim_id: str, now: float) -> bool:
        """Take delivery `attempt + 1` (or resume it, for the same claim); False when it is not ours."""
        ...

    def record_callback(self, task_id: str, *, claim_id: str, state: dict[str, Any], now: float) -> None: ...


class CallbackQueue(Protocol):
    def send(self, message: CallbackMessage, *, delay_seconds: int) -> str: ...


class SigningKeys(Protocol):
    def current(self) -> Sequence[str]: ...


class CallbackStep(StrEnum):
    DELIVERED = "delivered"
    GONE = "gone"
    RETRYING = "retrying"
    FAILED = "failed"  # the entry point dead-letters the message
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class CallbackResult:
    step: CallbackStep
    status: int | None = None
    error: str | None = None
    delay_seconds: int | None = None


@dataclass
class CallbackDeliverer:
    rules: CallbackRules
    records: CallbackRecords
    sender: CallbackSender
    queue: CallbackQueue
    keys: SigningKeys
    clock: Callable[[], float] = time.time
    random: Callable[[], float] = _random.random
    deliveries: list[str] = field(default_factory=list)

    def handle(self, message: CallbackMessage, *, delivery_id: str) -> CallbackResult:
        now = self.clock()
        record = self.records.get(message.task_id)
        if record is None or record.callback_url is None or not record.terminal:
            return CallbackResult(CallbackStep.DUPLICATE)
        if (record.project_id, record.instance_id) != (message.project_id, message.instance_id):
            raise InvalidMessage(["project_id: the callback names another watch"])
        if not self.records.claim_callback(message.task_id, attempt=message.attempt, claim_id=delivery_id, now=now):
            return CallbackResult(CallbackStep.DUPLICATE)
        first_try_at = message.first_try_at if message.first_try_at is not None else now
        attempts = message.attempt + 1
        # Allowed when submitted, but the list may have changed since; addresses are checked by the sender.
        problems = self.rules.target_problems(record.callback_url)
        status: int | None = None
        error: str | None = problems[0] if problems else None
        if error is None:
            outcome = record.outcome or Outcome.ERROR.value
            body = json.dumps(outcome_document(record), ensure_ascii=False, sort_keys=True).encode("utf-8")
            headers = sign_standard(self.keys.current()[0], f"{record.task_id}.{outcome}", int(now), body)
            headers["Content-Type"] = "application/json"
            try:
                status = self.sender.post(record.callback_url, body, headers, rules=self.rules)
            except CallbackUnreachable as exc:
                error = str(exc)[:MAX_ERROR_CHARS]
        if status is not None and 200 <= status < 300:
            return self._end(record, delivery_id, attempts, CallbackStatus.DELIVERED, None, status)
        if status == 410:
            return self._end(record, delivery_id, attempts, CallbackStatus.GONE, "HTTP 410", status)
        error = error or f"HTTP {status}"
        delay = retry_delay(attempts, self.random)
        if problems or self.clock() + delay > first_try_at + CALLBACK_WINDOW_SECONDS:
            self._end(record, delivery_id, attempts, CallbackStatus.FAILED, error, status)
            return CallbackResult(CallbackStep.FAILED, status, error)
        state = {"status": CallbackStatus.PENDING.value, "attempts": attempts, "last_error": error}
        self.records.record_callback(record.task_id, claim_id=delivery_id, state=state, now=self.clock())
        successor = CallbackMessage(message.task_id, message.project_id, message.instance_id, attempts, first_try_at)
        self.queue.send(successor, delay_seconds=delay)
        return CallbackResult(CallbackStep.RETRYING, status, error, delay)

    def _end(
        self,
        record: TaskRecord,
        claim_id: str,
        attempts: int,
        status: CallbackStatus,
        error: str | None,
        http_status: int | None,
    ) -> CallbackResult:
        state = {"status": status.value, "attempts": attempts, "last_error": error}
        self.records.record_callback(record.task_id, claim_id=claim_id, state=state, now=self.clock())
        step = {CallbackStatus.DELIVERED: CallbackStep.DELIVERED, CallbackStatus.GONE: CallbackStep.GONE}.get(
            status, CallbackStep.FAILED
        )
        return CallbackResult(step, http_status, error)


def outcome_document(record: TaskRecord) -> dict[str, Any]:
    """What a callback carries: the notification's Message, rebuilt from the record (so every retry sends
    the same bytes but for the signature's timestamp)."""
    decision = Decision.recorded(record)
    return build_notification(record, decision, now=record.finished_at or 0.0).message
