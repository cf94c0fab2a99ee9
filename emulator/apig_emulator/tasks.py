"""The emulator's tasks: scripted ones (answers given in order) and created ones (progressing with the clock)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .answers import ScriptedAnswer
from .outcomes import empty_import_outcome, export_outcome


@dataclass
class _ScriptedTask:
    answers: list[ScriptedAnswer]
    task_type: str
    project_id: str | None
    instance_id: str | None
    served: int = 0
    last: ScriptedAnswer | None = None


@dataclass
class _CreatedTask:
    task_type: str
    project_id: str
    instance_id: str
    created_at: float
    outcome: ScriptedAnswer


@dataclass(frozen=True)
class Served:
    """What one GET of a task answers."""

    answer: ScriptedAnswer
    task_type: str


class TaskStore:
    """Thread-safe store of tasks and of how many GETs reached each."""

    def __init__(self, clock: Callable[[], float], waiting_seconds: float, processing_seconds: float) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._scripted: dict[str, _ScriptedTask] = {}
        self._created: dict[str, _CreatedTask] = {}
        self._calls: dict[str, int] = {}
        self.clock = clock
        self.waiting_seconds = waiting_seconds
        self.processing_seconds = processing_seconds

    def script(
        self,
        task_id: str,
        answers: list[ScriptedAnswer],
        task_type: str,
        project_id: str | None,
        instance_id: str | None,
    ) -> None:
        if not answers:
            raise ValueError("a scripted task needs at least one answer")
        with self._changed:
            self._scripted[task_id] = _ScriptedTask(list(answers), task_type, project_id, instance_id)
            self._created.pop(task_id, None)
            self._calls.setdefault(task_id, 0)

    def create(self, task_type: str, project_id: str, instance_id: str, outcome: ScriptedAnswer | None) -> str:
        if outcome is None:
            if task_type == "import_api":
                outcome = empty_import_outcome()
            else:
                outcome = export_outcome("default-group", "all", "json", self.clock())
        task_id = uuid.uuid4().hex
        with self._changed:
            self._created[task_id] = _CreatedTask(task_type, project_id, instance_id, self.clock(), outcome)
            self._calls[task_id] = 0
        return task_id

    def serve(self, task_id: str, project_id: str, instance_id: str) -> Served | None:
        """Count a GET of the task and return what it answers; ``None`` if no such task lives there."""
        with self._changed:
            created = self._created.get(task_id)
            if created is not None and (created.project_id, created.instance_id) == (project_id, instance_id):
                served = Served(self._created_answer(created), created.task_type)
            else:
                scripted = self._scripted.get(task_id)
                if (
                    scripted is None
                    or scripted.project_id not in (None, project_id)
                    or scripted.instance_id not in (None, instance_id)
                ):
                    return None
                answer = scripted.answers[min(scripted.served, len(scripted.answers) - 1)]
                scripted.served += 1
                scripted.last = answer
                served = Served(answer, scripted.task_type)
            self._calls[task_id] = self._calls.get(task_id, 0) + 1
            self._changed.notify_all()
            return served

    def calls(self, task_id: str) -> int:
        with self._changed:
            return self._calls.get(task_id, 0)

    def wait_for_calls(self, task_id: str, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._calls.get(task_id, 0) >= count, timeout)

    def status(self, task_id: str) -> str:
        with self._changed:
            created = self._created.get(task_id)
            if created is not None:
                return self._created_answer(created).state
            scripted = self._scripted.get(task_id)
            if scripted is None:
                raise KeyError(task_id)
            return (scripted.last or scripted.answers[0]).state

    def _created_answer(self, task: _CreatedTask) -> ScriptedAnswer:
        elapsed = self.clock() - task.created_at
        if elapsed < self.waiting_seconds:
            return ScriptedAnswer.waiting()
        if elapsed < self.waiting_seconds + self.processing_seconds:
            return ScriptedAnswer.processing()
        return task.outcome
