"""How created import/export tasks end: the answer they give once done, derived from what was submitted."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from .answers import ScriptedAnswer, import_result
from .swagger import SwaggerSummary, export_document, to_yaml


def import_outcome(summary: SwaggerSummary, action: str, group_id: str | None) -> ScriptedAnswer:
    """A group titled "...broken..." fails; operations on a "/fail" path are reported as failures."""
    if "broken" in summary.title.lower():
        return ScriptedAnswer.failed("APIG.3201", "The API group name already exists")
    success: list[dict[str, Any]] = []
    failure: list[dict[str, Any]] = []
    for http_method, api_path in summary.operations:
        if "/fail" in api_path:
            failure.append(
                {
                    "method": http_method,
                    "path": api_path,
                    "error_code": "APIG.3201",
                    "error_msg": "Backend address is invalid",
                }
            )
        else:
            success.append({"id": uuid.uuid4().hex, "action": action, "method": http_method, "path": api_path})
    return ScriptedAnswer.succeed(import_result(success, failure, [], group_id))


def empty_import_outcome() -> ScriptedAnswer:
    return ScriptedAnswer.succeed(import_result([], [], [], None))


def export_outcome(group_id: str, define: str, file_type: str, now: float) -> ScriptedAnswer:
    """A generated swagger export, named as APIG names it (``<group>-RELEASE-<define>-<stamp>``)."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d-%H:%M:%S")
    document = export_document(group_id, define, stamp)
    if file_type == "yaml":
        text = to_yaml(document)
        suffix = ".yaml"
    else:
        text = json.dumps(document, indent="\t")
        suffix = ".json"
    return ScriptedAnswer.export_json(text, file_name=f"{group_id}-RELEASE-{define}-{stamp}", file_type=suffix)
