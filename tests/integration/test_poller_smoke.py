from __future__ import annotations

from apig_emulator import Step

from tests.integration.conftest import INSTANCE_ID, Harness, poll_message


def test_export_lands_in_bucket(harness: Harness) -> None:
    # Given an export task that is processing, then succeeds
    swagger = '{"swagger": "2.0", "info": {"title": "petstore"}}'
    harness.apig.script(
        "task1", [Step.waiting(), Step.processing(), Step.export_json(swagger, file_name="petstore-RELEASE")],
        task_type="export_api",
    )
    # When CI sends the poll message
    harness.send(poll_message("task1"))
    harness.run_until_finished("task1")
    # Then the swagger is in the bucket byte for byte and the record says succeeded
    objects = harness.stack.objects()
    assert objects == {f"exports/{INSTANCE_ID}/task1/petstore-RELEASE.json": swagger.encode()}
    view = harness.record("task1")
    assert view is not None and view["status"] == "succeeded" and view["attempts"] == 3
    assert harness.apig.calls("task1") == 3
