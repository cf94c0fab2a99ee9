"""The record of answered requests, with secret header values redacted."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

REDACTED = "REDACTED"
SENSITIVE_HEADERS = frozenset({"authorization", "x-auth-token", "x-security-token"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator answered (secret header values replaced by ``REDACTED``)."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    time: float
    task_id: str | None = None


def redact(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name: (REDACTED if name.lower() in SENSITIVE_HEADERS else value) for name, value in headers}


class RequestLog:
    """Thread-safe, append-only list of :class:`RecordedRequest`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)
