"""The task model: poll messages, APIG task states, parsed task results and outcomes.

Pure data and parsing; nothing here touches the network.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from taskwatch.domain.errors import InvalidMessage
from taskwatch.domain.limits import DYNAMODB_MAX_DIGITS, MAX_ANSWER_DEPTH, MAX_SOURCE_BYTES, MAX_WATCH_SECONDS
from taskwatch.domain.text import clean_text, encodable, scrub, strings

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
REGION_PATTERN = re.compile(r"[a-z0-9-]{1,32}")
MAX_SOURCE_DEPTH = 16  # DynamoDB stores at most 32 levels; the record nests `source` one level down
TASK_TYPES = ("import_api", "export_api")
PUBLIC_FIELDS = (
    "project_id",
    "instance_id",
    "task_id",
    "region",
    "expected_type",
    "max_wait_seconds",
    "source",
    "group_id",
    "env_id",
    "callback_url",
)
MAX_CALLBACK_URL_CHARS = 2048
BOOKKEEPING_FIELDS = ("attempt", "first_poll_at", "last_poll_at", "claim", "notified")


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIAL_FAILURE = "partial_failure"
    FAILED = "failed"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    TIMED_OUT = "timed_out"
    ERROR = "error"


class TaskStatus(StrEnum):
    WAITING = "waiting"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def running(self) -> bool:
        return self in (TaskStatus.WAITING, TaskStatus.PROCESSING)


@dataclass(frozen=True)
class PollMessage:
    """The SQS body that starts or continues a watch.

    The public fields come from CI; `attempt`, `first_poll_at`, `claim` and `notified` are the
    poller's own bookkeeping (see watcher.py for what they fence).
    """

    project_id: str
    instance_id: str
    task_id: str
    region: str | None = None
    expected_type: str | None = None
    max_wait_seconds: int | None = None
    source: dict[str, Any] | None = None
    group_id: str | None = None  # an export's API group and environment: the identity of its drift report
    env_id: str | None = None
    callback_url: str | None = None  # where the outcome is POSTed (docs/contract.md, "Outcome callbacks")
    attempt: int = 0
    first_poll_at: float | None = None
    last_poll_at: float | None = None
    claim: str | None = None
    notified: bool = False

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "project_id": self.project_id,
            "instance_id": self.instance_id,
            "task_id": self.task_id,
        }
        for name in (
            "region",
            "expected_type",
            "max_wait_seconds",
            "source",
            "group_id",
            "env_id",
            "callback_url",
            "first_poll_at",
            "last_poll_at",
            "claim",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.attempt:
            body["attempt"] = self.attempt
        if self.notified:
            body["notified"] = True
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def parse_poll_message(raw: str | bytes | dict[str, Any], *, allow_bookkeeping: bool = True) -> PollMessage:
    """Validate a poll message; raise InvalidMessage naming every problem at once."""
    if isinstance(raw, dict):
        body: Any = raw
    else:
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidMessage(["body: not valid JSON"]) from None
    if not isinstance(body, dict):
        raise InvalidMessage(["body: must be a JSON object"])

    problems: list[str] = []
    allowed = PUBLIC_FIELDS + (BOOKKEEPING_FIELDS if allow_bookkeeping else ())
    problems.extend(f"{name}: unknown field" for name in sorted(body) if name not in allowed)

    for name in ("project_id", "instance_id", "task_id"):
        value = body.get(name)
        if value is None:
            problems.append(f"{name}: required")
        elif not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            problems.append(f"{name}: must match [A-Za-z0-9_-]{{1,64}}")

    for name in ("group_id", "env_id"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not ID_PATTERN.fullmatch(value)):
            problems.append(f"{name}: must match [A-Za-z0-9_-]{{1,64}}")

    callback_url = body.get("callback_url")
    if callback_url is not None:
        problems.extend(callback_url_syntax(callback_url))

    region = body.get("region")
    if region is not None and (not isinstance(region, str) or not REGION_PATTERN.fullmatch(region)):
        problems.append("region: must match [a-z0-9-]{1,32}")

    expected_type = body.get("expected_type")
    if expected_type is not None and expected_type not in TASK_TYPES:
        problems.append("expected_type: must be import_api or export_api")

    max_wait = body.get("max_wait_seconds")
    if max_wait is not None and (not _is_int(max_wait) or not 1 <= max_wait <= MAX_WATCH_SECONDS):
        problems.append(f"max_wait_seconds: must be an integer from 1 to {MAX_WATCH_SECONDS}")

    source = body.get("source")
    if source is not None:
        problems.extend(_source_problems(source))

    if allow_bookkeeping:
        problems.extend(_bookkeeping_problems(body))

    if problems:
        raise InvalidMessage(problems)
    first_poll_at = body.get("first_poll_at")
    last_poll_at = body.get("last_poll_at")
    return PollMessage(
        project_id=body["project_id"],
        instance_id=body["instance_id"],
        task_id=body["task_id"],
        region=region,
        expected_type=expected_type,
        max_wait_seconds=max_wait,
        source=source,
        group_id=body.get("group_id"),
        env_id=body.get("env_id"),
        callback_url=callback_url,
        attempt=body.get("attempt", 0),
        first_poll_at=float(first_poll_at) if first_poll_at is not None else None,
        last_poll_at=float(last_poll_at) if last_poll_at is not None else None,
        claim=body.get("claim"),
        notified=body.get("notified", False),
    )


def depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0), without recursion: any depth is safe to measure."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            pending.extend((child, level + 1) for child in item.values())
            deepest = max(deepest, level + 1)
        elif isinstance(item, list):
            pending.extend((child, level + 1) for child in item)
            deepest = max(deepest, level + 1)
    return deepest


def _numbers(value: Any) -> Iterator[int | float]:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            yield item


def storable_number(number: int | float) -> bool:
    """True when DynamoDB can store the number: at most 38 significant digits, magnitude 1e-130..1e126."""
    if isinstance(number, float) and not math.isfinite(number):
        return False
    exact = Decimal(number) if isinstance(number, int) else Decimal(repr(number))
    if exact == 0:
        return True
    digits = exact.as_tuple().digits
    significant = len(bytes(digits).rstrip(b"\x00"))  # trailing zeros cost DynamoDB nothing
    return significant <= DYNAMODB_MAX_DIGITS and Decimal("1e-130") <= abs(exact) < Decimal("1e126")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def load_json(text: str, *, what: str, max_depth: int = MAX_ANSWER_DEPTH) -> Any:
    """Parse JSON from outside (APIG) so that nothing in it can crash us later: no NaN/Infinity, at most
    `max_depth` levels, no lone surrogates. Anything else is MalformedTask, which ends the watch."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedTask(f"{what} nests deeper than {max_depth} levels") from None
    except ValueError:
        raise MalformedTask(f"{what} is not JSON") from None
    if depth(value) > max_depth:
        raise MalformedTask(f"{what} nests deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(text):
        value = scrub(value)
    return value


def _source_problems(source: Any) -> list[str]:
    """The CI context must be a small object that DynamoDB can store as it is."""
    problems: list[str] = []
    if not isinstance(source, dict):
        problems.append("source: must be a JSON object")
    elif len(json.dumps(source, separators=(",", ":")).encode()) > MAX_SOURCE_BYTES:
        problems.append(f"source: must be at most {MAX_SOURCE_BYTES} bytes as JSON")
    elif depth(source) > MAX_SOURCE_DEPTH:
        problems.append(f"source: must nest at most {MAX_SOURCE_DEPTH} levels")
    else:
        if not all(encodable(text) for text in strings(source)):
            problems.append("source: holds text that is not valid Unicode (a lone surrogate)")
        if not all(storable_number(number) for number in _numbers(source)):
            problems.append("source: holds a number DynamoDB cannot store (more than 38 digits, or beyond 1e±126)")
    return problems


def callback_url_syntax(value: Any) -> list[str]:
    """What is wrong with a callback URL's form (where it may point is checked against the allow list)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CALLBACK_URL_CHARS or not value.isascii():
        return [f"callback_url: must be an ASCII URL of at most {MAX_CALLBACK_URL_CHARS} characters"]
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return ["callback_url: not a URL"]
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["callback_url: must be an https URL"]
    if parts.username is not None or parts.password is not None or parts.fragment:
        return ["callback_url: must carry no user name, password or fragment"]
    if any(ch.isspace() or ord(ch) < 32 for ch in value) or (port is not None and not 0 < port < 65536):
        return ["callback_url: not a URL"]
    return []


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _bookkeeping_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    attempt = body.get("attempt", 0)
    if not _is_int(attempt) or attempt < 0:
        problems.append("attempt: must be a non-negative integer")
    for name in ("first_poll_at", "last_poll_at"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{name}: must be a number")
    claim = body.get("claim")
    if claim is not None and (not isinstance(claim, str) or not 0 < len(claim) <= 128):
        problems.append("claim: must be a string")
    if not isinstance(body.get("notified", False), bool):
        problems.append("notified: must be a boolean")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- task results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportFailure:
    method: str
    path: str
    error_code: str
    error_msg: str

    def as_dict(self) -> dict[str, str]:
        return {"method": self.method, "path": self.path, "error_code": self.error_code, "error_msg": self.error_msg}


@dataclass(frozen=True)
class ExportResult:
    """An exported definition: the swagger text exactly as APIG sent it."""

    content: str
    file_name: str | None
    file_type: str  # "json" or "yaml"

    @property
    def content_type(self) -> str:
        return "application/json" if self.file_type == "json" else "application/yaml"


@dataclass(frozen=True)
class ImportReport:
    group_id: str | None
    success: list[dict[str, Any]]
    failures: list[ImportFailure]
    ignore: list[dict[str, Any]]
    swagger: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TaskError:
    error_code: str
    error_msg: str


@dataclass(frozen=True)
class TaskState:
    """What APIG said about a task, parsed. Exactly one of the result fields is set for terminal states."""

    task_id: str
    status: TaskStatus
    task_type: str
    export: ExportResult | None = None
    report: ImportReport | None = None
    error: TaskError | None = None


class MalformedTask(ValueError):
    """APIG's answer does not have a shape we understand; the watch ends with outcome `error`."""


def parse_task(body: Any) -> TaskState:
    """Parse a GET async-tasks answer (already JSON-decoded) into a TaskState."""
    if not isinstance(body, dict):
        raise MalformedTask("task answer is not a JSON object")
    try:
        status = TaskStatus(str(body.get("task_status")))
    except ValueError:
        raise MalformedTask(f"unknown task_status {str(body.get('task_status'))[:40]!r}") from None
    task_type = body.get("task_type")
    if task_type not in TASK_TYPES:
        raise MalformedTask(f"unknown task_type {str(task_type)[:40]!r}")
    task_id = body.get("task_id")
    if not isinstance(task_id, str):
        raise MalformedTask("task_id is missing")
    raw_result = body.get("task_result")
    if status.running:
        return TaskState(task_id, status, task_type)
    result = _decode_result(raw_result)
    if status is TaskStatus.FAILED:
        return TaskState(task_id, status, task_type, error=_parse_error(result))
    if task_type == "export_api":
        return TaskState(task_id, status, task_type, export=_parse_export(result))
    return TaskState(task_id, status, task_type, report=_parse_import(result))


def _decode_result(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw:
        raise MalformedTask("task_result is empty for a finished task")
    decoded = load_json(raw, what="task_result")
    if not isinstance(decoded, dict):
        raise MalformedTask("task_result is not a JSON object")
    return decoded


def _parse_error(result: dict[str, Any]) -> TaskError:
    code = result.get("error_code")
    msg = result.get("error_msg")
    return TaskError(
        error_code=code if isinstance(code, str) and code else "APIG.UNKNOWN",
        error_msg=msg if isinstance(msg, str) else "the task failed without an error message",
    )


def _parse_export(result: dict[str, Any]) -> ExportResult:
    # The docs name the fields file_type/content; the published example sends FileName/FileType/Comment.
    content = result.get("Comment", result.get("content"))
    if not isinstance(content, str):
        raise MalformedTask("export result has no swagger text (Comment/content)")
    file_type_raw = result.get("FileType", result.get("file_type"))
    file_name = result.get("FileName")
    if file_name is not None and not isinstance(file_name, str):
        raise MalformedTask("export FileName is not a string")
    return ExportResult(content=content, file_name=file_name or None, file_type=_file_type(file_type_raw, content))


def _file_type(raw: Any, content: str) -> str:
    if isinstance(raw, str):
        kind = raw.strip().lstrip(".").lower()
        if kind in ("json", "yaml", "yml"):
            return "yaml" if kind == "yml" else kind
        if kind:
            raise MalformedTask(f"unknown export file type {raw[:20]!r}")
    elif raw is not None:
        raise MalformedTask("export file type is not a string")
    return "json" if content.lstrip()[:1] in ("{", "[") else "yaml"


def _parse_import(result: dict[str, Any]) -> ImportReport:
    success = _list_of_objects(result, "success")
    failure = _list_of_objects(result, "failure")
    ignore = _list_of_objects(result, "ignore")
    swagger = result.get("swagger")
    if swagger is not None and not isinstance(swagger, dict):
        raise MalformedTask("import swagger is not an object")
    group_id = result.get("group_id")
    failures = [
        ImportFailure(
            method=_text(item.get("method")),
            path=_text(item.get("path")),
            error_code=_text(item.get("error_code")),
            error_msg=_text(item.get("error_msg")),
        )
        for item in failure
    ]
    return ImportReport(
        group_id=group_id if isinstance(group_id, str) else None,
        success=success,
        failures=failures,
        ignore=ignore,
        swagger=swagger,
        raw=result,
    )


def _list_of_objects(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = result.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedTask(f"import {name} is not a list of objects")
    return value


def _text(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else "" if value is None else str(value)
