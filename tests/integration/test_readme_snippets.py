"""README.md's CI examples, run as written against `taskwatch local up`: each fenced block after a
`<!-- snippet: NAME -->` marker is extracted from the README and run with bash, with the variables a CI job
would have (pointing at the local stack). An example that stops working fails here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from tests.integration.local_stack import REPO_ROOT, client_env, local_up

pytestmark = pytest.mark.integration

README = REPO_ROOT / "README.md"
ORDERS = """\
swagger: "2.0"
info:
  title: orders
  version: "1"
paths:
  /orders:
    get:
      summary: list the orders
    post:
      summary: place an order
  /orders/{id}:
    get:
      summary: one order
"""


def snippet(name: str) -> str:
    """The fenced block that follows `<!-- snippet: name -->` in README.md."""
    found = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", README.read_text(), re.S)
    assert found, f"README.md has no snippet {name!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with local_up(tmp_path_factory.mktemp("stack")) as state:
        yield state


@pytest.fixture
def job(stack: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A CI job's working directory (with openapi/orders.yaml) and environment."""
    (tmp_path / "openapi").mkdir()
    (tmp_path / "openapi/orders.yaml").write_text(ORDERS)
    env = {
        **client_env(stack),
        "TASKWATCH_URL": stack["webhook_url"],
        "PROJECT_ID": stack["project_id"],
        "INSTANCE_ID": stack["instance_id"],
        "APIG_GROUP_ID": "petstore",
        "APIG_ENV_ID": "DEFAULT_ENVIRONMENT_RELEASE_ID",
        "APIG_ENDPOINT": stack["apig_endpoint"],  # the APIG emulator instead of apig.{region}.myhuaweicloud.com
        "CI_PIPELINE_ID": "4242",
        "TASK_QUEUE_URL": stack["queue_url"],
        "AWS_ENDPOINT_URL": stack["aws_endpoint"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": stack["region"],
    }
    return {"cwd": tmp_path, "env": env}


def run(job: dict[str, Any], script: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=job["cwd"], env={**job["env"], **extra}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def start(job: dict[str, Any], *argv: str) -> str:
    """A task started on APIG as a CI job would (its id printed as {"task_id": ...})."""
    done = subprocess.run(
        ["taskwatch", *argv, "--project-id", job["env"]["PROJECT_ID"], "--instance-id", job["env"]["INSTANCE_ID"]],
        cwd=job["cwd"], env=job["env"], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task_id: str = json.loads(done.stdout)["task_id"]
    return task_id


def test_cli_import(job: dict[str, Any]) -> None:
    done = run(job, snippet("cli-import"))
    assert done.returncode == 0, done.stderr
    record = json.loads((job["cwd"] / "taskwatch-record.json").read_text())
    assert (record["status"], record["task_type"]) == ("succeeded", "import_api")
    assert json.loads(done.stdout) == record
    assert "<testsuites" in (job["cwd"] / "taskwatch-junit.xml").read_text()


def test_cli_export(job: dict[str, Any], stack: dict[str, Any]) -> None:
    done = run(job, snippet("cli-export"))
    assert done.returncode == 0, done.stderr
    record = json.loads((job["cwd"] / "export-record.json").read_text())
    assert record["status"] == "succeeded" and record["export"]["bucket"] == stack["bucket"]


def test_cli_start_then_submit_wait_and_status(job: dict[str, Any]) -> None:
    done = run(job, snippet("cli-submit"))
    assert done.returncode == 0, done.stderr
    record = json.loads((job["cwd"] / "taskwatch-record.json").read_text())  # `--wait > file` is valid JSON
    assert (record["status"], record["source"]) == ("succeeded", {"pipeline": "4242"})
    assert json.loads(done.stdout)["task_id"] == record["task_id"]  # `status` printed the same record


def test_a_bad_key_exits_2(job: dict[str, Any]) -> None:
    done = run(job, snippet("cli-bad-key"), TASK_ID="t-unknown")
    assert done.stdout.splitlines()[-1] == "exit code 2"
    assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["error"].startswith(
        "TASKWATCH_WEBHOOK_KEY is not a webhook key"
    )


def test_curl_and_openssl(job: dict[str, Any]) -> None:
    if not (shutil.which("curl") and shutil.which("openssl")):
        pytest.skip("curl or openssl is not installed")
    task_id = start(job, "import", "openapi/orders.yaml", "--group-id", "petstore")
    done = run(job, snippet("curl"), TASK_ID=task_id)
    assert done.returncode == 0, done.stdout + done.stderr
    queued, record = done.stdout.strip().split("\n", 1)  # the POST's answer, then the final record
    assert json.loads(queued)["status"] == "queued"
    assert json.loads(record)["status"] == "succeeded"


def test_straight_to_the_queue(job: dict[str, Any]) -> None:
    if not shutil.which("aws", path=job["env"]["PATH"]):
        pytest.skip("the AWS CLI is not installed")
    task_id = start(job, "export", "--group-id", "petstore", "--env-id", "RELEASE")
    # The local stack's one difference from AWS: its endpoint (the AWS CLI v1 ignores AWS_ENDPOINT_URL).
    prelude = 'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }\n'
    done = run(job, prelude + snippet("queue"), TASK_ID=task_id)
    assert done.returncode == 0, done.stderr
    sent, end = json.JSONDecoder().raw_decode(done.stdout)  # aws prints the message id, then taskwatch the record
    record = json.loads(done.stdout[end:])
    assert "MessageId" in sent
    assert (record["task_id"], record["status"], record["source"]) == (task_id, "succeeded", {"ci": "manual"})


def test_the_github_workflow_uses_the_action_with_an_id_token() -> None:
    workflow = yaml.safe_load(snippet("github-workflow"))
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    job = workflow["jobs"]["import-api"]
    assert job["permissions"]["id-token"] == "write"
    (step,) = (s for s in job["steps"] if "apig-taskwatch@" in s.get("uses", ""))
    assert re.fullmatch(r"[\w-]+/apig-taskwatch@[0-9a-f]{40}", step["uses"])
    assert set(step["with"]) <= set(action["inputs"])
    assert all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", s["uses"]) for s in job["steps"] if "uses" in s)
    assert not any("${{" in s.get("run", "") for s in job["steps"])
