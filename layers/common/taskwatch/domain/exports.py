"""Where an export or import report is stored, and what its object carries (docs/contract.md, "S3")."""

from __future__ import annotations

import json
import unicodedata

from taskwatch.domain.limits import S3_METADATA_SOURCE_BYTES
from taskwatch.domain.model import ExportResult, PollMessage
from taskwatch.domain.text import clean_text, clip_text

REPORT_NAME = "import-report.json"
DRIFT_NAME = "drift.json"


def task_prefix(export_prefix: str, message: PollMessage) -> str:
    return f"{export_prefix}{message.instance_id}/{message.task_id}/"


def export_file_name(export: ExportResult) -> str:
    if not export.file_name:
        return f"swagger.{export.file_type}"
    # Keep APIG's name (colons, plain spaces and all) but never let it add path levels, and drop every other
    # Unicode control, format and separator character (DEL, C1, U+202E right-to-left override, U+2028, BOM).
    kept = "".join(
        "_" if ch in "/\\" else ch
        for ch in clean_text(export.file_name)
        if ch == " " or unicodedata.category(ch)[0] not in "CZ"
    )
    safe = clip_text(kept.strip(), 200)
    return f"{safe or 'swagger'}.{export.file_type}"


def object_metadata(message: PollMessage, task_type: str) -> dict[str, str]:
    # The notification's field names, so whoever reads an object finds the same words.
    metadata = {
        "task_id": message.task_id,
        "task_type": task_type,
        "project_id": message.project_id,
        "instance_id": message.instance_id,
    }
    if message.source is not None:
        source = json.dumps(message.source, separators=(",", ":"), sort_keys=True)  # ASCII-escaped
        # S3 allows 2 KB of user metadata in all; a larger CI context stays in the record only.
        if len(source) <= S3_METADATA_SOURCE_BYTES:
            metadata["source"] = source
        else:
            metadata["source_truncated"] = "true"
    return metadata
