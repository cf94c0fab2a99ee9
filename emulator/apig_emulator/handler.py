"""The HTTP side of one connection: read a request, have the router answer it, record it, send the reply."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from .recording import RecordedRequest, RequestLog, redact
from .routes import Router
from .server import ConnectionTrackingServer
from .wire import ApiError, Reply, error_reply

MAX_BODY_BYTES = 64 * 1024 * 1024


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "APIGEmulator/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are dropped after this
    server: ConnectionTrackingServer

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: ConnectionTrackingServer,
        *,
        router: Router,
        log: RequestLog,
        clock: Callable[[], float],
    ) -> None:
        # Set before the base constructor, which handles the whole connection.
        self._router = router
        self._log = log
        self._clock = clock
        super().__init__(request, client_address, server)

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

    def _read_body(self, headers: dict[str, str]) -> bytes:
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                raise ApiError(411, "APIG.2012", "Chunked request bodies are not supported")
            length_text = headers.get("content-length")
            if not length_text:
                return b""
            try:
                length = int(length_text)
            except ValueError as exc:
                raise ApiError(400, "APIG.2012", "Invalid Content-Length") from exc
            if length < 0 or length > MAX_BODY_BYTES:
                raise ApiError(413, "APIG.2012", "Request body too large")
        except ApiError:
            self.close_connection = True  # the unread body would corrupt the next request
            raise
        return self.rfile.read(length)

    def _dispatch(self) -> None:
        received = self._clock()
        with self.server.answering(self.connection):
            reply, task_id = self._reply()
            # Recorded before answering, so a client that got its answer also sees the record.
            self._log.append(
                RecordedRequest(self.command, self.path, reply.status, redact(self.headers.items()), received, task_id)
            )
            self._send(reply)
        if self.server.closing:
            self.close_connection = True

    def _reply(self) -> tuple[Reply, str | None]:
        headers = self._headers()
        try:
            return self._router.respond(self.command, self.path, headers, self._read_body(headers))
        except ApiError as exc:
            return exc.reply(), None
        except Exception:  # a bug in the emulator: answer like APIG's own system error
            return error_reply(500, "APIG.9999", "System error"), None

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = _dispatch  # noqa: N815
    do_POST = _dispatch  # noqa: N815
    do_PUT = _dispatch  # noqa: N815
    do_DELETE = _dispatch  # noqa: N815
    do_PATCH = _dispatch  # noqa: N815
    do_HEAD = _dispatch  # noqa: N815
    do_OPTIONS = _dispatch  # noqa: N815
