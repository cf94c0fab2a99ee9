"""`taskwatch watch` against the APIG emulator over real HTTP (SDK-signed), with tiny delays.

stdout is the JSON document (the status record's fields); progress goes to stderr."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apig_emulator import ApigEmulator, ScriptedAnswer
from taskwatch_cli import cli

PROJECT_ID = "0123456789abcdef0123456789abcdef"
INSTANCE_ID = "eddc4d25480b4cd6b512f270a1b8b341"
AK, SK = "WATCHAK0000000000001", "watch-secret-key-for-tests-only-000000000"


@pytest.fixture
def apig(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApigEmulator]:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    with ApigEmulator(credentials={AK: SK}, waiting_seconds=0.3, processing_seconds=0.3) as emulator:
        yield emulator


def watch(apig: ApigEmulator, task_id: str, *extra: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        [
            "watch",
            "--endpoint",
            apig.url,
            "--project-id",
            PROJECT_ID,
            "--instance-id",
            INSTANCE_ID,
            "--task-id",
            task_id,
            "--min-delay",
            "1",
            "--max-delay",
            "1",
            "--max-wait",
            "20",
            *extra,
        ],
        out=out,
        err=err,
        plugins=False,
    )
    document: dict[str, Any] = json.loads(out.getvalue())
    return code, document


def test_a_succeeded_export_is_written_to_the_out_file(apig: ApigEmulator, tmp_path: Path) -> None:
    swagger = json.dumps({"swagger": "2.0", "info": {"title": "petstore"}, "paths": {"/pets": {"get": {}}}})
    task_id = apig.create_task("export_api", PROJECT_ID, INSTANCE_ID, ScriptedAnswer.export_json(swagger))
    target = tmp_path / "export.json"

    code, document = watch(apig, task_id, "--expected-type", "export_api", "--out", str(target))

    assert code == 0, document
    assert target.read_text(encoding="utf-8") == swagger
    assert document["outcome"] == "succeeded"
    assert document["export"] == {"file": str(target.resolve())}
    assert apig.calls(task_id) >= 2  # it polled while the task was waiting/processing


def test_an_export_without_out_lands_in_the_current_directory_under_its_name(
    apig: ApigEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    task_id = apig.create_task(
        "export_api", PROJECT_ID, INSTANCE_ID, ScriptedAnswer.export_json("{}", file_name="grp-v1")
    )

    code, _ = watch(apig, task_id)

    assert code == 0
    assert (tmp_path / "grp-v1.json").read_text() == "{}"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ScriptedAnswer.failed("APIG.3201", "The API group name already exists"), "failed"),
        (
            ScriptedAnswer.succeed(
                {
                    "success": [],
                    "failure": [
                        {
                            "method": "POST",
                            "path": "/orders/fail",
                            "error_code": "APIG.3201",
                            "error_msg": "bad backend",
                        }
                    ],
                }
            ),
            "partial_failure",
        ),
    ],
)
def test_other_outcomes_exit_non_zero(apig: ApigEmulator, outcome: ScriptedAnswer, expected: str) -> None:
    task_id = apig.create_task("import_api", PROJECT_ID, INSTANCE_ID, outcome)

    code, document = watch(apig, task_id)

    assert code == 1
    assert document["outcome"] == expected
    assert document["error_code"] == "APIG.3201"


def test_unknown_task_and_wrong_type_exit_non_zero(apig: ApigEmulator) -> None:
    code, document = watch(apig, "no-such-task")
    assert (code, document["outcome"]) == (1, "not_found")
    task_id = apig.create_task("import_api", PROJECT_ID, INSTANCE_ID)
    code, document = watch(apig, task_id, "--expected-type", "export_api")
    assert (code, document["outcome"]) == (1, "error")


def test_bad_credentials_are_unauthorized(apig: ApigEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "wrong")
    task_id = apig.create_task("export_api", PROJECT_ID, INSTANCE_ID)
    code, document = watch(apig, task_id)
    assert (code, document["outcome"]) == (1, "unauthorized")
