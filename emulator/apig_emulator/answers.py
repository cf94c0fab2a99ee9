"""Scripted answers for ``GET .../async-tasks/{task_id}``: what a task says each time it is polled."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

AnswerKind = Literal["waiting", "processing", "succeed", "failed", "error", "raw", "slow"]

#: Answer kinds that produce a regular 200 task answer.
TASK_STATES = ("waiting", "processing", "succeed", "failed")


@dataclass(frozen=True)
class ScriptedAnswer:
    """One answer of a scripted task. Build it with the class methods, not the constructor."""

    kind: AnswerKind
    task_result: str = ""
    status: int = 200
    error_code: str = ""
    error_msg: str = ""
    body: bytes = b""
    content_type: str = "application/json"
    seconds: float = 0.0
    then: ScriptedAnswer | None = None

    # -- task states -------------------------------------------------------------------------
    @classmethod
    def waiting(cls) -> ScriptedAnswer:
        return cls(kind="waiting")

    @classmethod
    def processing(cls) -> ScriptedAnswer:
        return cls(kind="processing")

    @classmethod
    def succeed(cls, result: dict[str, Any] | str) -> ScriptedAnswer:
        """``result``: a dict (JSON-dumped into task_result) or a str sent verbatim as task_result."""
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        return cls(kind="succeed", task_result=text)

    @classmethod
    def failed(
        cls, error_code: str = "APIG.3201", error_msg: str = "The API group name already exists"
    ) -> ScriptedAnswer:
        text = json.dumps({"error_code": error_code, "error_msg": error_msg})
        return cls(kind="failed", task_result=text, error_code=error_code, error_msg=error_msg)

    # -- HTTP-level answers ------------------------------------------------------------------
    @classmethod
    def error(cls, status: int, error_code: str, error_msg: str) -> ScriptedAnswer:
        """An HTTP error answer ``{"error_code","error_msg"}`` with the given status."""
        return cls(kind="error", status=status, error_code=error_code, error_msg=error_msg)

    @classmethod
    def raw(cls, status: int, body: str | bytes, content_type: str = "application/json") -> ScriptedAnswer:
        """An arbitrary answer (garbage bodies, HTML error pages, truncated JSON...)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        return cls(kind="raw", status=status, body=data, content_type=content_type)

    @classmethod
    def slow(cls, seconds: float, then: ScriptedAnswer) -> ScriptedAnswer:
        """Wait ``seconds`` (real time, cut short when the emulator stops) before answering ``then``."""
        if then.kind == "slow":
            raise ValueError("ScriptedAnswer.slow cannot wrap another slow answer")
        return cls(kind="slow", seconds=seconds, then=then)

    # -- result shape helpers ----------------------------------------------------------------
    @classmethod
    def export_json(
        cls,
        swagger_text: str,
        file_name: str = "petstore-RELEASE-all-2026-11-28-10:00:00",
        file_type: str = ".json",
    ) -> ScriptedAnswer:
        """The published export shape ``{"FileName","FileType","Comment"}``."""
        return cls.succeed({"FileName": file_name, "FileType": file_type, "Comment": swagger_text})

    @classmethod
    def export_documented(cls, swagger_text: str, file_type: str = "json") -> ScriptedAnswer:
        """The documented export shape ``{"file_type","content"}``."""
        return cls.succeed({"file_type": file_type, "content": swagger_text})

    @classmethod
    def import_report(
        cls,
        success: list[dict[str, Any]] | None = None,
        failure: list[dict[str, Any]] | None = None,
        ignore: list[dict[str, Any]] | None = None,
        group_id: str | None = None,
    ) -> ScriptedAnswer:
        """The import result shape ``{"success","failure","swagger","ignore","group_id"}``."""
        return cls.succeed(import_result(success or [], failure or [], ignore or [], group_id))

    # -- helpers -----------------------------------------------------------------------------
    @property
    def answer(self) -> ScriptedAnswer:
        """The answer finally sent (the wrapped one for slow answers)."""
        return self.then if self.kind == "slow" and self.then is not None else self

    @property
    def state(self) -> str:
        """The task_status this answer reports, or ``error:<status>`` / ``raw:<status>``."""
        final = self.answer
        if final.kind in TASK_STATES:
            return final.kind
        return f"{final.kind}:{final.status}"


def import_result(
    success: list[dict[str, Any]],
    failure: list[dict[str, Any]],
    ignore: list[dict[str, Any]],
    group_id: str | None,
) -> dict[str, Any]:
    return {
        "success": success,
        "failure": failure,
        "swagger": {"id": uuid.uuid4().hex, "result": "Success" if not failure else "Partial success"},
        "ignore": ignore,
        "group_id": group_id if group_id is not None else uuid.uuid4().hex,
    }
