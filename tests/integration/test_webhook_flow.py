"""The webhook over real HTTP on the local stack: POST a watch, the real poller follows the task on the
APIG emulator, GET answers the outcome; and the `taskwatch` CLI doing the same as a CI job would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apig_emulator import ScriptedAnswer
from functions.poller import app as poller_app
from functions.webhook import app as webhook_app
from taskwatch_local.ci import HttpAnswer, WebhookClient
from taskwatch_local.http_api import LocalHttpApi
from tests.integration.conftest import INSTANCE_ID, PROJECT_ID, Harness, poll_message

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

Handler = Callable[[dict[str, Any], Any], Any]
SWAGGER = '{"swagger": "2.0", "info": {"title": "petstore", "version": "1.0"}}'
FAILED_ROUTE = {"method": "GET", "path": "/pets/{id}", "error_code": "APIG.3301", "error_msg": "bad backend"}


def one_at_a_time(lock: threading.Lock, handler: Handler) -> Handler:
    """Like two Lambda functions in separate processes: Powertools' module state is never shared mid-call."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        with lock:
            return handler(event, context)

    return invoke


@dataclass
class Webhook:
    harness: Harness
    api: LocalHttpApi
    client: WebhookClient

    @property
    def url(self) -> str:
        return self.api.url

    def submit(self, task_id: str, **extra: Any) -> HttpAnswer:
        return self.client.submit(poll_message(task_id, **extra))

    def status(self, task_id: str) -> dict[str, Any]:
        answer = self.client.status(task_id)
        assert answer.status == 200, answer
        body: dict[str, Any] = answer.body
        return body


@pytest.fixture
def webhook(make_harness: Any) -> Iterator[Webhook]:
    lock = threading.Lock()
    harness: Harness = make_harness(handler=one_at_a_time(lock, poller_app.lambda_handler))
    api = LocalHttpApi(one_at_a_time(lock, webhook_app.lambda_handler))
    api.start()
    try:
        yield Webhook(harness, api, WebhookClient(api.url, harness.stack.webhook_key))
    finally:
        harness.source.stop()
        api.stop()


# --- POST -> polls -> GET ---------------------------------------------------------------------------------


def test_export_watch_from_post_to_succeeded(webhook: Webhook) -> None:
    # Given an export task that is processing for a while, then succeeds
    webhook.harness.apig.script(
        "exp1",
        [
            ScriptedAnswer.waiting(),
            ScriptedAnswer.processing(),
            ScriptedAnswer.export_json(SWAGGER, file_name="petstore"),
        ],
        task_type="export_api",
    )
    # When CI posts the watch
    answer = webhook.submit("exp1", expected_type="export_api", source={"ci": "github", "coverage": 91.5})
    # Then it is accepted with a status URL on this API
    assert answer.status == 202
    assert answer.body == {"task_id": "exp1", "status": "queued", "status_url": f"{webhook.url}/tasks/exp1"}
    assert webhook.status("exp1")["status"] == "queued"

    # And after the first poll the status shows the watch polling
    webhook.harness.source.poll_once()
    polling = webhook.status("exp1")
    assert (polling["status"], polling["attempts"], polling["outcome"]) == ("polling", 1, None)
    assert polling["next_poll_at"] is not None

    # And when the task ends the status shows the outcome and where the export landed
    webhook.harness.run_until_finished("exp1")
    final = webhook.status("exp1")
    key = f"exports/{INSTANCE_ID}/exp1/petstore.json"
    assert (final["status"], final["outcome"], final["task_type"], final["attempts"]) == (
        "succeeded",
        "succeeded",
        "export_api",
        3,
    )
    assert final["export"] == {"bucket": webhook.harness.stack.bucket, "key": key}
    assert final["source"] == {"ci": "github", "coverage": 91.5}
    assert final["next_poll_at"] is None
    assert webhook.harness.stack.objects()[key] == SWAGGER.encode()


