"""`taskwatch watch` against the APIG emulator over real HTTP (SDK-signed), with tiny delays."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from apig_emulator import ApigEmulator, ScriptedAnswer
from taskwatch_local import cli

PROJECT_ID = "0123456789abcdef0123456789abcdef"
INSTANCE_ID = "eddc4d25480b4cd6b512f270a1b8b341"
AK, SK = "WATCHAK0000000000001", "watch-secret-key-for-tests-only-000000000"


@pytest.fixture
def apig(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApigEmulator]:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    with ApigEmulator(credentials={AK: SK}, waiting_seconds=0.3, processing_seconds=0.3) as emulator:
        yield emulator


def watch(apig: ApigEmulator, task_id: str, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    args = cli.build_parser().parse_args(
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
        ]
    )
    return args.run(args, out=out), out.getvalue()


def test_a_succeeded_export_is_written_to_the_out_file(apig: ApigEmulator, tmp_path: Path) -> None:
    swagger = json.dumps({"swagger": "2.0", "info": {"title": "petstore"}, "paths": {"/pets": {"get": {}}}})
    task_id = apig.create_task("export_api", PROJECT_ID, INSTANCE_ID, ScriptedAnswer.export_json(swagger))
    target = tmp_path / "export.json"

    code, output = watch(apig, task_id, "--expected-type", "export_api", "--out", str(target))

    assert code == 0, output
    assert target.read_text(encoding="utf-8") == swagger
    assert "outcome: succeeded" in output
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
        (ScriptedAnswer.failed("APIG.3201", "The API group name already exists"), "outcome: failed"),
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
            "outcome: partial_failure",
        ),
    ],
)
def test_other_outcomes_exit_non_zero(apig: ApigEmulator, outcome: ScriptedAnswer, expected: str) -> None:
    task_id = apig.create_task("import_api", PROJECT_ID, INSTANCE_ID, outcome)

    code, output = watch(apig, task_id)

    assert code == 1
    assert expected in output
    assert "APIG.3201" in output


def test_unknown_task_and_wrong_type_exit_non_zero(apig: ApigEmulator) -> None:
    assert watch(apig, "no-such-task")[0] == 1
    task_id = apig.create_task("import_api", PROJECT_ID, INSTANCE_ID)
    code, output = watch(apig, task_id, "--expected-type", "export_api")
    assert code == 1
    assert "outcome: error" in output


def test_bad_credentials_are_unauthorized(apig: ApigEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "wrong")
    task_id = apig.create_task("export_api", PROJECT_ID, INSTANCE_ID)
    code, output = watch(apig, task_id)
    assert code == 1
    assert "outcome: unauthorized" in output
