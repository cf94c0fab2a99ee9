"""Deploying from CI: samconfig.toml's `ci` environment and the example GitHub Actions workflow.

(actionlint and zizmor check the workflow itself in `make lint`; these tests pin what they do not know:
the project's own rules for the deploy job.)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is not a dev dependency

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "deploy.yml"


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    with (REPO_ROOT / "samconfig.toml").open("rb") as stream:
        return tomllib.load(stream)


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_ci_deploy_never_prompts_and_tolerates_no_change(samconfig: dict[str, Any]) -> None:
    # Given the ci environment's deploy settings
    deploy = samconfig["ci"]["deploy"]["parameters"]
    # Then the change set runs without confirmation, an unchanged stack is not an error, and IAM is allowed
    assert deploy["confirm_changeset"] is False
    assert deploy["fail_on_empty_changeset"] is False
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert samconfig["ci"]["global"]["parameters"]["stack_name"]


def test_ci_parameters_name_only_template_parameters(samconfig: dict[str, Any], template: dict[str, Any]) -> None:
    # Given the ci environment's parameter overrides
    overrides = dict(
        pair.split("=", 1) for pair in samconfig["ci"]["deploy"]["parameters"]["parameter_overrides"].split()
    )
    # Then each names a parameter of the template with a value it accepts
    for name, value in overrides.items():
        parameter = template["Parameters"][name]
        if "AllowedValues" in parameter:
            assert value in map(str, parameter["AllowedValues"]), name
        if parameter["Type"] == "Number":
            assert parameter.get("MinValue", 0) <= int(value) <= parameter.get("MaxValue", int(value)), name
        if "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], value), name


def test_workflow_gets_aws_credentials_through_oidc_only(workflow: dict[str, Any]) -> None:
    # Given the workflow's permissions
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    # Then the job may only mint an OIDC token and read the repository ...
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    # ... and assumes a role with it: no access keys anywhere
    (credentials,) = [
        s for s in steps(workflow) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert "role-to-assume" in credentials["with"]
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    assert "secrets." not in WORKFLOW.read_text()


def test_workflow_pins_every_action_to_a_commit(workflow: dict[str, Any]) -> None:
    # Given every action the workflow uses
    used = [s["uses"] for s in steps(workflow) if "uses" in s]
    assert used
    for reference in used:
        # Then it is pinned to a full 40-hex commit, with the version in a comment beside it
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", reference), reference
        line = next(line for line in WORKFLOW.read_text().splitlines() if reference in line)
        assert re.search(r"# v\d+\.\d+\.\d+$", line), line


def test_workflow_expands_no_expression_inside_scripts(workflow: dict[str, Any]) -> None:
    # Given every run: script
    for step in steps(workflow):
        if "run" in step:
            # Then no ${{ }} is pasted into the shell: values come in through env:
            assert "${{" not in step["run"], step.get("name")


def test_workflow_deploys_with_the_ci_config(workflow: dict[str, Any]) -> None:
    runs = "\n".join(s["run"] for s in steps(workflow) if "run" in s)
    # Then it builds and deploys with the ci environment, after sam validate --lint
    assert "sam validate --lint" in runs
    assert "sam build --config-env ci" in runs
    assert "sam deploy --config-env ci" in runs
    checkout = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False
