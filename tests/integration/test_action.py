"""The GitHub Action (action.yml) run as a runner runs a composite action, against `taskwatch local up`.

Each step's `run:` script goes to `bash --noprofile --norc -eo pipefail` with the step's `env:` (its `${{ }}`
expressions evaluated from the inputs and earlier steps' outputs), a fresh $GITHUB_OUTPUT file per step, one
$GITHUB_STEP_SUMMARY, $RUNNER_TEMP and $GITHUB_ACTION_PATH (a copy of the repository as the runner checks it
out); the action's outputs are then evaluated from the steps' outputs. The install step's pip has no index
here: it finds setuptools and the Huawei SDK core's wheels in a local directory (PIP_FIND_LINKS)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from taskwatch_local.oidc_issuer import LocalOidcIssuer
from tests.integration.client_venvs import setuptools_wheel, source_tree, wheelhouse
from tests.integration.local_stack import REPO_ROOT, client_env, github_token_endpoint, local_up

pytestmark = pytest.mark.integration

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
ORDERS = """\
swagger: "2.0"
info:
  title: orders
  version: "1"
paths:
  /orders:
    get:
      summary: list the orders
  /orders/fail:
    post:
      summary: APIG rejects this one (the emulator fails every path with /fail)
"""


@dataclass
class Environment:
    state: dict[str, Any]
    issuer: LocalOidcIssuer
    action_path: Path
    wheels: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    tmp = tmp_path_factory.mktemp("action")
    checkout = source_tree(tmp / "checkout", "apig-taskwatch")  # what actions/checkout of this repo holds
    shutil.copy(REPO_ROOT / "action.yml", checkout / "action.yml")
    wheels = wheelhouse(tmp / "wheels", ["huaweicloudsdkcore==3.1.219"])
    setuptools_wheel(wheels)
    with LocalOidcIssuer() as issuer:
        trust = [issuer.trust_rule(repository_owner_id="1234567", repository="acme/*")]
        with local_up(tmp, env={"OIDC_TRUST": json.dumps(trust)}) as state:
            yield Environment(state, issuer, checkout, wheels)


@dataclass
class ActionRun:
    failed_step: str | None
    exit_code: int
    outputs: dict[str, str]
    summary: str
    log: str


def read_outputs(path: Path) -> dict[str, str]:
    """A $GITHUB_OUTPUT file: `name=value` lines and `name<<DELIMITER` ... `DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    while lines:
        line = lines.pop(0)
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter)
            values[name], lines = "\n".join(lines[:end]), lines[end + 1 :]
        else:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def run_action(world: Environment, tmp: Path, inputs: dict[str, str], env: dict[str, str]) -> ActionRun:
    action = yaml.safe_load((world.action_path / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    declared = action["inputs"]
    assert set(inputs) <= set(declared), set(inputs) - set(declared)
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs
    missing = [name for name, spec in declared.items() if spec.get("required") and not values[name]]
    assert not missing, missing
    steps: dict[str, dict[str, str]] = {}

    def evaluate(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            parts = match.group(1).split(".")
            if parts[0] == "inputs" and len(parts) == 2:
                return values[parts[1]]
            assert parts[0] == "steps" and parts[2] == "outputs" and len(parts) == 4, match.group(0)
            return steps.get(parts[1], {}).get(parts[3], "")

        return EXPRESSION.sub(one, text)

    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()
    summary = tmp / "step-summary.md"
    log: list[str] = []
    failed: str | None = None
    code = 0
    for index, step in enumerate(action["runs"]["steps"]):
        assert step["shell"] == "bash" and "uses" not in step
        assert "${{" not in step["run"]  # expressions reach scripts through env: only
        output = tmp / f"output-{index}"
        script = tmp / f"step-{index}.sh"
        script.write_text(step["run"])
        step_env = {name: evaluate(str(value)) for name, value in (step.get("env") or {}).items()}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env={
                **env,
                "GITHUB_ACTIONS": "true",
                "GITHUB_ACTION_PATH": str(world.action_path),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_REPOSITORY": "acme/petstore-api",
                "GITHUB_RUN_ID": "9876543210",
                "GITHUB_SHA": "0" * 40,
                "GITHUB_WORKFLOW": "publish",
                "RUNNER_TEMP": str(runner_temp),
                "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": str(world.wheels),
                **step_env,
            },
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        log.append(f"--- {step['name']} ({done.returncode})\n{done.stdout}\n{done.stderr}")
        steps[step.get("id", str(index))] = read_outputs(output)
        if done.returncode != 0:
            failed, code = step["name"], done.returncode
            break
    outputs = {name: evaluate(spec["value"]) for name, spec in action["outputs"].items()}
    return ActionRun(failed, code, outputs, summary.read_text() if summary.exists() else "", "\n".join(log))


def job_env(world: Environment) -> dict[str, str]:
    env = client_env(world.state)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != str(Path(sys.executable).parent))
    return env


def common_inputs(world: Environment) -> dict[str, str]:
    return {
        "project-id": world.state["project_id"],
        "instance-id": world.state["instance_id"],
        "endpoint": world.state["apig_endpoint"],
        "python": sys.executable,
    }


def test_an_import_with_the_jobs_oidc_token_reports_its_failed_api(world: Environment, tmp_path: Path) -> None:
    # Given a job with `id-token: write` and no webhook key, and a definition with one API APIG rejects
    (tmp_path / "orders.yaml").write_text(ORDERS)
    with github_token_endpoint(world.issuer, "runner-token") as (token_url, audiences):
        env = {
            **job_env(world),
            "TASKWATCH_WEBHOOK_KEY": "",
            "ACTIONS_ID_TOKEN_REQUEST_URL": token_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-token",
        }
        # When the action imports it through the webhook
        inputs = {
            "command": "import",
            "import-file": "orders.yaml",
            "create-group": "true",
            "url": world.state["webhook_url"],
            "timeout": "120",
            "junit": "junit.xml",
            **common_inputs(world),
        }
        run = run_action(world, tmp_path, inputs, env)

    # Then the run step fails with exit code 1 (a partial import) and the outputs say why
    assert (run.failed_step, run.exit_code) == ("Run taskwatch", 1), run.log
    assert run.outputs["outcome"] == run.outputs["status"] == "partial_failure"
    assert re.fullmatch(r"[0-9a-f]{32}", run.outputs["task_id"])
    record = json.loads(Path(run.outputs["record"]).read_text())
    assert record["caller"]["repository"] == "acme/petstore-api"  # the OIDC token, not a shared key
    assert record["source"] == {"repository": "acme/petstore-api", "run_id": "9876543210", "sha": "0" * 40,
                                "workflow": "publish"}  # fmt: skip
    assert set(audiences) == {"apig-taskwatch"}
    # And the summary and the annotation name the failed API; the JUnit report has it as a failure
    assert "### ❌ APIG import partially failed" in run.summary
    assert "| POST | `/orders/fail` | APIG.3201 | Backend address is invalid |" in run.summary
    assert f"::error title=APIG import {run.outputs['task_id']}%3A POST /orders/fail::APIG.3201" in run.log
    assert 'name="POST /orders/fail"' in (tmp_path / "junit.xml").read_text()


def test_an_export_with_the_shared_key_names_where_it_landed(world: Environment, tmp_path: Path) -> None:
    inputs = {
        "command": "export",
        "group-id": "petstore",
        "env-id": "DEFAULT_ENVIRONMENT_RELEASE_ID",
        "define": "all",
        "url": world.state["webhook_url"],
        **common_inputs(world),
    }
    run = run_action(world, tmp_path, inputs, job_env(world))
    assert (run.failed_step, run.exit_code) == (None, 0), run.log
    assert (run.outputs["outcome"], run.outputs["export_bucket"]) == ("succeeded", world.state["bucket"])
    assert run.outputs["export_key"].startswith(f"exports/{world.state['instance_id']}/{run.outputs['task_id']}/")
    assert "### ✅ APIG export succeeded" in run.summary


def test_direct_mode_needs_no_webhook(world: Environment, tmp_path: Path) -> None:
    inputs = {
        "command": "export",
        "group-id": "petstore",
        "env-id": "DEFAULT_ENVIRONMENT_RELEASE_ID",
        "direct": "true",
        "out": "petstore.json",
        **common_inputs(world),
    }
    env = {**job_env(world), "TASKWATCH_WEBHOOK_KEY": ""}
    run = run_action(world, tmp_path, inputs, env)
    assert (run.failed_step, run.exit_code) == (None, 0), run.log
    assert run.outputs["outcome"] == "succeeded" and run.outputs["export_bucket"] == ""
    assert json.loads((tmp_path / "petstore.json").read_text())["info"]["title"] == "petstore"
