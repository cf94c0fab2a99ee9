"""The verdict: how a run differed from the script, and the exit code that follows from it."""

from __future__ import annotations

import json
from typing import Any

from taskwatch_local.demo.story import DemoResult, StoryTask

EXIT_AS_SCRIPTED, EXIT_DIFFERED = 0, 1


def differences(result: DemoResult) -> list[str]:
    """How the run differed from the script; empty when it ended as scripted."""
    found: list[str] = []
    if not result.finished:
        found.append("not every task finished before the demo's deadline")
    for task in result.tasks:
        status = result.statuses.get(task.task_id) or {}
        if status.get("status") != task.expected_outcome:
            found.append(f"{task.label}: status {status.get('status')!r}, expected {task.expected_outcome!r}")
        elif task.task_type == "export_api":
            found.extend(_export_differences(task, status, result))
        elif task.expected_outcome == "partial_failure":
            failures = status.get("failures") or []
            if not failures or not all("/fail" in str(item.get("path")) for item in failures):
                found.append(f"{task.label}: the failed APIs are not listed as the ones under /fail: {failures}")
        elif task.expected_outcome == "failed" and status.get("error_code") != "APIG.3201":
            found.append(f"{task.label}: error_code {status.get('error_code')!r}, expected 'APIG.3201'")

    expected_notes = {t.task_id: t.expected_outcome for t in result.tasks if t.expected_outcome != "succeeded"}
    got_notes = [(n["message"].get("task_id"), n["message"].get("outcome")) for n in result.notifications]
    if len(got_notes) != len(expected_notes) or dict(got_notes) != expected_notes:
        found.append(f"notifications: got {got_notes}, expected one each for {sorted(expected_notes.items())}")
    if result.second_act is not None:
        from taskwatch_local.demo.second_act import differences as second_act_differences

        found.extend(second_act_differences(result.second_act))
    return found


def _export_differences(task: StoryTask, status: dict[str, Any], result: DemoResult) -> list[str]:
    export = status.get("export") or {}
    key = export.get("key")
    if export.get("bucket") != result.bucket or key not in result.objects:
        return [f"{task.label}: no stored export at {export}"]
    try:
        document = json.loads(result.objects[key])
    except ValueError:
        return [f"{task.label}: the stored export is not JSON"]
    if not isinstance(document, dict) or document.get("swagger") != "2.0" or not document.get("paths"):
        return [f"{task.label}: the stored export is not a swagger document"]
    return []


def exit_code(result: DemoResult) -> int:
    return EXIT_AS_SCRIPTED if not differences(result) else EXIT_DIFFERED
