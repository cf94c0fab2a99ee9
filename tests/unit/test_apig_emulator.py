"""Tests of the APIG emulator: real HTTP, requests signed by huaweicloudsdkcore's own signer."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from apig_emulator import ApigEmulator, ScriptedAnswer

PROJECT = "0123456789abcdef0123456789abcdef"
INSTANCE = "eddc4d25480b4cd6b512f270a1b8b341"
TASK = "d9ce8c9eede54b3f841ec324fe0bfdc2"
AK, SK = "AK1", "SK1"
TEMP_AK, TEMP_SK, TEMP_TOKEN = "AK2", "SK2", "SECTOKEN"
TOKEN = "tok"


class FakeClock:
    """A clock the tests advance by hand; it starts at the real time so SDK dates stay in range."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[ApigEmulator]:
    emulator = ApigEmulator(
        credentials={AK: SK},
        temporary={TEMP_AK: (TEMP_SK, TEMP_TOKEN)},
        tokens={TOKEN},
        clock=clock,
        waiting_seconds=1.0,
        processing_seconds=2.0,
    )
    with emulator:
        yield emulator


def task_path(task_id: str = TASK, project: str = PROJECT, instance: str = INSTANCE) -> str:
    return f"/v2/{project}/apigw/instances/{instance}/async-tasks/{task_id}"


