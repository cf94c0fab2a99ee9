"""AWS answers lost on the way back, inside botocore's own retry loop: a proxy on 127.0.0.1 lets the
request reach moto (so it takes effect) and then never returns the answer. botocore times out and sends
the same call again; the watch must still end with one object version, one successor, no race."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import botocore.config
import pytest

from apig_emulator import ScriptedAnswer
from taskwatch import wiring
from taskwatch.adapters import aws
from tests.integration.conftest import Harness, poll_message

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]
SWAGGER = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1.0"}}'
Match = Callable[[str, str, dict[str, str], bytes], bool]


@dataclass
class LosingProxy:
    """Forwards every request; swallows the answer of the first one that `lose` matches."""

    upstream: str
    lose: Match = lambda method, path, headers, body: False
    lost: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        proxy = self
        target = urlsplit(self.upstream)
        hold = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                if not proxy.lost and proxy.lose(self.command, self.path, dict(self.headers), body):
                    proxy.lost.append(f"{self.command} {self.path}")
                    hold.wait(5)  # the request took effect; its answer never comes back
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward()

            def do_PUT(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._hold = hold
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxied(
    make_harness: Any, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Harness, LosingProxy]]:
    harness: Harness = make_harness()
    proxy = LosingProxy(aws_endpoint)
    # The functions reach AWS through the proxy, with a read timeout short enough for a test; the
    # retries stay botocore's own (standard mode), which is the loop this test is about.
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    original = botocore.config.Config

    def short(*args: Any, **kwargs: Any) -> botocore.config.Config:
        return original(*args, **{**kwargs, "read_timeout": 1, "connect_timeout": 1})

    monkeypatch.setattr(botocore.config, "Config", short)
    wiring.reset()
    aws.client.cache_clear()
    try:
        yield harness, proxy
    finally:
        proxy.close()
        harness.source.stop()


def test_a_lost_putobject_answer_still_leaves_one_object_version(proxied: tuple[Harness, LosingProxy]) -> None:
    harness, proxy = proxied
    # Given the answer to the export's PutObject is lost (the object was written)
    proxy.lose = lambda method, path, headers, body: method == "PUT" and "/exports/" in path
    harness.apig.script("lost1", [ScriptedAnswer.export_json(SWAGGER, file_name="petstore")], task_type="export_api")
    # When the watch runs
    harness.send(poll_message("lost1", expected_type="export_api"))
    harness.run_until_finished("lost1", timeout=40)
    # Then botocore's retry wrote nothing more: one version, and the watch succeeded
    assert proxy.lost and proxy.lost[0].startswith("PUT ")
    assert harness.stack.object_versions() == 1
    record = harness.record("lost1")
    assert record is not None and record["status"] == "succeeded"


def test_a_lost_sendmessage_answer_does_not_fork_the_chain(proxied: tuple[Harness, LosingProxy]) -> None:
    harness, proxy = proxied
    # Given the answer to the first re-enqueue is lost (the successor was sent; botocore sends another)
    proxy.lose = lambda method, path, headers, body: (
        b"SendMessage" in body or "SendMessage" in headers.get("X-Amz-Target", "")
    )
    harness.apig.script(
        "lost2", [ScriptedAnswer.processing(), ScriptedAnswer.export_json(SWAGGER)], task_type="export_api"
    )
    # When the watch runs to its end and the queue drains
    harness.send(poll_message("lost2", expected_type="export_api"))
    harness.run_until_finished("lost2", timeout=40)
    harness.drain(5)
    # Then APIG was polled twice (not three times), the export stored once, the record says two polls
    assert proxy.lost
    assert harness.apig.calls("lost2") == 2
    assert harness.stack.object_versions() == 1
    record = harness.record("lost2")
    assert record is not None and (record["status"], record["attempts"]) == ("succeeded", 2)
