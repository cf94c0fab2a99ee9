"""How a command ends: one JSON document on stdout, and what CI systems read besides.

- stdout: exactly one JSON document, whatever happened (the record, `{"task_id": ...}`, `{"error": ...}`);
- `--output FILE`: the same document in a file; `--junit FILE`: a JUnit report;
- GitHub Actions: outputs appended to $GITHUB_OUTPUT, a Markdown summary to $GITHUB_STEP_SUMMARY, and
  one `::error` annotation per failed API of a partially failed import (on stderr, which the runner
  reads too: stdout stays one JSON document).
"""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from taskwatch_cli.console import Console
from taskwatch_cli.errors import EXIT_ERROR

OUTPUT_NAMES = ("task_id", "status", "outcome", "export_bucket", "export_key", "export_file", "status_url")
STATUS_WORDS = {
    "succeeded": "succeeded",
    "partial_failure": "partially failed",
    "failed": "failed",
    "not_found": "not found",
    "unauthorized": "unauthorized",
    "timed_out": "timed out",
    "error": "ended in error",
    "queued": "still queued",
    "polling": "still running",
}
TYPE_WORDS = {"import_api": "import", "export_api": "export"}
MAX_SUMMARY_FAILURES = 50


@dataclass(frozen=True)
class ApiResult:
    """One API of an import, for the JUnit report."""

    method: str
    path: str
    error_code: str | None = None
    error_msg: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_code is not None or self.error_msg is not None


@dataclass
class Ending:
    code: int
    document: dict[str, Any]
    status_url: str | None = None
    apis: list[ApiResult] | None = None  # every API of an import, when known (direct mode)


def error_ending(message: str, task_id: str | None = None) -> Ending:
    document: dict[str, Any] = {"error": message}
    if task_id:
        document["task_id"] = task_id
    return Ending(EXIT_ERROR, document)


def finish(
    ending: Ending,
    *,
    out: TextIO,
    console: Console,
    env: Mapping[str, str],
    output_file: str | None = None,
    junit_file: str | None = None,
) -> int:
    """Write everything the ending owes; return the exit code. stdout gets exactly one JSON document."""
    try:
        text = json.dumps(ending.document, indent=2, sort_keys=True) + "\n"
        if output_file:
            Path(output_file).write_text(text, encoding="utf-8")
        if junit_file:
            Path(junit_file).write_bytes(junit(ending))
    except OSError as error:
        message = f"cannot write {error.filename or 'a file'}: {error.strerror or error}"
        console.error(message)
        ending = error_ending(message, _task_id(ending.document))
        text = json.dumps(ending.document, indent=2, sort_keys=True) + "\n"
    github(ending, env, console)
    out.write(text)
    out.flush()
    return ending.code


def _task_id(document: Mapping[str, Any]) -> str | None:
    task_id = document.get("task_id")
    return task_id if isinstance(task_id, str) else None


# --- GitHub Actions ----------------------------------------------------------------------------------


def outputs(ending: Ending) -> dict[str, str]:
    document = ending.document
    export = document.get("export") if isinstance(document.get("export"), dict) else {}
    assert isinstance(export, dict)
    values = {
        "task_id": _task_id(document) or "",
        "status": str(document.get("status") or ""),
        "outcome": str(document.get("outcome") or ""),
        "export_bucket": str(export.get("bucket") or ""),
        "export_key": str(export.get("key") or ""),
        "export_file": str(export.get("file") or ""),
        "status_url": ending.status_url or "",
    }
    return {name: values[name] for name in OUTPUT_NAMES}


def github(ending: Ending, env: Mapping[str, str], console: Console) -> None:
    output_path, summary_path = env.get("GITHUB_OUTPUT"), env.get("GITHUB_STEP_SUMMARY")
    try:
        if output_path:
            with open(output_path, "a", encoding="utf-8") as stream:
                for name, value in outputs(ending).items():
                    stream.write(_output_line(name, value))
        if summary_path:
            with open(summary_path, "a", encoding="utf-8") as stream:
                stream.write(summary(ending))
    except OSError as error:
        console.say(f"cannot write the GitHub Actions files: {error.strerror or error}")
    if env.get("GITHUB_ACTIONS") == "true":
        for line in annotation_lines(ending.document):
            console.raw(line)