def send(
    emu: ApigEmulator, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(emu.url + path, data=body or None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, answer_headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, answer_headers = exc.code, exc.read(), dict(exc.headers)
    text = raw.decode("utf-8")
    try:
        return status, json.loads(text), answer_headers
    except json.JSONDecodeError:
        return status, text, answer_headers


def signed(
    emu: ApigEmulator,
    method: str,
    path: str,
    *,
    ak: str = AK,
    sk: str = SK,
    security_token: str | None = None,
    body: bytes = b"",
    content_type: str = "application/json",
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Sign a request with huaweicloudsdkcore exactly as the SDK would; returns the headers to send."""
    host = emu.url.removeprefix("http://")
    request = SdkRequest(
        method=method,
        schema="http",
        host=host,
        resource_path=path,
        query_params=[],
        header_params={"Content-Type": content_type, **(extra_headers or {})},
        body=body,
    )
    credentials = BasicCredentials(ak, sk, PROJECT)
    if security_token is not None:
        credentials = credentials.with_security_token(security_token)
    credentials.sign_request(request)
    return dict(request.header_params)


def signed_get(emu: ApigEmulator, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    return send(emu, "GET", path, signed(emu, "GET", path, **kwargs))


# --- signed GET of every answer shape ----------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "check"),
    [
        (ScriptedAnswer.waiting(), "waiting", lambda r: r == ""),
        (ScriptedAnswer.processing(), "processing", lambda r: r == ""),
        (ScriptedAnswer.succeed({"a": 1}), "succeed", lambda r: json.loads(r) == {"a": 1}),
        (ScriptedAnswer.succeed("not json at all"), "succeed", lambda r: r == "not json at all"),
        (
            ScriptedAnswer.failed("APIG.3201", "The API group name already exists"),
            "failed",
            lambda r: json.loads(r) == {"error_code": "APIG.3201", "error_msg": "The API group name already exists"},
        ),
        (
            ScriptedAnswer.export_json('{"swagger": "2.0"}'),
            "succeed",
            lambda r: json.loads(r)["FileType"] == ".json" and json.loads(r)["Comment"] == '{"swagger": "2.0"}',
        ),
        (
            ScriptedAnswer.export_documented("swagger: '2.0'\n", file_type="yaml"),
            "succeed",
            lambda r: json.loads(r) == {"file_type": "yaml", "content": "swagger: '2.0'\n"},
        ),
        (
            ScriptedAnswer.import_report(
                success=[{"id": "x", "action": "create", "method": "GET", "path": "/a"}], group_id="g1"
            ),
            "succeed",
            lambda r: json.loads(r)["group_id"] == "g1" and json.loads(r)["failure"] == [],
        ),
    ],
)
def test_signed_get_answers_each_answer_shape(
    emu: ApigEmulator, answer: ScriptedAnswer, status: str, check: Any
) -> None:
    """Given a task scripted with one answer, when the SDK-signed GET arrives, then the wire shape matches."""
    emu.script(TASK, [answer], task_type="import_api")
    code, body, headers = signed_get(emu, task_path())
    assert code == 200
    assert set(body) == {"task_id", "task_status", "task_type", "task_result"}
    assert body["task_id"] == TASK
    assert body["task_type"] == "import_api"
    assert body["task_status"] == status
    assert isinstance(body["task_result"], str)
    assert check(body["task_result"])
    assert headers.get("X-Request-Id")


def test_raw_answer_is_sent_verbatim(emu: ApigEmulator) -> None:
    """Given a raw garbage answer, when polled, then status, body and content type are as scripted."""
    emu.script(TASK, [ScriptedAnswer.raw(502, "<html>bad gateway</html>", content_type="text/html")])
    code, body, headers = signed_get(emu, task_path())
    assert code == 502
    assert body == "<html>bad gateway</html>"
    assert headers["Content-Type"] == "text/html"


def test_slow_answer_delays_the_reply(emu: ApigEmulator) -> None:
    """Given a slow answer, when polled with a short read timeout, then the client times out."""
    # Far longer than the client's timeout however loaded the machine; the fixture's stop() cuts it short.
    emu.script(TASK, [ScriptedAnswer.slow(30.0, ScriptedAnswer.waiting()), ScriptedAnswer.processing()])
    path = task_path()
    request = urllib.request.Request(emu.url + path, headers=signed(emu, "GET", path))
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        urllib.request.urlopen(request, timeout=0.3)
    # Then the next poll (once the server took the slow answer, so they cannot swap) gets the next answer promptly.
    assert emu.wait_for_calls(TASK, 1, timeout=10)
    code, body, _ = signed_get(emu, path)
    assert (code, body["task_status"]) == (200, "processing")


# --- authentication ----------------------------------------------------------------------------------


def _error(code: int, body: Any, error_code: str) -> None:
    assert code // 100 == 4 or code // 100 == 5
    assert isinstance(body, dict)
    assert body["error_code"] == error_code
    assert body["error_msg"]


def test_tampered_signature_is_rejected(emu: ApigEmulator) -> None:
    """Given a signed request whose signature is altered, then 401 APIG.1002."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    headers = signed(emu, "GET", task_path())
    auth = headers["Authorization"]
    last = auth[-1]
    headers["Authorization"] = auth[:-1] + ("0" if last != "0" else "1")
    code, body, _ = send(emu, "GET", task_path(), headers)
    assert code == 401
    _error(code, body, "APIG.1002")
    assert emu.calls(TASK) == 0


def test_wrong_sk_and_unknown_ak_are_rejected(emu: ApigEmulator) -> None:
    """Given requests signed with a wrong SK or an unknown AK, then 401 APIG.1002 for both."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    for kwargs in ({"sk": "wrong"}, {"ak": "NOPE", "sk": "whatever"}):
        code, body, _ = signed_get(emu, task_path(), **kwargs)
        assert code == 401
        _error(code, body, "APIG.1002")


def test_tampered_path_or_header_is_rejected(emu: ApigEmulator) -> None:
    """Given a request signed for one task but sent to another, or with a changed signed header, then 401."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    emu.script("other", [ScriptedAnswer.waiting()])
    headers = signed(emu, "GET", task_path())
    code, body, _ = send(emu, "GET", task_path("other"), headers)
    _error(code, body, "APIG.1002")
    headers = signed(emu, "GET", task_path())
    headers["Content-Type"] = "text/plain"
    code, body, _ = send(emu, "GET", task_path(), headers)
    _error(code, body, "APIG.1002")


@pytest.mark.parametrize("minutes", [20, -20])
def test_skewed_date_is_rejected(emu: ApigEmulator, minutes: int) -> None:
    """Given X-Sdk-Date 20 minutes off the emulator clock (signature otherwise valid), then 401 APIG.1002."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    date = (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")
    code, body, _ = signed_get(emu, task_path(), extra_headers={"X-Sdk-Date": date})
    assert code == 401
    _error(code, body, "APIG.1002")


def test_date_within_fifteen_minutes_is_accepted(emu: ApigEmulator) -> None:
    """Given X-Sdk-Date 10 minutes off, then the request is accepted."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    date = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    code, _, _ = signed_get(emu, task_path(), extra_headers={"X-Sdk-Date": date})
    assert code == 200


@pytest.mark.parametrize("drop", ["Authorization", "X-Sdk-Date", "Host"])
def test_missing_headers_are_rejected(emu: ApigEmulator, drop: str) -> None:
    """Given a signed request with a needed header removed, then 401 APIG.1002."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    headers = signed(emu, "GET", task_path())
    if drop == "Host":
        # urllib always sends a Host; sending a different one breaks the signature over it.
        headers["Host"] = "elsewhere.example.com"
    else:
        del headers[drop]
    code, body, _ = send(emu, "GET", task_path(), headers)
    assert code == 401
    _error(code, body, "APIG.1002")


def test_no_credentials_at_all_is_rejected(emu: ApigEmulator) -> None:
    """Given a request with neither signature nor token, then 401 APIG.1002."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    code, body, _ = send(emu, "GET", task_path(), {})
    _error(code, body, "APIG.1002")


def test_token_auth_good_and_bad(emu: ApigEmulator) -> None:
    """Given the accepted X-Auth-Token, then 200; given another token, then 401 APIG.0307."""
    emu.script(TASK, [ScriptedAnswer.processing()])
    code, body, _ = send(emu, "GET", task_path(), {"X-Auth-Token": TOKEN})
    assert (code, body["task_status"]) == (200, "processing")
    code, body, _ = send(emu, "GET", task_path(), {"X-Auth-Token": "expired"})
    assert code == 401
    _error(code, body, "APIG.0307")


def test_temporary_credentials_need_the_security_token(emu: ApigEmulator) -> None:
    """Given a temporary AK, when the SDK sends its security token, then 200; without or wrong, then 401."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    code, _, _ = signed_get(emu, task_path(), ak=TEMP_AK, sk=TEMP_SK, security_token=TEMP_TOKEN)
    assert code == 200
    code, body, _ = signed_get(emu, task_path(), ak=TEMP_AK, sk=TEMP_SK)
    _error(code, body, "APIG.1002")
    code, body, _ = signed_get(emu, task_path(), ak=TEMP_AK, sk=TEMP_SK, security_token="other")
    _error(code, body, "APIG.1002")


def test_rotated_credentials(emu: ApigEmulator) -> None:
    """Given set_credentials replaced AK1 by AK3, then AK1 fails and AK3 works."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    emu.set_credentials({"AK3": "SK3"})
    code, body, _ = signed_get(emu, task_path())
    _error(code, body, "APIG.1002")
    code, _, _ = signed_get(emu, task_path(), ak="AK3", sk="SK3")
    assert code == 200


def test_project_header_must_match_path(emu: ApigEmulator) -> None:
    """Given an X-Project-Id (signed) that differs from the path's project, then 400 APIG.2011."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    other = "f" * 32
    code, body, _ = signed_get(emu, task_path(project=other))
    assert code == 400
    _error(code, body, "APIG.2011")


# --- routing and scripting ----------------------------------------------------------------------------


def test_unknown_task_is_404(emu: ApigEmulator) -> None:
    """Given no such task, then 404 APIG.3093 naming the task."""
    code, body, _ = signed_get(emu, task_path("0" * 32))
    assert code == 404
    _error(code, body, "APIG.3093")
    assert "0" * 32 in body["error_msg"]


def test_scripted_task_bound_to_other_instance_is_404(emu: ApigEmulator) -> None:
    """Given a task scripted for one instance, when read through another, then 404 and no call counted."""
    emu.script(TASK, [ScriptedAnswer.waiting()], instance_id=INSTANCE)
    code, body, _ = signed_get(emu, task_path(instance="someotherinstance"))
    _error(code, body, "APIG.3093")
    assert emu.calls(TASK) == 0


def test_unknown_path_and_wrong_method(emu: ApigEmulator) -> None:
    """Given an unknown route, then 404 generic; given DELETE on the task route, then 405."""
    code, body, _ = signed_get(emu, f"/v2/{PROJECT}/apigw/instances/{INSTANCE}/nothing-here")
    assert code == 404
    _error(code, body, "APIG.3002")
    code, body, headers = send(emu, "DELETE", task_path(), signed(emu, "DELETE", task_path()))
    assert code == 405
    assert headers.get("Allow") == "GET"


def test_throttling_errors_then_last_answer_repeats(emu: ApigEmulator) -> None:
    """Given 429, 500, succeed; when polled five times; then the last answer repeats and calls() counts."""
    emu.script(
        TASK,
        [
            ScriptedAnswer.error(429, "APIG.0308", "Too many requests"),
            ScriptedAnswer.error(500, "APIG.9999", "System error"),
            ScriptedAnswer.export_json('{"swagger":"2.0"}'),
        ],
    )
    answers = [signed_get(emu, task_path()) for _ in range(5)]
    assert [a[0] for a in answers] == [429, 500, 200, 200, 200]
    _error(answers[0][0], answers[0][1], "APIG.0308")
    _error(answers[1][0], answers[1][1], "APIG.9999")
    assert all(a[1]["task_status"] == "succeed" for a in answers[2:])
    assert emu.calls(TASK) == 5
    assert emu.task_status(TASK) == "succeed"


def test_large_export_is_delivered(emu: ApigEmulator) -> None:
    """Given a 20 MB export, when polled, then the whole task_result arrives intact."""
    doc = json.dumps({"swagger": "2.0", "paths": {}, "x-pad": "x" * (20 * 1024 * 1024)})
    emu.script(TASK, [ScriptedAnswer.export_json(doc)])
    code, body, _ = signed_get(emu, task_path())
    assert code == 200
    assert json.loads(body["task_result"])["Comment"] == doc


# --- created tasks (POST routes) ------------------------------------------------------------------------

SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "petstore", "version": "1.0"},
    "paths": {
        "/pets": {"get": {}, "post": {}},
        "/pets/fail": {"get": {}},
    },
}


def multipart(fields: dict[str, str], file_name: str, file_bytes: bytes) -> tuple[str, bytes]:
    boundary = "----emulatorboundary7MA4YWxkTrZu0gW"
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file_name"; filename="{file_name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def post_import(emu: ApigEmulator, file_bytes: bytes, file_name: str = "api.json") -> tuple[int, Any]:
    path = f"/v2/{PROJECT}/apigw/instances/{INSTANCE}/openapi/async-import"
    content_type, body = multipart({"is_create_group": "true", "extend_mode": "merge"}, file_name, file_bytes)
    headers = signed(emu, "POST", path, body=body, content_type=content_type)
    assert headers.get("X-Sdk-Content-Sha256") == "UNSIGNED-PAYLOAD"
    code, answer, _ = send(emu, "POST", path, headers, body)
    return code, answer


def test_async_import_progresses_with_the_clock(emu: ApigEmulator, clock: FakeClock) -> None:
    """Given a swagger with one /fail path, when imported and the clock advances,
    then the task goes waiting -> processing -> succeed with one failure item."""
    code, answer = post_import(emu, json.dumps(SWAGGER).encode())
    assert code == 200
    task_id = answer["task_id"]
    assert len(task_id) == 32
    int(task_id, 16)

    statuses = []
    for step in (0.0, 1.0, 2.0):
        clock.advance(step)
        code, body, _ = signed_get(emu, task_path(task_id))
        assert code == 200
        statuses.append(body["task_status"])
    assert statuses == ["waiting", "processing", "succeed"]
    assert emu.task_status(task_id) == "succeed"
    assert body["task_type"] == "import_api"
    result = json.loads(body["task_result"])
    assert sorted((s["method"], s["path"]) for s in result["success"]) == [
        ("GET", "/pets"),
        ("POST", "/pets"),
    ]
    assert all(s["action"] == "create" and s["id"] for s in result["success"])
    assert result["failure"] == [
        {
            "method": "GET",
            "path": "/pets/fail",
            "error_code": "APIG.3201",
            "error_msg": "Backend address is invalid",
        }
    ]
    assert result["group_id"]
    assert emu.calls(task_id) == 3


def test_async_import_yaml(emu: ApigEmulator, clock: FakeClock) -> None:
    """Given a YAML swagger, when imported, then its operations are reported."""
    yaml_text = (
        "swagger: '2.0'\ninfo:\n  title: pets\n  version: '1'\npaths:\n"
        "  /pets:\n    get:\n      responses: {}\n    delete:\n      responses: {}\n"
        "  '/pets/{id}':\n    put:\n      parameters: []\n"
    )
    code, answer = post_import(emu, yaml_text.encode(), "api.yaml")
    assert code == 200
    clock.advance(3.5)
    _, body, _ = signed_get(emu, task_path(answer["task_id"]))
    result = json.loads(body["task_result"])
    assert sorted((s["method"], s["path"]) for s in result["success"]) == [
        ("DELETE", "/pets"),
        ("GET", "/pets"),
        ("PUT", "/pets/{id}"),
    ]


def test_async_import_broken_title_fails(emu: ApigEmulator, clock: FakeClock) -> None:
    """Given a swagger whose title contains 'broken', when the task ends, then it is failed with APIG.3201."""
    doc = dict(SWAGGER, info={"title": "a broken group", "version": "1"})
    _, answer = post_import(emu, json.dumps(doc).encode())
    clock.advance(10)
    _, body, _ = signed_get(emu, task_path(answer["task_id"]))
    assert body["task_status"] == "failed"
    assert json.loads(body["task_result"]) == {
        "error_code": "APIG.3201",
        "error_msg": "The API group name already exists",
    }


def test_async_import_rejects_non_swagger(emu: ApigEmulator) -> None:
    """Given a file that is not swagger, then 400 APIG.2012 at once."""
    code, answer = post_import(emu, b"this is { not swagger")
    assert code == 400
    _error(code, answer, "APIG.2012")


@pytest.mark.parametrize(("file_type", "suffix"), [("json", ".json"), ("yaml", ".yaml")])
def test_async_export(emu: ApigEmulator, clock: FakeClock, file_type: str, suffix: str) -> None:
    """Given an export request, when the task completes, then the result has the published shape."""
    path = f"/v2/{PROJECT}/apigw/instances/{INSTANCE}/openapi/async-export"
    body = json.dumps(
        {
            "env_id": "DEFAULT_ENVIRONMENT_RELEASE_ID",
            "group_id": "petstore",
            "define": "all",
            "type": file_type,
        }
    ).encode()
    code, answer, _ = send(emu, "POST", path, signed(emu, "POST", path, body=body), body)
    assert code == 200
    task_id = answer["task_id"]
    _, body_waiting, _ = signed_get(emu, task_path(task_id))
    assert (body_waiting["task_status"], body_waiting["task_result"]) == ("waiting", "")
    clock.advance(3.0)
    _, done, _ = signed_get(emu, task_path(task_id))
    assert done["task_status"] == "succeed"
    assert done["task_type"] == "export_api"
    result = json.loads(done["task_result"])
    assert result["FileName"].startswith("petstore-RELEASE-all-")
    assert result["FileType"] == suffix
    if file_type == "json":
        swagger = json.loads(result["Comment"])
        assert swagger["swagger"] == "2.0"
        assert len(swagger["paths"]) >= 2
    else:
        yaml = pytest.importorskip("yaml")
        swagger = yaml.safe_load(result["Comment"])
        assert swagger["swagger"] == "2.0"
        assert len(swagger["paths"]) >= 2


def test_async_export_validates_body(emu: ApigEmulator) -> None:
    """Given an export body without group_id, then 400 APIG.2001."""
    path = f"/v2/{PROJECT}/apigw/instances/{INSTANCE}/openapi/async-export"
    body = json.dumps({"env_id": "x"}).encode()
    code, answer, _ = send(emu, "POST", path, signed(emu, "POST", path, body=body), body)
    assert code == 400
    _error(code, answer, "APIG.2001")


def test_create_task_programmatically(emu: ApigEmulator, clock: FakeClock) -> None:
    """Given create_task with a failed outcome, then it reads as failed once the clock passed both phases."""
    task_id = emu.create_task("import_api", PROJECT, INSTANCE, outcome=ScriptedAnswer.failed("APIG.3201", "nope"))
    assert emu.task_status(task_id) == "waiting"
    clock.advance(1.5)
    assert emu.task_status(task_id) == "processing"
    clock.advance(2)
    _, body, _ = send(emu, "GET", task_path(task_id), {"X-Auth-Token": TOKEN})
    assert body["task_status"] == "failed"
    # A created task is bound to its project/instance.
    code, body, _ = send(emu, "GET", task_path(task_id, instance="other"), {"X-Auth-Token": TOKEN})
    _error(code, body, "APIG.3093")


# --- recording and lifecycle ----------------------------------------------------------------------------


def test_requests_are_recorded_with_secrets_redacted(emu: ApigEmulator) -> None:
    """Given signed, temporary and token requests, then emu.requests keeps them with secrets redacted."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    signed_get(emu, task_path())
    signed_get(emu, task_path(), ak=TEMP_AK, sk=TEMP_SK, security_token=TEMP_TOKEN)
    send(emu, "GET", task_path(), {"X-Auth-Token": TOKEN})
    recorded = emu.requests
    assert [(r.method, r.path, r.status) for r in recorded] == [("GET", task_path(), 200)] * 3
    dumped = json.dumps([r.headers for r in recorded])
    assert SK not in dumped and TEMP_TOKEN not in dumped and TOKEN + '"' not in dumped
    assert "Signature=" not in dumped
    lower = [{k.lower(): v for k, v in r.headers.items()} for r in recorded]
    assert lower[0]["authorization"] == "REDACTED"
    assert lower[1]["x-security-token"] == "REDACTED"
    assert lower[2]["x-auth-token"] == "REDACTED"
    assert all(r.time > 0 for r in recorded)


def test_stop_frees_the_port(clock: FakeClock) -> None:
    """Given a running emulator with an open keep-alive connection, when stopped, then the port is free."""
    emulator = ApigEmulator(credentials={AK: SK}, clock=clock)
    url = emulator.start()
    port = int(url.rsplit(":", 1)[1])
    idle = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 3
    idle.close()
    # Then a new emulator can listen on the same port (as any server would, with SO_REUSEADDR)...
    again = ApigEmulator(tokens={TOKEN}, clock=clock, port=port)
    assert again.start() == url
    again.stop()
    # ...and once that one stopped too, nothing listens there any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_query_string_is_part_of_the_signature(emu: ApigEmulator) -> None:
    """Given SDK-signed query parameters (unsorted, with spaces and UTF-8), then 200; altered, then 401."""
    emu.script(TASK, [ScriptedAnswer.waiting()])
    path = task_path()
    request = SdkRequest(
        method="GET",
        schema="http",
        host=emu.url.removeprefix("http://"),
        resource_path=path,
        query_params=[("z", "1"), ("a", "b c/é~"), ("limit", 10)],
        header_params={"Content-Type": "application/json"},
        body="",
    )
    BasicCredentials(AK, SK, PROJECT).sign_request(request)
    headers = dict(request.header_params)
    code, _, _ = send(emu, "GET", request.uri, headers)
    assert code == 200
    code, body, _ = send(emu, "GET", request.uri.replace("z=1", "z=2"), headers)
    _error(code, body, "APIG.1002")


def test_keep_alive_session_with_errors_and_posts(emu: ApigEmulator) -> None:
    """Given one keep-alive session (as the SDK's requests client uses), then mixed answers all arrive."""
    requests = pytest.importorskip("requests")
    emu.script(TASK, [ScriptedAnswer.error(500, "APIG.9008", "busy"), ScriptedAnswer.waiting()])
    export_path = f"/v2/{PROJECT}/apigw/instances/{INSTANCE}/openapi/async-export"
    export_body = json.dumps({"env_id": "e", "group_id": "g"}).encode()
    with requests.Session() as session:
        statuses = []
        for _ in range(3):
            statuses.append(session.get(emu.url + task_path(), headers=signed(emu, "GET", task_path())).status_code)
            statuses.append(session.get(emu.url + task_path("missing"), headers={"X-Auth-Token": TOKEN}).status_code)
            answer = session.post(
                emu.url + export_path,
                data=export_body,
                headers=signed(emu, "POST", export_path, body=export_body),
            )
            statuses.append(answer.status_code)
    assert statuses == [500, 404, 200, 200, 404, 200, 200, 404, 200]


def test_stop_is_prompt_during_a_slow_answer(clock: FakeClock) -> None:
    """Given a client waiting on a 30 s slow answer, when stop() is called, then it returns quickly."""
    emulator = ApigEmulator(tokens={TOKEN}, clock=clock)
    emulator.start()
    emulator.script(TASK, [ScriptedAnswer.slow(30, ScriptedAnswer.waiting())])
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(send(emulator, "GET", task_path(), {"X-Auth-Token": TOKEN})[0])
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=poll)
    thread.start()
    assert emulator.wait_for_calls(TASK, 1, timeout=10)  # the GET is counted just before the slow answer waits
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 3
    thread.join(5)
    assert not thread.is_alive()
    assert outcome
