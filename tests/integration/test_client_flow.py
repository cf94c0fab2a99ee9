"""The whole round trip as a CI job runs it, against `taskwatch local up`: `taskwatch import FILE --url` and
`taskwatch export --url` start the task on the APIG emulator, hand it to the webhook, the poller follows it,
and the command exits with the outcome and prints the final record; with the shared key or a GitHub
Actions OIDC token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskwatch_local.oidc_issuer import LocalOidcIssuer
from tests.integration.local_stack import BIN, client_env, github_token_endpoint, local_up

pytestmark = pytest.mark.integration
Stack = tuple[dict[str, Any], LocalOidcIssuer]


def swagger(title: str, *paths: str) -> str:
    return json.dumps(
        {"swagger": "2.0", "info": {"title": title, "version": "1"}, "paths": {p: {"get": {}} for p in paths}}
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    with LocalOidcIssuer() as issuer:
        trust = [issuer.trust_rule(repository_owner_id="1234567", repository="acme/*")]
        with local_up(tmp, env={"OIDC_TRUST": json.dumps(trust)}) as state:
            yield state, issuer


def taskwatch(state: dict[str, Any], *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "taskwatch"), *argv], capture_output=True, text=True, timeout=120, check=False,
        env={**client_env(state), **(env or {})},
    )  # fmt: skip


def ids(state: dict[str, Any]) -> list[str]:
    return [
        "--project-id",
        state["project_id"],
        "--instance-id",
        state["instance_id"],
        "--endpoint",
        state["apig_endpoint"],
    ]


@pytest.mark.parametrize(
    ("document", "code", "status"),
    [
        (swagger("orders", "/orders", "/orders/{id}"), 0, "succeeded"),
        (swagger("orders", "/orders", "/orders/fail"), 1, "partial_failure"),
        (swagger("broken orders", "/orders"), 1, "failed"),
    ],
    ids=["succeeded", "partial_failure", "failed"],
)
def test_import_hands_the_task_to_the_service_and_exits_with_its_outcome(
    stack: Stack, tmp_path: Path, document: str, code: int, status: str
) -> None:
    # Given an OpenAPI document and a CI job's environment (webhook key, Huawei AK/SK)
    state, _ = stack
    path = tmp_path / "orders.json"
    path.write_text(document)
    # When the job imports it and lets the service watch the task
    done = taskwatch(
        state, "import", str(path), *ids(state), "--create-group", "--url", state["webhook_url"],
        "--source", '{"pipeline": "42"}', "--interval", "0.3", "--timeout", "60", "--junit", str(tmp_path / "j.xml"),
    )  # fmt: skip
    # Then stdout is the final record, and the exit code is the outcome's
    assert done.returncode == code, done.stderr
    record = json.loads(done.stdout)
    assert (record["status"], record["task_type"], record["source"]) == (status, "import_api", {"pipeline": "42"})
    assert "APIG async-import started: task " + record["task_id"] in done.stderr
    if status == "partial_failure":
        assert [(f["method"], f["path"]) for f in record["failures"]] == [("GET", "/orders/fail")]
        assert 'name="GET /orders/fail"' in (tmp_path / "j.xml").read_text()


def test_export_lands_in_the_bucket(stack: Stack, tmp_path: Path) -> None:
    state, _ = stack
    done = taskwatch(
        state, "export", *ids(state), "--group-id", "petstore", "--env-id", "DEFAULT_ENVIRONMENT_RELEASE_ID",
        "--define", "all", "--url", state["webhook_url"], "--interval", "0.3", "--output", str(tmp_path / "rec.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record == json.loads((tmp_path / "rec.json").read_text())
    assert record["export"]["bucket"] == state["bucket"]
    assert record["export"]["key"].startswith(
        f"exports/{state['instance_id']}/{record['task_id']}/petstore-RELEASE-all"
    )


def test_without_url_or_direct_the_task_id_is_printed(stack: Stack) -> None:
    state, _ = stack
    done = taskwatch(state, "export", *ids(state), "--group-id", "petstore", "--env-id", "RELEASE")
    assert done.returncode == 0, done.stderr
    assert list(json.loads(done.stdout)) == ["task_id"]


def test_a_github_actions_job_needs_no_shared_key(stack: Stack, tmp_path: Path) -> None:
    # Given a GitHub Actions job with `id-token: write` and no webhook key
    state, issuer = stack
    path = tmp_path / "orders.json"
    path.write_text(swagger("orders", "/orders"))
    with github_token_endpoint(issuer, "runner-secret") as (url, audiences):
        env = {
            "TASKWATCH_WEBHOOK_KEY": "",
            "ACTIONS_ID_TOKEN_REQUEST_URL": url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-secret",
        }
        # When it imports and waits through the webhook
        done = taskwatch(
            state, "import", str(path), *ids(state), "--create-group", "--url", state["webhook_url"],
            "--interval", "0.3", env=env,
        )  # fmt: skip
    # Then the watch succeeded and records the job as its caller; every request had its own token
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["caller"]["repository"] == "acme/petstore-api"
    assert len(audiences) >= 2 and set(audiences) == {"apig-taskwatch"}


def test_a_wrong_key_exits_2_before_apig_starts_anything(stack: Stack) -> None:
    state, _ = stack
    done = taskwatch(
        state, "export", *ids(state), "--group-id", "petstore", "--env-id", "RELEASE", "--url", state["webhook_url"],
        env={"TASKWATCH_WEBHOOK_KEY": "not-a-key"},
    )  # fmt: skip
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"error": "TASKWATCH_WEBHOOK_KEY is not a webhook key: expected whsec_<base64>"}
    assert "APIG async-export started" not in done.stderr