def _output_line(name: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = "ghadelimiter_" + secrets.token_hex(8)
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def escape_data(text: str) -> str:
    """A workflow command's message (GitHub's rules: %, CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_lines(document: Mapping[str, Any]) -> list[str]:
    """`::error title=...::...` for each failed API of a partially failed import."""
    if document.get("status") != "partial_failure":
        return []
    task_id = _task_id(document) or "?"
    lines = []
    for failure in _failures(document):
        title = f"APIG import {task_id}: {failure.method} {failure.path}"
        message = f"{failure.error_code or ''} {failure.error_msg or ''}".strip() or "failed to import"
        lines.append(f"::error title={escape_property(title)}::{escape_data(message)}")
    return lines


def _failures(document: Mapping[str, Any]) -> list[ApiResult]:
    found = []
    for item in document.get("failures") or []:
        if isinstance(item, dict):
            found.append(
                ApiResult(
                    str(item.get("method", "")),
                    str(item.get("path", "")),
                    str(item.get("error_code") or ""),
                    str(item.get("error_msg") or ""),
                )
            )
    return found


def _cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;") or " "


def _code(value: Any) -> str:
    text = _cell(value).replace("`", "'")
    return f"`{text}`"


def summary(ending: Ending) -> str:
    document = ending.document
    status = str(document.get("status") or "")
    kind = TYPE_WORDS.get(str(document.get("task_type") or ""), "task")
    if "error" in document and not status:
        lines = [f"### ⚠️ taskwatch: {_cell(document['error'])}", ""]
        if _task_id(document):
            lines += [f"Task {_code(document['task_id'])}.", ""]
        return "\n".join(lines) + "\n"
    mark = "✅" if status == "succeeded" else ("⏳" if status in ("queued", "polling") else "❌")
    lines = [f"### {mark} APIG {kind} {STATUS_WORDS.get(status, _cell(status))}", "", "| | |", "|---|---|"]
    rows: list[tuple[str, str]] = [("task", _code(document.get("task_id", ""))), ("outcome", _code(status))]
    if document.get("attempts") is not None:
        rows.append(("polls", _cell(document["attempts"])))
    if document.get("error_code") or document.get("error_msg"):
        rows.append(("error", f"{_code(document.get('error_code') or '')} {_cell(document.get('error_msg') or '')}"))
    export = document.get("export")
    if isinstance(export, dict) and export.get("bucket"):
        rows.append(("export", _code(f"s3://{export.get('bucket')}/{export.get('key')}")))
    if isinstance(export, dict) and export.get("file"):
        rows.append(("export", _code(export["file"])))
    if ending.status_url:
        rows.append(("status", _cell(ending.status_url)))
    lines += [f"| {name} | {value} |" for name, value in rows]
    failures = _failures(document)
    if failures:
        lines += ["", f"#### Failed APIs ({len(failures)})", "", "| method | path | error code | error message |"]
        lines.append("|---|---|---|---|")
        for failure in failures[:MAX_SUMMARY_FAILURES]:
            lines.append(
                f"| {_cell(failure.method)} | {_code(failure.path)} | {_cell(failure.error_code)} | "
                f"{_cell(failure.error_msg)} |"
            )
        if len(failures) > MAX_SUMMARY_FAILURES:
            lines.append(f"| ... | {len(failures) - MAX_SUMMARY_FAILURES} more | | |")
    drift = document.get("drift")
    if isinstance(drift, dict):
        baseline = drift.get("baseline_task_id")
        against = f" against export {_code(baseline)}" if baseline else " (no earlier export to compare with)"
        lines += ["", f"#### Drift{against}", "", "| added | removed | changed | breaking |", "|---|---|---|---|"]
        counts = [_cell(drift.get(name, 0)) for name in ("added", "removed", "changed", "breaking")]
        lines.append("| " + " | ".join(counts) + " |")
    return "\n".join(lines) + "\n\n"


# --- JUnit -------------------------------------------------------------------------------------------


def junit(ending: Ending) -> bytes:
    """One test case per API of an import when the APIs are known (failed APIs as failures), else one
    for the task."""
    document = ending.document
    task_id = _task_id(document) or "unknown"
    kind = TYPE_WORDS.get(str(document.get("task_type") or ""), "task")
    suite_name = f"APIG {kind} {task_id}"
    apis: Sequence[ApiResult] | None = ending.apis
    if apis is None and kind == "import":
        apis = _failures(document) or None
    cases: list[ET.Element] = []
    if apis:
        for api in apis:
            case = ET.Element("testcase", classname=f"apig.{kind}.{task_id}", name=f"{api.method} {api.path}")
            if api.failed:
                message = f"{api.error_code or ''} {api.error_msg or ''}".strip()
                ET.SubElement(case, "failure", type=api.error_code or "failed", message=message).text = message
            cases.append(case)
    else:
        case = ET.Element("testcase", classname=f"apig.{kind}", name=f"{kind} {task_id}")
        status = str(document.get("status") or "")
        if "error" in document and not status:
            ET.SubElement(case, "error", message=str(document["error"])).text = str(document["error"])
        elif status != "succeeded":
            message = " ".join(str(x) for x in (document.get("error_code"), document.get("error_msg")) if x)
            message = message or STATUS_WORDS.get(status, status)
            ET.SubElement(case, "failure", type=status or "unknown", message=message).text = message
        cases.append(case)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    errors = sum(1 for case in cases if case.find("error") is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors)}
    suites = ET.Element("testsuites", {"name": "taskwatch", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": suite_name, **counts})
    suite.extend(cases)
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
