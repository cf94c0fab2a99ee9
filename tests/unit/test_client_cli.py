"""`taskwatch` against small stand-ins on 127.0.0.1 (a webhook, a GitHub runner's token endpoint): exit codes,
stdout as one JSON document on every path, retries, not-found grace, CI identity, GitHub Actions files, JUnit."""

from __future__ import annotations

import functools
import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from taskwatch.domain.signatures import verify
from taskwatch_cli import cli
from taskwatch_cli.http import Answer, Request, RetryPolicy, send

KEY = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGhlLWNsaWVudC10ZXN0cw=="
IDS = ["--project-id", "p", "--instance-id", "i"]
FAILURE = {"method": "GET", "path": "/pets/{id}", "error_code": "APIG.3301", "error_msg": "bad, backend: 100%\nsure"}


def record(status: str, **extra: Any) -> dict[str, Any]:
    outcome = None if status in ("queued", "polling") else status
    return {
        "task_id": "t1",
        "status": status,
        "outcome": outcome,
        "task_type": "import_api",
        "attempts": 2,
        "export": None,
        "error_code": None,
        "error_msg": None,
        "failures": [],
        **extra,
    }


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass
class FakeServer:
    """Answers each request with `answer(seen)`; keeps every request."""

    answer: Callable[[Seen], Reply]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Seen], Reply]], FakeServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Callable[[Seen], Reply]) -> FakeServer:
        fake = FakeServer(answer)

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                fake.seen.append(seen)
                status, body, *rest = fake.answer(seen)
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (rest[0] if rest else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        fake.url = f"http://127.0.0.1:{server.server_address[1]}"
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def signed_by_key(seen: Seen) -> bool:
    payload = seen.body if seen.method == "POST" else seen.path.encode()
    try:
        verify(seen.headers, payload, [KEY], now=time.time())
    except Exception:
        return False
    return True


@dataclass
class Run:
    code: int
    document: dict[str, Any]
    stderr: str


def taskwatch(*argv: str, env: dict[str, str] | None = None) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), env={"TASKWATCH_WEBHOOK_KEY": KEY} if env is None else env, out=out, err=err)
    document = json.loads(out.getvalue())  # exactly one JSON document, whatever happened
    assert isinstance(document, dict)
    return Run(code, document, err.getvalue())


def webhook(records: list[dict[str, Any]]) -> Callable[[Seen], Reply]:
    """A webhook that accepts key-signed requests and answers GETs with `records` in turn (the last repeats)."""
    answers = iter(records)
    last: list[dict[str, Any]] = []

    def answer(seen: Seen) -> Reply:
        if not signed_by_key(seen) and "authorization" not in seen.headers:
            return 401, {"error": "unauthorized"}
        if seen.method == "POST":
            body = json.loads(seen.body)
            return 202, {
                "task_id": body["task_id"],
                "status": "queued",
                "status_url": f"http://x/tasks/{body['task_id']}",
            }
        last[:] = [next(answers, last[0] if last else record("queued"))]
        return 200, last[0]

    return answer


# --- exit codes, each with stdout a JSON document --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [("succeeded", 0), ("partial_failure", 1), ("failed", 1), ("timed_out", 1), ("polling", 3)],
)
def test_status_exits_with_the_outcomes_code(serve: Any, status: str, code: int) -> None:
    fake = serve(webhook([record(status)]))
    run = taskwatch("status", "--url", fake.url, "--task-id", "t1")
    assert (run.code, run.document["status"]) == (code, status)


def test_wait_follows_the_task_to_its_outcome_with_one_progress_line_per_change(serve: Any) -> None:
    fake = serve(webhook([record("queued"), record("polling"), record("polling"), record("succeeded")]))
    run = taskwatch("wait", "--url", fake.url, "--task-id", "t1", "--interval", "0.01")
    assert (run.code, run.document["status"]) == (0, "succeeded")
    lines = run.stderr.splitlines()
    assert [line.split("] ", 1)[1].split(",")[0] for line in lines] == [
        "task t1: queued",
        "task t1: polling",
        "task t1: succeeded",
    ]
    assert all(line.startswith("[") and "s] " in line for line in lines)  # the elapsed time leads every line


