"""What the demo writes: timestamped narration, the live progress table and the final report."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, TextIO

from taskwatch_local.ci import RUNNING_STATUSES
from taskwatch_local.demo.checks import differences
from taskwatch_local.demo.story import DemoResult, StoryTask


class Narrator:
    def __init__(self, stream: TextIO, started: float) -> None:
        self.stream = stream
        self._started = started

    def say(self, text: str = "") -> None:
        stamp = f"[{time.monotonic() - self._started:5.1f}s] " if text else ""
        self.stream.write(stamp + text + "\n")
        self.stream.flush()


# --- live progress ---------------------------------------------------------------------------------------

COLUMNS = (("task", 34), ("type", 11), ("status", 16), ("attempts", 9), ("next poll in", 12))


def row(task: StoryTask, status: dict[str, Any] | None, now: float) -> tuple[str, ...]:
    status = status or {}
    next_poll = "-"
    if status.get("next_poll_at") and status.get("status") in RUNNING_STATUSES:
        at = datetime.fromisoformat(str(status["next_poll_at"]).replace("Z", "+00:00")).timestamp()
        next_poll = f"{max(0.0, at - now):.0f}s"
    return (
        f"{task.label} {task.task_id[:8]}",
        task.task_type,
        str(status.get("status", "unknown")),
        str(status.get("attempts", 0)),
        next_poll,
    )


class ProgressTable:
    """Redrawn in place on a terminal (ANSI); otherwise one line per task whose state changed."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._drawn = 0
        self._last: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def format(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip()

    def show(self, rows: list[tuple[str, ...]]) -> None:
        if self._tty:
            lines = [self.format(tuple(name for name, _ in COLUMNS)), *(self.format(r) for r in rows)]
            if self._drawn:
                self._stream.write(f"\x1b[{self._drawn}F")
            self._stream.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            for cells in rows:
                state = cells[:4]  # the countdown alone is not a change worth a line
                if self._last.get(cells[0]) != state:
                    self._last[cells[0]] = state
                    self._stream.write(
                        f"  {cells[0]}: {cells[2]} ({cells[1]}, attempts {cells[3]}, next poll in {cells[4]})\n"
                    )
        self._stream.flush()

    def close(self) -> None:
        self._drawn = 0


# --- the final report ------------------------------------------------------------------------------------


def summarize(result: DemoResult, out: TextIO) -> None:
    write = out.write
    write("\n== where the export landed\n")
    for task in result.tasks:
        export = (result.statuses.get(task.task_id) or {}).get("export")
        if task.task_type != "export_api":
            continue
        if not export or export.get("key") not in result.objects:
            write(f"  {task.label}: no export stored\n")
            continue
        write(f"  s3://{export['bucket']}/{export['key']}\n")
        for line in result.objects[export["key"]].decode("utf-8", "replace").splitlines()[:5]:
            write(f"    | {line}\n")
    write(f"\n== notifications received by the topic's subscriber ({len(result.notifications)})\n")
    for note in result.notifications:
        message = note["message"]
        write(f"  {note['subject']}\n")
        write(f"    outcome {message.get('outcome')}, error {message.get('error_code')}: {message.get('error_msg')}\n")
        for failure in message.get("failures") or []:
            write(f"    - {failure['method']} {failure['path']}: {failure['error_code']} {failure['error_msg']}\n")
    write("\n== the status API's answers (GET /tasks/{task_id})\n")
    for task in result.tasks:
        status = result.statuses.get(task.task_id) or {}
        shown = {k: status.get(k) for k in ("status", "attempts", "error_code", "export") if status.get(k)}
        if status.get("failures"):
            shown["failures"] = len(status["failures"])
        write(f"  {task.label}: {json.dumps(shown)}\n")
    if result.second_act is not None:
        from taskwatch_local.demo.second_act import summarize_second_act

        summarize_second_act(result.second_act, out)
    problems = differences(result)
    write("\n== verdict\n")
    if problems:
        write("  the story did NOT end as scripted:\n")
        write("".join(f"  - {problem}\n" for problem in problems))
    else:
        write("  as scripted: export stored, one partial import, one failed import, two notifications;\n")
        write("  a watch started by a CI token, a breaking drift reported once, an outcome called back\n")
    write(f"  ({result.elapsed:.1f}s so far)\n")
    out.flush()
