"""Export drift through the real poller on the local stack: two exports of one API group and
environment, a breaking change between them, and what a team sees — drift.json beside the second
export, the counts in its record and status, and exactly one notification flagged drift=breaking."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apig_emulator import ScriptedAnswer
from tests.integration.conftest import INSTANCE_ID, Harness, poll_message

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

V1_YAML = """swagger: "2.0"
info: {title: orders, version: "1"}
paths:
  /orders:
    get:
      parameters:
        - {name: limit, in: query, type: integer}
      responses:
        "200": {description: ok}
      x-apigateway-backend:
        type: HTTP
        httpEndpoints: {address: "orders.internal:8080", scheme: http, method: GET, path: /orders, timeout: 5000}
  /orders/{id}:
    delete:
      parameters:
        - {name: id, in: path, required: true, type: string}
      responses:
        "204": {description: gone}
"""
# /orders/{id} DELETE removed (breaking), `limit` made required (breaking), the backend timeout changed.
V2_YAML = (
    V1_YAML.replace(
        "- {name: limit, in: query, type: integer}", "- {name: limit, in: query, type: integer, required: true}"
    )
    .replace("timeout: 5000", "timeout: 9000")
    .split("  /orders/{id}:")[0]
)


def export(harness: Harness, task_id: str, document: str) -> dict[str, Any]:
    harness.apig.script(
        task_id, [ScriptedAnswer.export_json(document, file_name="orders", file_type=".yaml")], task_type="export_api"
    )
    harness.send(poll_message(task_id, expected_type="export_api", group_id="grp1", env_id="RELEASE"))
    harness.run_until_finished(task_id)
    record = harness.record(task_id)
    assert record is not None
    return record


def test_two_exports_report_the_breaking_drift_once(harness: Harness) -> None:
    # Given a first export of the group (the baseline) and a second one that breaks clients
    first = export(harness, "drift-e1", V1_YAML)
    second = export(harness, "drift-e2", V2_YAML)
    harness.drain(3)
    # Then the first has no drift and the second counts one removed operation and one breaking change
    assert first["drift"] is None
    assert second["status"] == "succeeded"
    assert second["drift"] == {"baseline_task_id": "drift-e1", "added": 0, "removed": 1, "changed": 1, "breaking": 2}
    # And drift.json lies beside the second export, naming the operations
    stored = json.loads(harness.stack.objects()[f"exports/{INSTANCE_ID}/drift-e2/drift.json"])
    assert stored["removed"] == [{"method": "DELETE", "path": "/orders/{id}", "breaking": True}]
    [changed] = stored["changed"]
    assert (changed["method"], changed["path"], changed["breaking"]) == ("GET", "/orders", True)
    assert {c["kind"] for c in changed["changes"]} >= {"parameter.made_required", "backend.changed"}
    # And exactly one notification went out (NOTIFY_ON_SUCCESS is off), flagged for subscribers' filters
    notes = harness.stack.notifications(wait_seconds=1)
    assert [(n["message"]["task_id"], n["attributes"].get("drift")) for n in notes] == [("drift-e2", "breaking")]
    assert notes[0]["message"]["drift"] == second["drift"]


def test_a_duplicate_and_an_out_of_order_delivery_leave_the_newest_export_as_baseline(harness: Harness) -> None:
    # Given the older export still running when the newer one starts and finishes
    harness.apig.script(
        "old",
        [ScriptedAnswer.processing(), ScriptedAnswer.export_json(V1_YAML, file_name="orders", file_type=".yaml")],
        task_type="export_api",
    )
    harness.send(poll_message("old", expected_type="export_api", group_id="grp2", env_id="RELEASE"))
    harness.source.poll_once()
    export(harness, "new", V2_YAML)
    # When the older one finishes afterwards, and its terminal poll is delivered twice
    harness.run_until_finished("old")
    harness.send(poll_message("new", expected_type="export_api", group_id="grp2", env_id="RELEASE"))
    harness.drain(3)
    # Then a third export compares with the newer one, never with the late older one
    third = export(harness, "third", V1_YAML)
    assert third["drift"] is not None and third["drift"]["baseline_task_id"] == "new"
    old = harness.record("old")
    assert old is not None and old["status"] == "succeeded" and old["drift"] is None
