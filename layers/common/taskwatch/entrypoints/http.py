"""HTTP pieces of the webhook that no framework gives us: the size-checked body and the status URL."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from taskwatch.domain.errors import InvalidMessage, TaskwatchError
from taskwatch.domain.limits import MAX_REQUEST_BYTES

_STAGE = re.compile(r"[A-Za-z0-9_-]{1,128}")


class BodyTooLarge(TaskwatchError):
    """The body is over MAX_REQUEST_BYTES; it was neither decoded nor parsed."""


def read_body(raw: str | None, *, is_base64: bool) -> bytes:
    """The request's raw bytes, size-checked before anything is decoded or parsed."""
    if not raw:
        return b""
    if is_base64:
        # base64 grows by 4/3: anything longer cannot decode to an allowed body.
        if len(raw) > (MAX_REQUEST_BYTES + 2) // 3 * 4 + 4:
            raise BodyTooLarge()
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMessage(["body: isBase64Encoded is set but the body is not base64"]) from None
    else:
        if len(raw) > MAX_REQUEST_BYTES:
            raise BodyTooLarge()
        body = raw.encode("utf-8", "surrogatepass")
    if len(body) > MAX_REQUEST_BYTES:
        raise BodyTooLarge()
    return body


def status_url(domain: str, stage: str | None, task_id: str, *, scheme: str = "https") -> str:
    """Where the task's status can be read: `https://{domain}[/{stage}]/tasks/{task_id}`."""
    prefix = f"/{stage}" if stage and stage != "$default" else ""
    return f"{scheme}://{domain}{prefix}/tasks/{task_id}"


def stage_of(request_context: Mapping[str, Any]) -> str | None:
    stage = request_context.get("stage")
    return stage if isinstance(stage, str) and _STAGE.fullmatch(stage) else None