def test_wait_gives_up_with_exit_3_and_the_last_record(serve: Any) -> None:
    fake = serve(webhook([record("polling")]))
    run = taskwatch("wait", "--url", fake.url, "--task-id", "t1", "--interval", "0.05", "--timeout", "0.2")
    assert (run.code, run.document["status"]) == (3, "polling")
    assert "gave up waiting" in run.stderr


def test_a_task_the_status_api_never_heard_of_ends_after_the_grace_not_the_timeout(serve: Any) -> None:
    fake = serve(lambda seen: (404, {"error": "not_found", "details": []}))
    started = time.monotonic()
    run = taskwatch("wait", "--url", fake.url, "--task-id", "t9", "--interval", "0.05", "--not-found-grace", "0.3")
    assert run.code == 2 and time.monotonic() - started < 5
    assert "404" in run.document["error"] and run.document["task_id"] == "t9"
    assert run.stderr.count("taskwatch: error:") == 1


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["wait", "--task-id", "t1"], {"TASKWATCH_WEBHOOK_KEY": KEY}, "--url"),
        (["wait", "--url", "http://127.0.0.1:9", "--task-id", "t1"], {"TASKWATCH_WEBHOOK_KEY": "hunter2"}, "whsec_"),
        (["wait", "--url", "http://127.0.0.1:9", "--task-id", "t1"], {}, "TASKWATCH_WEBHOOK_KEY"),
        (["wait", "--url", "ftp://x", "--task-id", "t1"], {"TASKWATCH_WEBHOOK_KEY": KEY}, "http(s)"),
        (["submit", "--url", "http://x", *IDS, "--task-id", "t", "--source", "[1]"],
         {"TASKWATCH_WEBHOOK_KEY": KEY}, "JSON object"),
        (["import", "/nonexistent.json", *IDS, "--create-group"], {}, "cannot read"),
        (["import", "x.json", *IDS], {}, "--create-group"),
        (["export", *IDS, "--group-id", "g", "--env-id", "e"], {}, "HUAWEICLOUD_SDK"),
        (["nonsense"], {}, "invalid choice"),
    ],
    ids=["missing option", "key not whsec_", "no key", "not http", "source not an object", "unreadable file",
         "no group choice", "no Huawei credentials", "unknown command"],
)  # fmt: skip
def test_usage_and_configuration_errors_exit_2_with_one_line_and_a_json_error(
    argv: list[str], env: dict[str, str], expected: str
) -> None:
    run = taskwatch(*argv, env=env)
    assert run.code == 2
    assert expected in run.document["error"]
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("taskwatch: error:") and "Traceback" not in run.stderr


def test_a_wrong_key_is_an_authentication_error(serve: Any) -> None:
    fake = serve(lambda seen: (401, {"error": "unauthorized"}))
    run = taskwatch("status", "--url", fake.url, "--task-id", "t1")
    assert run.code == 2 and "401" in run.document["error"]


# --- retries ----------------------------------------------------------------------------------------


def test_throttling_and_server_errors_are_retried_and_said_on_stderr(serve: Any) -> None:
    replies = iter([(429, {}, {"Retry-After": "0"}), (503, {"error": "unavailable"}, {"Retry-After": "0"})])
    fake = serve(lambda seen: next(replies, (200, record("succeeded"))))
    run = taskwatch("status", "--url", fake.url, "--task-id", "t1")
    assert (run.code, run.document["status"], len(fake.seen)) == (0, "succeeded", 3)
    assert "HTTP 429; retry 1 of 4" in run.stderr and "HTTP 503 unavailable; retry 2 of 4" in run.stderr
    assert len({s.headers["webhook-id"] for s in fake.seen}) == 3  # every try is signed afresh


