"""The APIG async-task emulator: an HTTP server speaking Huawei Cloud API Gateway's wire format."""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from . import signing
from .steps import Step, import_result
from .swagger import SwaggerError, export_document, summarize, to_yaml

REDACTED = "REDACTED"
SENSITIVE_HEADERS = frozenset({"authorization", "x-auth-token", "x-security-token"})
MAX_BODY_BYTES = 64 * 1024 * 1024

_SEGMENT = r"([^/?#]+)"
_TASK_RE = re.compile(rf"^/v2/{_SEGMENT}/apigw/instances/{_SEGMENT}/async-tasks/{_SEGMENT}/?$")
_IMPORT_RE = re.compile(rf"^/v2/{_SEGMENT}/apigw/instances/{_SEGMENT}/openapi/async-import/?$")
_EXPORT_RE = re.compile(rf"^/v2/{_SEGMENT}/apigw/instances/{_SEGMENT}/openapi/async-export/?$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator answered (secret header values replaced by ``REDACTED``)."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    time: float
    task_id: str | None = None


@dataclass
class _ScriptedTask:
    steps: list[Step]
    task_type: str
    project_id: str | None
    instance_id: str | None
    served: int = 0
    last: Step | None = None


@dataclass
class _CreatedTask:
    task_type: str
    project_id: str
    instance_id: str
    created_at: float
    outcome: Step


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, error_msg: str, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {error_code}: {error_msg}")
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.headers = dict(headers or {})


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _error_answer(status: int, error_code: str, error_msg: str, headers: Mapping[str, str] | None = None) -> _Answer:
    return _Answer(status, _json_bytes({"error_code": error_code, "error_msg": error_msg}), headers=dict(headers or {}))


class ApigEmulator:
    """Emulates APIG's async import/export task API on ``127.0.0.1``.

    ``clock`` drives task progress and the X-Sdk-Date skew check (so a fake clock should start
    near the real time when SDK-signed requests are used).
    """

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        temporary: Mapping[str, tuple[str, str]] | None = None,
        tokens: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        waiting_seconds: float = 1.0,
        processing_seconds: float = 2.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self._credentials: dict[str, str] = dict(credentials or {})
        self._temporary: dict[str, tuple[str, str]] = dict(temporary or {})
        self._tokens: set[str] = set(tokens or ())
        self.clock = clock
        self.waiting_seconds = waiting_seconds
        self.processing_seconds = processing_seconds
        self._host = host
        self._port = port
        self._scripted: dict[str, _ScriptedTask] = {}
        self._created: dict[str, _CreatedTask] = {}
        self._calls: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a background thread; returns the base URL ``http://127.0.0.1:<port>``."""
        if self._server is not None:
            return self.url
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler, self)
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host if isinstance(host, str) else host.decode()}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="apig-emulator", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving: close every connection, free the port and join the server's threads."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        server.join_handlers(timeout=5.0)
        if thread is not None:
            thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    def __enter__(self) -> ApigEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (used by ``python -m apig_emulator``)."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    # -- configuration -----------------------------------------------------------------------------
    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        """Replace the accepted permanent AK/SK pairs (temporary credentials are kept)."""
        with self._lock:
            self._credentials = dict(credentials)

    def set_temporary(self, temporary: Mapping[str, tuple[str, str]]) -> None:
        """Replace the accepted temporary credentials ``{AK: (SK, security_token)}``."""
        with self._lock:
            self._temporary = dict(temporary)

    def set_tokens(self, tokens: Iterable[str]) -> None:
        """Replace the accepted X-Auth-Token values."""
        with self._lock:
            self._tokens = set(tokens)

    def script(
        self,
        task_id: str,
        steps: list[Step],
        task_type: str = "export_api",
        project_id: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        """Script a task: each GET consumes the next step; the last step repeats forever.

        ``project_id``/``instance_id`` of ``None`` match any value in the path.
        """
        if not steps:
            raise ValueError("a scripted task needs at least one step")
        with self._lock:
            self._scripted[task_id] = _ScriptedTask(list(steps), task_type, project_id, instance_id)
            self._created.pop(task_id, None)
            self._calls.setdefault(task_id, 0)

    def create_task(
        self,
        task_type: str,
        project_id: str,
        instance_id: str,
        outcome: Step | None = None,
    ) -> str:
        """Create a task that is waiting, then processing, then answers ``outcome``.

        The default outcome is an empty import report (import_api) or a generated export (export_api).
        Returns the new task id (32 hex characters).
        """
        if outcome is None:
            if task_type == "import_api":
                outcome = Step.succeed(import_result([], [], [], None))
            else:
                outcome = self._export_outcome("default-group", "all", "json")
        task_id = uuid.uuid4().hex
        with self._lock:
            self._created[task_id] = _CreatedTask(task_type, project_id, instance_id, self.clock(), outcome)
            self._calls[task_id] = 0
        return task_id

    # -- inspection ------------------------------------------------------------------------------
    def calls(self, task_id: str) -> int:
        """How many GETs (that passed authentication) reached this task."""
        with self._lock:
            return self._calls.get(task_id, 0)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the answered requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def task_status(self, task_id: str) -> str:
        """The task's current state.

        Created tasks: computed from the clock (``waiting``/``processing``/``succeed``/``failed``).
        Scripted tasks: the state of the step answered last (or of the first step before any GET);
        HTTP-level steps report ``error:<status>`` / ``raw:<status>``. Unknown task: ``KeyError``.
        """
        with self._lock:
            created = self._created.get(task_id)
            if created is not None:
                return self._created_step(created).state
            scripted = self._scripted.get(task_id)
            if scripted is None:
                raise KeyError(task_id)
            return (scripted.last or scripted.steps[0]).state

    # -- internals ---------------------------------------------------------------------------------
    def _created_step(self, task: _CreatedTask) -> Step:
        elapsed = self.clock() - task.created_at
        if elapsed < self.waiting_seconds:
            return Step.waiting()
        if elapsed < self.waiting_seconds + self.processing_seconds:
            return Step.processing()
        return task.outcome

    def _export_outcome(self, group_id: str, define: str, file_type: str) -> Step:
        stamp = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%Y-%m-%d-%H:%M:%S")
        document = export_document(group_id, define, stamp)
        if file_type == "yaml":
            text = to_yaml(document)
            suffix = ".yaml"
        else:
            text = json.dumps(document, indent="\t")
            suffix = ".json"
        return Step.export_json(text, file_name=f"{group_id}-RELEASE-{define}-{stamp}", file_type=suffix)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _authenticate(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> None:
        with self._lock:
            tokens = set(self._tokens)
            secrets = dict(self._credentials)
            temporary = dict(self._temporary)
        token = headers.get("x-auth-token")
        if token is not None:
            if not any(hmac.compare_digest(token.encode(), t.encode()) for t in tokens):
                raise ApiError(401, "APIG.0307", "The token must be updated")
            return
        secrets.update({ak: sk for ak, (sk, _) in temporary.items()})
        try:
            auth = signing.verify(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                secrets=secrets,
                now=self.clock(),
            )
        except signing.SignatureError as exc:
            raise ApiError(401, "APIG.1002", f"Incorrect IAM authentication information: {exc}") from exc
        if auth.access_key in temporary:
            expected = temporary[auth.access_key][1]
            sent = headers.get("x-security-token", "")
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                raise ApiError(
                    401,
                    "APIG.1002",
                    "Incorrect IAM authentication information: invalid or missing X-Security-Token",
                )

    def _handle(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[_Answer, str | None]:
        """Route, authenticate and answer. Returns the answer and the task id (task reads only)."""
        parts = urlsplit(raw_path)
        path, query = parts.path, parts.query
        routes: list[tuple[re.Pattern[str], str]] = [
            (_TASK_RE, "GET"),
            (_IMPORT_RE, "POST"),
            (_EXPORT_RE, "POST"),
        ]
        for pattern, allowed in routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method != allowed:
                raise ApiError(405, "APIG.0102", f"The method {method} is not allowed", {"Allow": allowed})
            self._authenticate(method, path, query, headers, body)
            project_id = unquote(match.group(1))
            instance_id = unquote(match.group(2))
            sent_project = headers.get("x-project-id")
            if sent_project is not None and sent_project.strip() != project_id:
                raise ApiError(
                    400,
                    "APIG.2011",
                    "The parameter value is invalid,parameterName:X-Project-Id (must match the URI)",
                )
            if pattern is _TASK_RE:
                task_id = unquote(match.group(3))
                return self._get_task(project_id, instance_id, task_id), task_id
            if pattern is _IMPORT_RE:
                return self._post_import(project_id, instance_id, headers, body), None
            return self._post_export(project_id, instance_id, body), None
        raise ApiError(404, "APIG.3002", "The API does not exist or has not been published in an environment")

    def _get_task(self, project_id: str, instance_id: str, task_id: str) -> _Answer:
        with self._lock:
            created = self._created.get(task_id)
            if created is not None and (created.project_id, created.instance_id) == (project_id, instance_id):
                self._calls[task_id] = self._calls.get(task_id, 0) + 1
                step = self._created_step(created)
                task_type = created.task_type
            else:
                scripted = self._scripted.get(task_id)
                if (
                    scripted is None
                    or scripted.project_id not in (None, project_id)
                    or scripted.instance_id not in (None, instance_id)
                ):
                    raise ApiError(404, "APIG.3093", f"The asynchronous task {task_id} does not exist")
                self._calls[task_id] = self._calls.get(task_id, 0) + 1
                step = scripted.steps[min(scripted.served, len(scripted.steps) - 1)]
                scripted.served += 1
                scripted.last = step
                task_type = scripted.task_type
        if step.kind == "slow":
            if self._stopping.wait(step.seconds):
                raise ApiError(503, "APIG.9999", "The emulator is stopping")
            step = step.answer
        return self._step_answer(step, task_id, task_type)

    @staticmethod
    def _step_answer(step: Step, task_id: str, task_type: str) -> _Answer:
        if step.kind == "error":
            return _error_answer(step.status, step.error_code, step.error_msg)
        if step.kind == "raw":
            return _Answer(step.status, step.body, content_type=step.content_type)
        payload = {
            "task_id": task_id,
            "task_status": step.kind,
            "task_type": task_type,
            "task_result": step.task_result if step.kind in ("succeed", "failed") else "",
        }
        return _Answer(200, _json_bytes(payload))

    def _post_import(self, project_id: str, instance_id: str, headers: Mapping[str, str], body: bytes) -> _Answer:
        fields, files = _parse_multipart(headers.get("content-type", ""), body)
        upload = files.get("file_name")
        if upload is None:
            raise ApiError(400, "APIG.2001", "The request parameters must be specified,parameterName:file_name")
        is_create = fields.get("is_create_group", "true").strip().lower()
        if is_create not in ("true", "false"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:is_create_group")
        group_id = fields.get("group_id", "").strip() or None
        if is_create == "false" and group_id is None:
            raise ApiError(400, "APIG.2001", "The request parameters must be specified,parameterName:group_id")
        extend_mode = fields.get("extend_mode", "merge").strip() or "merge"
        if extend_mode not in ("merge", "override"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:extend_mode")
        try:
            summary = summarize(upload)
        except SwaggerError as exc:
            raise ApiError(400, "APIG.2012", f"The parameter value is invalid,parameterName:file_name ({exc})") from exc
        outcome: Step
        if "broken" in summary.title.lower():
            outcome = Step.failed("APIG.3201", "The API group name already exists")
        else:
            success: list[dict[str, Any]] = []
            failure: list[dict[str, Any]] = []
            action = "update" if (is_create == "false" and extend_mode == "override") else "create"
            for http_method, api_path in summary.operations:
                if "/fail" in api_path:
                    failure.append(
                        {
                            "method": http_method,
                            "path": api_path,
                            "error_code": "APIG.3201",
                            "error_msg": "Backend address is invalid",
                        }
                    )
                else:
                    success.append({"id": uuid.uuid4().hex, "action": action, "method": http_method, "path": api_path})
            outcome = Step.succeed(import_result(success, failure, [], group_id))
        task_id = self.create_task("import_api", project_id, instance_id, outcome)
        return _Answer(200, _json_bytes({"task_id": task_id}))

    def _post_export(self, project_id: str, instance_id: str, body: bytes) -> _Answer:
        try:
            request = json.loads(body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "APIG.2012", "The request body is not valid JSON") from exc
        if not isinstance(request, dict):
            raise ApiError(400, "APIG.2012", "The request body must be a JSON object")
        for name in ("env_id", "group_id"):
            value = request.get(name)
            if not isinstance(value, str) or not value:
                raise ApiError(400, "APIG.2001", f"The request parameters must be specified,parameterName:{name}")
        define = request.get("define", "all")
        if define not in ("all", "base", "full"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:define")
        file_type = request.get("type", "json")
        if file_type not in ("json", "yaml"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:type")
        outcome = self._export_outcome(str(request["group_id"]), str(define), str(file_type))
        task_id = self.create_task("export_api", project_id, instance_id, outcome)
        return _Answer(200, _json_bytes({"task_id": task_id}))


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart/form-data body into text fields and file fields (by field name)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "APIG.2012", "The request must be multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise ApiError(400, "APIG.2012", "The multipart body cannot be parsed")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        part = cast(EmailMessage, part)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections and handler threads so stop() is prompt."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: ApigEmulator):
        self.emulator = emulator
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="apig-emulator-conn",
            daemon=True,
        )
        with self._conn_lock:
            self._connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._connections.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Broken connections (clients timing out, stop() closing sockets) are expected here.
        return

    def close_connections(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "APIGEmulator/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are dropped after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _headers(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, value in self.headers.items():
            # http.client sends header values as latin-1; the SDK encodes UTF-8 values that way.
            try:
                text = value.encode("latin-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                text = value
            result.setdefault(name.lower(), text)
        return result

    def _read_body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError as exc:
            raise ApiError(400, "APIG.2012", "Invalid Content-Length") from exc
        if length < 0 or length > MAX_BODY_BYTES:
            raise ApiError(413, "APIG.2012", "Request body too large")
        return self.rfile.read(length)

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        received = emulator.clock()
        headers = self._headers()
        task_id: str | None = None
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.close_connection = True
                raise ApiError(411, "APIG.2012", "Chunked request bodies are not supported")
            try:
                body = self._read_body()
            except ApiError:
                self.close_connection = True  # the unread body would corrupt the next request
                raise
            answer, task_id = emulator._handle(self.command, self.path, headers, body)
        except ApiError as exc:
            answer = _error_answer(exc.status, exc.error_code, exc.error_msg, exc.headers)
        except Exception:  # a bug in the emulator: answer like APIG's own system error
            answer = _error_answer(500, "APIG.9999", "System error")
        # Recorded before answering, so a client that got its answer also sees the record.
        recorded = {
            name: (REDACTED if name.lower() in SENSITIVE_HEADERS else value) for name, value in self.headers.items()
        }
        emulator._record(RecordedRequest(self.command, self.path, answer.status, recorded, received, task_id))
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = _dispatch  # noqa: N815
    do_POST = _dispatch  # noqa: N815
    do_PUT = _dispatch  # noqa: N815
    do_DELETE = _dispatch  # noqa: N815
    do_PATCH = _dispatch  # noqa: N815
    do_HEAD = _dispatch  # noqa: N815
    do_OPTIONS = _dispatch  # noqa: N815
