"""A local stand-in for API Gateway's HTTP API in front of the webhook function.

Each HTTP request on 127.0.0.1 becomes a payload format 2.0 event, the handler is invoked in-process
with a Lambda-like context, and its answer (statusCode, headers, body, isBase64Encoded) is written back.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from taskwatch_local.event_source import LocalContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# API Gateway's own payload limit is 10 MB; reading a little past the function's 16 KiB keeps 413s real.
MAX_READ_BYTES = 1024 * 1024
_TASK_PATH = re.compile(r"/tasks/([^/]+)")


def default_handler() -> Handler:
    from functions.webhook.app import lambda_handler

    return lambda_handler


class LocalHttpApi:
    def __init__(
        self,
        handler: Handler | None = None,
        *,
        port: int = 0,
        function_timeout: float = 10.0,
        function_name: str = "taskwatch-webhook",
    ) -> None:
        self._handler = handler or default_handler()
        self._port = port
        self._function_timeout = function_timeout
        self._function_name = function_name
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # One Lambda execution environment handles one event at a time.
        self._invoke_lock = threading.Lock()
        self.url = ""

    def start(self) -> str:
        api = self

        class _RequestHandler(_HttpApiRequest):
            owner = api

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _RequestHandler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-http-api", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalHttpApi:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        context = LocalContext(function_name=self._function_name, timeout_seconds=self._function_timeout)
        with self._invoke_lock:
            return self._handler(event, context)


def build_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, host: str, source_ip: str
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway would send for this request."""
    parts = urlsplit(target)
    raw_path = parts.path or "/"
    lowered: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.append(value)
            continue
        # API Gateway joins repeated headers with commas.
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    lowered.setdefault("x-forwarded-proto", "http")
    lowered.setdefault("x-forwarded-for", source_ip)
    now = time.time()
    match = _TASK_PATH.fullmatch(raw_path)
    route_key = f"{method} /tasks/{{task_id}}" if match else f"{method} {raw_path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
            "routeKey": route_key,
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        event["queryStringParameters"] = {
            unquote(name): unquote(value)
            for name, _, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
        }
    if match:
        event["pathParameters"] = {"task_id": unquote(match.group(1))}
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


class _HttpApiRequest(BaseHTTPRequestHandler):
    owner: LocalHttpApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the function logs what matters; request lines would only repeat it

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_READ_BYTES:
            self._write(413, {"Content-Type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = build_event(
            self.command,
            self.path,
            list(self.headers.items()),
            body,
            host=self.headers.get("Host") or urlsplit(self.owner.url).netloc,
            source_ip=self.client_address[0],
        )
        try:
            answer = self.owner.invoke(event)
        except Exception:
            # What API Gateway answers when the function fails.
            self._write(500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}')
            return
        payload = answer.get("body") or ""
        data = base64.b64decode(payload) if answer.get("isBase64Encoded") else payload.encode("utf-8")
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ",".join(str(v) for v in values)
        self._write(int(answer.get("statusCode", 200)), headers, data, answer.get("cookies") or [])

    def _write(self, status: int, headers: dict[str, str], data: bytes, cookies: list[str] | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        for cookie in cookies or []:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch  # noqa: N815