def test_failed_import_is_answered_with_its_error(webhook: Webhook) -> None:
    webhook.harness.apig.script(
        "imp-failed",
        [ScriptedAnswer.processing(), ScriptedAnswer.failed("APIG.3201", "The API group name already exists")],
        task_type="import_api",
    )
    assert webhook.submit("imp-failed").status == 202
    webhook.harness.run_until_finished("imp-failed")
    final = webhook.status("imp-failed")
    assert (final["status"], final["outcome"], final["task_type"]) == ("failed", "failed", "import_api")
    assert (final["error_code"], final["error_msg"]) == ("APIG.3201", "The API group name already exists")
    notes = webhook.harness.stack.notifications()
    assert [n["message"]["outcome"] for n in notes] == ["failed"]


def test_partial_import_lists_every_failed_route(webhook: Webhook) -> None:
    webhook.harness.apig.script(
        "imp-partial",
        [
            ScriptedAnswer.waiting(),
            ScriptedAnswer.import_report(
                success=[{"id": "a1", "method": "GET", "path": "/pets", "action": "create"}], failure=[FAILED_ROUTE]
            ),
        ],
        task_type="import_api",
    )
    assert webhook.submit("imp-partial", expected_type="import_api").status == 202
    webhook.harness.run_until_finished("imp-partial")
    final = webhook.status("imp-partial")
    assert (final["status"], final["outcome"]) == ("partial_failure", "partial_failure")
    assert final["failures"] == [FAILED_ROUTE]


def test_duplicate_posts_do_not_fork_the_poll_chain(webhook: Webhook) -> None:
    # Given a task that needs three polls
    webhook.harness.apig.script(
        "dup1",
        [ScriptedAnswer.waiting(), ScriptedAnswer.processing(), ScriptedAnswer.export_json(SWAGGER)],
        task_type="export_api",
    )
    # When CI posts the same watch three times (two before the poller got to it, one while polling)
    assert webhook.submit("dup1").status == 202
    assert webhook.submit("dup1").status == 202
    webhook.harness.source.poll_once()
    again = webhook.submit("dup1")
    assert (again.status, again.body["status"]) == (200, "polling")
    webhook.harness.run_until_finished("dup1")
    webhook.harness.drain(3)
    # Then APIG was asked once per step and the outcome was stored once
    assert webhook.harness.apig.calls("dup1") == 3
    assert webhook.status("dup1")["attempts"] == 3
    assert webhook.harness.stack.object_versions() == 1


def test_unsigned_and_invalid_requests_over_http(webhook: Webhook) -> None:
    stranger = WebhookClient(webhook.url, "whsec_" + "A" * 44)
    assert stranger.submit(poll_message("t-401")).status == 401
    assert stranger.status("t-401").status == 401
    invalid = webhook.client.submit({"project_id": PROJECT_ID, "task_id": "bad id"})
    assert invalid.status == 400
    assert {d.split(":")[0] for d in invalid.body["details"]} == {"instance_id", "task_id"}
    assert webhook.client.status("never-submitted").status == 404
    # Nothing was enqueued or recorded by any of them
    assert webhook.harness.stack.queue_depth() == 0


def test_a_queue_started_watch_is_readable_through_get(webhook: Webhook) -> None:
    webhook.harness.apig.script("q1", [ScriptedAnswer.failed("APIG.3201", "conflict")], task_type="import_api")
    webhook.harness.send(poll_message("q1"))
    webhook.harness.run_until_finished("q1")
    assert webhook.status("q1")["status"] == "failed"


def test_rotated_webhook_key_is_accepted_at_once_and_the_previous_one_still_works(webhook: Webhook) -> None:
    # Given the function has the key cached
    stack = webhook.harness.stack
    assert webhook.submit("rot0").status == 202
    # When the secret is rotated
    new_key = "whsec_" + "N" * 43 + "="
    stack.client("secretsmanager").put_secret_value(SecretId=stack.webhook_secret_id, SecretString=new_key)
    # Then a request signed with the new key is accepted, and the previous key still is
    assert WebhookClient(webhook.url, new_key).submit(poll_message("rot1")).status == 202
    assert webhook.submit("rot2").status == 202


# --- the CLI, as a CI job runs it -------------------------------------------------------------------------

TASKWATCH = Path(sys.executable).with_name("taskwatch")


def taskwatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/taskwatch ...` as a CI job runs it: its own process, the key only in the environment."""
    return subprocess.run(
        [str(TASKWATCH), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.mark.parametrize(
    ("steps", "task_type", "exit_code", "status"),
    [
        pytest.param(
            [ScriptedAnswer.processing(), ScriptedAnswer.export_json(SWAGGER)],
            "export_api",
            0,
            "succeeded",
            id="succeeded",
        ),
        pytest.param(
            [ScriptedAnswer.waiting(), ScriptedAnswer.import_report(failure=[FAILED_ROUTE])],
            "import_api",
            1,
            "partial_failure",
            id="partial_failure",
        ),
        pytest.param([ScriptedAnswer.failed()], "import_api", 1, "failed", id="failed"),
    ],
)
def test_cli_submit_and_wait_exits_with_the_outcome(
    webhook: Webhook, steps: list[ScriptedAnswer], task_type: str, exit_code: int, status: str
) -> None:
    # Given a task on APIG, the key in the environment and the poller running
    webhook.harness.apig.script("cli1", steps, task_type=task_type)
    webhook.harness.source.start()
    # When CI runs `taskwatch submit --wait`
    done = taskwatch(
        "submit",
        "--url",
        webhook.url,
        "--project-id",
        PROJECT_ID,
        "--instance-id",
        INSTANCE_ID,
        "--task-id",
        "cli1",
        "--expected-type",
        task_type,
        "--source",
        '{"pipeline": 42}',
        "--wait",
        "--interval",
        "0.2",
        "--timeout",
        "60",
        env={"TASKWATCH_WEBHOOK_KEY": webhook.harness.stack.webhook_key},
    )
    # Then stdout is the final record alone, the status URL is said on stderr, and the exit code is the outcome's
    assert f"{webhook.url}/tasks/cli1" in done.stderr
    record = json.loads(done.stdout)
    assert (record["status"], record["task_id"], record["source"]) == (status, "cli1", {"pipeline": 42})
    assert done.returncode == exit_code
    # And progress went to stderr, one line per change (not a terminal)
    assert f"task cli1: {status}" in done.stderr.splitlines()[-1]


def test_cli_wait_reads_a_submitted_task(webhook: Webhook) -> None:
    webhook.harness.apig.script("cli2", [ScriptedAnswer.export_json(SWAGGER)], task_type="export_api")
    env = {"CI_KEY": webhook.harness.stack.webhook_key}
    common = ["--url", webhook.url, "--key-env", "CI_KEY", "--task-id", "cli2"]
    submitted = taskwatch("submit", *common, "--project-id", PROJECT_ID, "--instance-id", INSTANCE_ID, env=env)
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout) == {
        "task_id": "cli2",
        "status": "queued",
        "status_url": f"{webhook.url}/tasks/cli2",
    }
    webhook.harness.source.start()
    waited = taskwatch("wait", *common, "--interval", "0.2", env=env)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "succeeded"


def test_cli_reports_a_wrong_key_as_an_error(webhook: Webhook) -> None:
    done = taskwatch(
        "wait",
        "--url",
        webhook.url,
        "--task-id",
        "x1",
        "--interval",
        "0.2",
        env={"TASKWATCH_WEBHOOK_KEY": "whsec_" + "A" * 44},
    )
    assert done.returncode == 2 and "401" in done.stderr
    assert "401" in json.loads(done.stdout)["error"]


def test_cli_without_a_key_is_a_usage_error(webhook: Webhook) -> None:
    done = taskwatch("wait", "--url", webhook.url, "--task-id", "x1", env={"TASKWATCH_WEBHOOK_KEY": ""})
    assert done.returncode == 2 and "TASKWATCH_WEBHOOK_KEY" in done.stderr


def test_cli_wait_times_out_with_exit_3(webhook: Webhook) -> None:
    # Given a task nobody polls (the poller is not running)
    assert webhook.submit("slow1").status == 202
    # When CI waits less than it takes
    done = taskwatch(
        "wait",
        "--url",
        webhook.url,
        "--task-id",
        "slow1",
        "--interval",
        "0.2",
        "--timeout",
        "0.5",
        env={"TASKWATCH_WEBHOOK_KEY": webhook.harness.stack.webhook_key},
    )
    # Then the wait ends with 3 and the last record seen
    assert done.returncode == 3
    assert json.loads(done.stdout)["status"] == "queued"
    assert "gave up" in done.stderr