def test_retries_are_bounded(serve: Any) -> None:
    fake = serve(lambda seen: (502, {"message": "Bad Gateway"}, {"Retry-After": "0"}))
    run = taskwatch("status", "--url", fake.url, "--task-id", "t1")
    assert run.code == 2 and len(fake.seen) == 5
    assert "HTTP 502" in run.document["error"]


def test_connection_errors_are_retried_with_a_growing_jittered_delay() -> None:
    delays: list[float] = []
    said: list[str] = []
    answer = send(
        "GET /tasks/t1",
        lambda: Request("GET", "http://127.0.0.1:9/tasks/t1"),
        say=said.append,
        policy=RetryPolicy(attempts=4, base_delay=1.0),
        sleep=delays.append,
        rand=lambda: 0.5,
    )
    assert answer.status == 0 and answer.transient
    assert delays == [0.75, 1.5, 3.0]  # 1, 2, 4 seconds x (0.5 + 0.5 x jitter)
    assert len(said) == 3 and all("no answer" in line for line in said)


def test_the_delay_stays_within_its_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    for retry in range(1, 10):
        for jitter in (0.0, 0.999):
            assert 0.5 <= policy.delay(retry, Answer(503), functools.partial(float, jitter)) <= 30.0
    assert policy.delay(1, Answer(429, retry_after=7.0), lambda: 0.0) == 7.0


# --- CI identity --------------------------------------------------------------------------------------


def test_in_github_actions_every_request_carries_a_fresh_oidc_token(serve: Any) -> None:
    minted: list[str] = []

    def runner(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != "bearer runner-request-token":
            return 403, {"message": "bad runner token"}
        minted.append(f"jwt-{len(minted)}")
        return 200, {"value": minted[-1], "count": len(minted)}

    tokens = serve(runner)
    fake = serve(webhook([record("polling"), record("succeeded")]))
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{tokens.url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-request-token",
    }
    run = taskwatch(
        "submit", "--url", fake.url, "--project-id", "p", "--instance-id", "i", "--task-id", "t1",
        "--wait", "--interval", "0.01", env=env,
    )  # fmt: skip
    assert run.code == 0
    assert [s.headers["authorization"] for s in fake.seen] == ["Bearer jwt-0", "Bearer jwt-1", "Bearer jwt-2"]
    assert {s.path for s in tokens.seen} == {"/token?api-version=2.0&audience=apig-taskwatch"}
    assert not any("webhook-signature" in s.headers for s in fake.seen)


def test_a_stored_ci_token_serves_the_first_request_then_the_key_takes_over(serve: Any) -> None:
    fake = serve(webhook([record("succeeded")]))
    env = {"CI_JOB_JWT_TASKWATCH": "gitlab-jwt", "TASKWATCH_WEBHOOK_KEY": KEY}
    run = taskwatch(
        "submit", "--url", fake.url, "--project-id", "p", "--instance-id", "i", "--task-id", "t1",
        "--oidc-token-env", "CI_JOB_JWT_TASKWATCH", "--wait", env=env,
    )  # fmt: skip
    assert run.code == 0
    assert fake.seen[0].headers["authorization"] == "Bearer gitlab-jwt"
    assert "authorization" not in fake.seen[1].headers and signed_by_key(fake.seen[1])


def test_a_refused_token_falls_back_to_the_shared_key(serve: Any) -> None:
    def strict(seen: Seen) -> Reply:
        return (200, record("succeeded")) if signed_by_key(seen) else (401, {"error": "unauthorized"})

    tokens = serve(lambda seen: (200, {"value": "untrusted-jwt"}))
    fake = serve(strict)
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{tokens.url}/token?x=1",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t",
        "TASKWATCH_WEBHOOK_KEY": KEY,
    }
    run = taskwatch("status", "--url", fake.url, "--task-id", "t1", env=env)
    assert run.code == 0
    assert "refused a GitHub Actions OIDC token" in run.stderr


