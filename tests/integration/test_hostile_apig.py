"""The APIG adapter against a hostile server over real HTTP: every answer ends in one outcome, in bounded
time and memory, never in an exception the poller would retry forever."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskwatch.adapters.apig import ApigClient
from taskwatch.adapters.secrets import EnvCredentials
from taskwatch.domain.errors import TransientApigError
from taskwatch.domain.model import MalformedTask, Outcome, PollMessage, TaskStatus
from taskwatch.domain.outcomes import decide_outcome, outcome_for_error

pytestmark = pytest.mark.integration

CREDENTIALS = EnvCredentials({"HUAWEICLOUD_SDK_AK": "AK" * 10, "HUAWEICLOUD_SDK_SK": "SK" * 20})
MESSAGE = PollMessage(project_id="p1", instance_id="i1", task_id="t1")
Answer = Callable[[BaseHTTPRequestHandler], None]


def task(task_result: str, *, status: str = "succeed", task_type: str = "export_api") -> bytes:
    return json.dumps(
        {"task_id": "t1", "task_status": status, "task_type": task_type, "task_result": task_result}
    ).encode()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


class HostileApig:
    """A loopback server whose one answer the test chooses; it stops dripping when the client hangs up."""

    def __init__(self) -> None:
        self.answer: Answer = lambda h: send(h, 200, task(""))
        self.stop = threading.Event()
        self.dripped = 0  # bytes sent by drip(): how far the server got before the client hung up
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with contextlib.suppress(OSError):  # the client cut the connection: what a deadline does
                    outer.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def drip(self, handler: BaseHTTPRequestHandler, data: bytes, every: float) -> None:
        for byte in data:
            if self.stop.wait(every):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            self.dripped += 1


@pytest.fixture
def apig() -> Iterator[HostileApig]:
    server = HostileApig()
    yield server
    server.close()


def client(apig: HostileApig, **limits: float) -> ApigClient:
    return ApigClient(CREDENTIALS, endpoint=apig.url, **limits)  # type: ignore[arg-type]


def test_a_body_dripped_a_byte_at_a_time_ends_at_the_deadline_as_transient(apig: HostileApig) -> None:
    # Given a server that sends its headers, then one body byte every 0.2 s (each read well inside the
    # per-read timeout, so only a deadline for the whole exchange can stop it)
    body = task(json.dumps({"FileName": "x", "FileType": "json", "Comment": "{}"}))

    def dripping(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        apig.drip(handler, body, 0.2)

    apig.answer = dripping
    # When the task is read with a 1 s deadline
    with pytest.raises(TransientApigError, match="within 1 s"):
        client(apig, deadline_seconds=1.0, read_timeout=5.0).get_task(MESSAGE)
    # Then it hung up long before the server got through the body
    assert apig.dripped < len(body) // 2


def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline_as_transient(apig: HostileApig) -> None:
    def dripping(handler: BaseHTTPRequestHandler) -> None:
        apig.drip(handler, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000 + b"\r\n\r\n", 0.2)

    apig.answer = dripping
    with pytest.raises(TransientApigError, match="within 1 s"):
        client(apig, deadline_seconds=1.0, read_timeout=5.0).get_task(MESSAGE)


def test_a_gzip_bomb_stops_at_the_cap_and_ends_the_watch_with_error(apig: HostileApig) -> None:
    # Given a 200 answer of ~100 KB gzip that inflates to 100 MB
    bomb = gzip.compress(b"{" + b" " * (100 * 1024 * 1024) + b"}", compresslevel=9)
    assert len(bomb) < 200 * 1024
    apig.answer = lambda h: send(h, 200, bomb, {"Content-Encoding": "gzip"})
    # When it is read with the product's cap (64 MiB), Then it is refused as too large, without holding it
    with pytest.raises(MalformedTask, match="larger than 64 MiB") as refused:
        client(apig).get_task(MESSAGE)
    # And that is the outcome `error`
    assert outcome_for_error(refused.value, "export_api").outcome is Outcome.ERROR


def test_a_gzip_answer_under_the_cap_is_decoded(apig: HostileApig) -> None:
    body = task(json.dumps({"FileName": "api", "FileType": "json", "Comment": '{"swagger":"2.0"}'}))
    apig.answer = lambda h: send(h, 200, gzip.compress(body), {"Content-Encoding": "gzip"})
    state = client(apig).get_task(MESSAGE)
    assert state.export is not None and state.export.content == '{"swagger":"2.0"}'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 50_000 + "]" * 50_000, id="answer"),
        pytest.param(
            '{"task_id":"t1","task_status":"succeed","task_type":"import_api","task_result":"'
            + "[" * 50_000
            + "]" * 50_000
            + '"}',
            id="task_result",
        ),
    ],
)
def test_json_nested_50k_deep_is_an_error_outcome_not_a_crash(apig: HostileApig, body: str) -> None:
    apig.answer = lambda h: send(h, 200, body.encode())
    with pytest.raises(MalformedTask, match="nests deeper") as refused:
        client(apig).get_task(MESSAGE)
    assert outcome_for_error(refused.value, None).outcome is Outcome.ERROR


def test_a_deeply_nested_error_answer_is_still_an_error_outcome(apig: HostileApig) -> None:
    apig.answer = lambda h: send(h, 400, ("[" * 50_000 + "]" * 50_000).encode())
    with pytest.raises(Exception) as refused:
        client(apig).get_task(MESSAGE)
    assert outcome_for_error(refused.value, None).outcome is Outcome.ERROR


def test_lone_surrogates_are_replaced_so_everything_can_be_stored(apig: HostileApig) -> None:
    # Given an export whose name and text, and an import whose failures, hold lone surrogates
    export = json.dumps({"FileName": "api\ud83d", "FileType": "json", "Comment": '{"x":"\ud83d"}'})
    apig.answer = lambda h: send(h, 200, task(export))
    state = client(apig).get_task(MESSAGE)
    # Then every text encodes as UTF-8 (the replacement character stands in)
    assert state.export is not None
    assert state.export.content.encode() == '{"x":"\ufffd"}'.encode()
    assert (state.export.file_name or "").encode() == "api\ufffd".encode()
    report = json.dumps({"failure": [{"method": "GET", "path": "/\udc00", "error_code": "E", "error_msg": "\ud83d"}]})
    apig.answer = lambda h: send(h, 200, task(report, task_type="import_api"))
    decision = decide_outcome(client(apig).get_task(MESSAGE), "import_api")
    assert decision.outcome is Outcome.PARTIAL_FAILURE
    json.dumps(decision.failures, ensure_ascii=False).encode("utf-8")


def test_an_enormous_error_code_is_bounded(apig: HostileApig) -> None:
    apig.answer = lambda h: send(h, 400, json.dumps({"error_code": "X" * 500_000, "error_msg": "m" * 500_000}).encode())
    with pytest.raises(Exception) as refused:
        client(apig).get_task(MESSAGE)
    decision = outcome_for_error(refused.value, None)
    assert len((decision.error_code or "").encode()) <= 300 and len((decision.error_msg or "").encode()) <= 2000


def test_a_running_task_is_read_over_a_fresh_connection_each_time(apig: HostileApig) -> None:
    # A connection cut by the deadline must not poison the next poll
    apig.answer = lambda h: send(h, 200, task("", status="processing"))
    reader = client(apig)
    assert reader.get_task(MESSAGE).status is TaskStatus.PROCESSING
    assert reader.get_task(MESSAGE).status is TaskStatus.PROCESSING


def test_a_server_that_never_answers_is_transient(apig: HostileApig) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never reads or writes
    try:
        silent = ApigClient(CREDENTIALS, endpoint=f"http://127.0.0.1:{listener.getsockname()[1]}", deadline_seconds=0.5)
        with pytest.raises(TransientApigError):
            silent.get_task(MESSAGE)
    finally:
        listener.close()
