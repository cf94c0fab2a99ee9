"""The client installs on its own, as a CI job installs it: from its wheel into an empty venv (nothing but
itself, under 2 MB), with the `apig` extra (the Huawei SDK's core, never boto3, Powertools or the
emulator), and straight from a release archive URL with `#subdirectory=client`, without git."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apig_emulator import ApigEmulator
from tests.integration.client_venvs import (
    UV,
    archive,
    build_wheel,
    fresh_venv,
    installed,
    run,
    setuptools_wheel,
    site_packages_bytes,
    source_tree,
    wheelhouse,
)

pytestmark = pytest.mark.integration

NEVER = {"boto3", "botocore", "s3transfer", "aws-lambda-powertools", "moto", "apig-taskwatch", "pyjwt", "cryptography"}
PROJECT_ID, INSTANCE_ID = "0123456789abcdef0123456789abcdef", "eddc4d25480b4cd6b512f270a1b8b341"
AK, SK = "PACKAGEAK00000000001", "package-secret-key-for-tests-only"
SWAGGER = '{"swagger": "2.0", "info": {"title": "orders", "version": "1"}, "paths": {"/orders": {"get": {}}}}'
# Every module the client imports, on any path; none may import boto3 (it is not even installed there).
CLIENT_MODULES = [
    "taskwatch_cli.cli",
    "taskwatch_cli.apig",
    "taskwatch_cli.auth",
    "taskwatch_cli.direct",
    "taskwatch_cli.report",
    "taskwatch_cli.waiting",
    "taskwatch_cli.webhook",
    "taskwatch.domain.model",
    "taskwatch.domain.outcomes",
    "taskwatch.domain.policy",
    "taskwatch.domain.exports",
    "taskwatch.domain.records",
    "taskwatch.domain.signatures",
    "taskwatch.adapters.secrets",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    return build_wheel(source_tree(tmp), tmp / "dist")


def taskwatch(venv: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TASKWATCH_", "HUAWEICLOUD_", "GITHUB_"))}
    return subprocess.run(
        [str(venv / "bin" / "taskwatch"), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {}), "PATH": f"{venv / 'bin'}:{clean.get('PATH', '')}"},
        cwd=venv,
    )


def test_the_client_alone_is_itself_only_and_under_2_mb(wheel: Path, tmp_path: Path) -> None:
    # Given an empty venv
    python = fresh_venv(tmp_path / "venv")
    venv = python.parent.parent
    before, names_before = site_packages_bytes(venv), set(installed(python))
    # When the client's wheel is installed, dependencies resolved
    run([str(UV), "pip", "install", "--offline", "--quiet", "--python", str(python), str(wheel)])
    # Then it added itself only, and less than 2 MB
    assert set(installed(python)) - names_before == {"taskwatch-cli"}
    added = site_packages_bytes(venv) - before
    assert added < 2 * 1024 * 1024, added
    # And every module it imports loads without boto3, the Huawei SDK or anything else
    code = (
        f"import importlib, sys; [importlib.import_module(m) for m in {CLIENT_MODULES!r}]; print(sorted(sys.modules))"
    )
    loaded = json.loads(run([str(python), "-c", code]).stdout.replace("'", '"'))
    assert not [m for m in loaded if m.split(".")[0] in ("boto3", "botocore", "huaweicloudsdkcore", "yaml")]
    # And the commands answer: help, and an error as JSON (no key), and a hint where the SDK is needed
    assert taskwatch(venv, "--help").returncode == 0
    done = taskwatch(venv, "wait", "--url", "http://127.0.0.1:9", "--task-id", "t1")
    assert done.returncode == 2 and "TASKWATCH_WEBHOOK_KEY" in json.loads(done.stdout)["error"]
    env = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    ids = ["--project-id", PROJECT_ID, "--instance-id", INSTANCE_ID, "--endpoint", "http://127.0.0.1:9"]
    done = taskwatch(venv, "export", *ids, "--group-id", "g", "--env-id", "e", env=env)
    assert done.returncode == 2 and "taskwatch-cli[apig]" in json.loads(done.stdout)["error"]


@pytest.fixture
def apig() -> Iterator[ApigEmulator]:
    with ApigEmulator(credentials={AK: SK}, waiting_seconds=0.2, processing_seconds=0.2) as emulator:
        yield emulator


def test_the_apig_extra_adds_the_huawei_sdk_core_and_no_aws(wheel: Path, tmp_path: Path, apig: ApigEmulator) -> None:
    # Given an empty venv and an index holding the SDK core and its dependencies
    python = fresh_venv(tmp_path / "venv")
    venv = python.parent.parent
    index = wheelhouse(tmp_path / "wheels", ["huaweicloudsdkcore==3.1.219"])
    # When `taskwatch-cli[apig]` is installed
    requirement = f"taskwatch-cli[apig] @ {wheel.as_uri()}"
    offline = ["--offline", "--quiet", "--no-index", "--find-links", str(index)]
    run([str(UV), "pip", "install", *offline, "--python", str(python), requirement])
    # Then the SDK core is there, and nothing of AWS, Powertools, the service or its emulator
    names = set(installed(python))
    assert {"taskwatch-cli", "huaweicloudsdkcore"} <= names
    assert not names & NEVER, names & NEVER
    # And it starts and watches tasks directly (the poller's policy and parsing, no boto3 anywhere)
    env = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    ids = ["--project-id", PROJECT_ID, "--instance-id", INSTANCE_ID, "--endpoint", apig.url]
    done = taskwatch(
        venv, "export", *ids, "--group-id", "petstore", "--env-id", "RELEASE", "--direct",
        "--min-delay", "1", "--max-delay", "1", "--out", str(tmp_path / "petstore.json"), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["export"] == {"file": str(tmp_path / "petstore.json")}
    assert json.loads((tmp_path / "petstore.json").read_text())["info"]["title"] == "petstore"
    (tmp_path / "orders.json").write_text(SWAGGER)
    done = taskwatch(venv, "import", str(tmp_path / "orders.json"), *ids, "--create-group", env=env)
    assert done.returncode == 0, done.stderr
    assert apig.task_status(json.loads(done.stdout)["task_id"]) in ("waiting", "processing", "succeed")


def test_installable_from_a_release_archive_url_with_pip(tmp_path: Path) -> None:
    # Given the repository as a tag archive (GitHub's /archive/refs/tags/v0.2.0.tar.gz: one top directory)
    tarball = archive(source_tree(tmp_path / "tree"), tmp_path / "v0.2.0.tar.gz")
    # And a fresh venv with pip, offline: only the build backend (setuptools) is on hand
    python = fresh_venv(tmp_path / "venv", with_pip=True)
    build_backend = tmp_path / "backend"
    setuptools_wheel(build_backend)
    # When pip installs the archive's client/ subdirectory, as the README says
    url = f"{tarball.as_uri()}#subdirectory=client"
    run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(build_backend), url])
    # Then `taskwatch` is installed and runs
    venv = python.parent.parent
    done = taskwatch(venv, "--version")
    assert (done.returncode, done.stdout.strip()) == (0, "taskwatch-cli 0.2.0")
    assert {"taskwatch-cli"} <= set(installed(python)) <= {"taskwatch-cli", "pip", "setuptools"}
