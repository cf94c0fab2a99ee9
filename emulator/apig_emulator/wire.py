"""APIG's wire format: the replies the emulator sends and the errors that become them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .answers import ScriptedAnswer


@dataclass
class Reply:
    """One HTTP answer, ready to send."""

    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An APIG error answer ``{"error_code","error_msg"}``; raised anywhere while answering a request."""

    def __init__(self, status: int, error_code: str, error_msg: str, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {error_code}: {error_msg}")
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.headers = dict(headers or {})

    def reply(self) -> Reply:
        return error_reply(self.status, self.error_code, self.error_msg, self.headers)


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def error_reply(status: int, error_code: str, error_msg: str, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json_bytes({"error_code": error_code, "error_msg": error_msg}), headers=dict(headers or {}))


def task_reply(answer: ScriptedAnswer, task_id: str, task_type: str) -> Reply:
    """The reply to a task GET answering ``answer`` (which must not be a slow answer)."""
    if answer.kind == "error":
        return error_reply(answer.status, answer.error_code, answer.error_msg)
    if answer.kind == "raw":
        return Reply(answer.status, answer.body, content_type=answer.content_type)
    payload = {
        "task_id": task_id,
        "task_status": answer.kind,
        "task_type": task_type,
        "task_result": answer.task_result if answer.kind in ("succeed", "failed") else "",
    }
    return Reply(200, json_bytes(payload))