# --- what CI reads: GitHub Actions files, --output, --junit ------------------------------------------------


def test_github_actions_outputs_summary_and_annotations(serve: Any, tmp_path: Path) -> None:
    drift = {"baseline_task_id": "t0", "added": 1, "removed": 2, "changed": 3, "breaking": 1}
    partial = record("partial_failure", error_code="APIG.3301", error_msg="1 of 3 APIs failed", failures=[FAILURE])
    fake = serve(webhook([{**partial, "drift": drift}]))
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    env = {
        "TASKWATCH_WEBHOOK_KEY": KEY,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    run = taskwatch("wait", "--url", fake.url, "--task-id", "t1", env=env)

    assert run.code == 1
    assert output.read_text().splitlines() == [
        "task_id=t1",
        "status=partial_failure",
        "outcome=partial_failure",
        "export_bucket=",
        "export_key=",
        "export_file=",
        f"status_url={fake.url}/tasks/t1",
    ]
    text = summary.read_text()
    assert "### ❌ APIG import partially failed" in text
    assert "| GET | `/pets/{id}` | APIG.3301 | bad, backend: 100% sure |" in text
    assert "against export `t0`" in text and "| 1 | 2 | 3 | 1 |" in text
    annotation = "::error title=APIG import t1%3A GET /pets/{id}::APIG.3301 bad, backend: 100%25%0Asure"
    assert annotation in run.stderr.splitlines()


def test_output_and_junit_files(serve: Any, tmp_path: Path) -> None:
    partial = record("partial_failure", failures=[FAILURE, {**FAILURE, "path": "/pets"}])
    fake = serve(webhook([partial]))
    output, junit = tmp_path / "record.json", tmp_path / "junit.xml"
    run = taskwatch("wait", "--url", fake.url, "--task-id", "t1", "--output", str(output), "--junit", str(junit))
    assert json.loads(output.read_text()) == run.document == partial
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "2")
    assert [case.get("name") for case in suite.iter("testcase")] == ["GET /pets/{id}", "GET /pets"]


def test_an_error_still_writes_the_junit_report(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    run = taskwatch("wait", "--url", "http://127.0.0.1:9", "--task-id", "t1", "--junit", str(junit), env={})
    assert run.code == 2
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None and case.find("error") is not None


def test_help_lists_the_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"], plugins=False)
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(command in text for command in ("export", "import", "submit", "wait", "status", "watch"))
    assert "3 still running when --timeout ran out" in text


# --- what `export` and `import` hand to the service ------------------------------------------------------------


def test_export_hands_over_its_group_and_environment_and_the_callback(serve: Any) -> None:
    # Given APIG (the emulator) and a webhook that records what it is sent
    from apig_emulator import ApigEmulator

    fake = serve(webhook([record("succeeded", task_type="export_api")]))
    with ApigEmulator(credentials={"AK1": "SK1"}) as apig:
        env = {"TASKWATCH_WEBHOOK_KEY": KEY, "HUAWEICLOUD_SDK_AK": "AK1", "HUAWEICLOUD_SDK_SK": "SK1"}
        # When CI exports and hands the task over with a callback
        run = taskwatch(
            "export", *IDS, "--endpoint", apig.url, "--group-id", "grp1", "--env-id", "env1", "--url", fake.url,
            "--callback-url", "https://ci.example.com/hook", "--region", "cn-north-4", "--max-wait", "600",
            env=env,
        )  # fmt: skip
    # Then the watch names the export's group and environment (its drift identity), the type and the callback
    assert run.code == 0
    submitted = json.loads(fake.seen[0].body)
    assert submitted == {
        "project_id": "p",
        "instance_id": "i",
        "task_id": submitted["task_id"],
        "expected_type": "export_api",
        "region": "cn-north-4",
        "max_wait_seconds": 600,
        "callback_url": "https://ci.example.com/hook",
        "group_id": "grp1",
        "env_id": "env1",
    }
    assert signed_by_key(fake.seen[0])
