"""The demo's script: the tasks a CI pipeline starts, what each should end as, and what one run produced."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskwatch_local.apig_tasks import ApigTasks

EXPORT_GROUP = "petstore"
ORDERS_SWAGGER = json.dumps(
    {
        "swagger": "2.0",
        "info": {"title": "orders", "version": "1.4.0"},
        "paths": {
            "/orders": {"get": {"operationId": "listOrders"}, "post": {"operationId": "createOrder"}},
            "/orders/{id}": {"get": {"operationId": "showOrder"}},
            "/orders/fail-fast": {"post": {"operationId": "expediteOrder"}},
        },
    },
    indent=2,
)
BROKEN_SWAGGER = json.dumps(
    {
        "swagger": "2.0",
        "info": {"title": "broken payments", "version": "0.1.0"},
        "paths": {"/payments": {"post": {"operationId": "pay"}}},
    },
    indent=2,
)


@dataclass(frozen=True)
class ScriptedTask:
    label: str
    task_type: str
    expected_outcome: str
    start: Callable[[ApigTasks], str]  # asks APIG for the task, returns its id


SCRIPT: tuple[ScriptedTask, ...] = (
    ScriptedTask("export petstore", "export_api", "succeeded", lambda apig: apig.start_export(EXPORT_GROUP)),
    ScriptedTask("import orders", "import_api", "partial_failure", lambda apig: apig.start_import(ORDERS_SWAGGER)),
    ScriptedTask("import payments", "import_api", "failed", lambda apig: apig.start_import(BROKEN_SWAGGER)),
)


@dataclass(frozen=True)
class StoryTask:
    label: str
    task_type: str
    task_id: str
    expected_outcome: str


@dataclass
class DemoResult:
    tasks: list[StoryTask]
    statuses: dict[str, dict[str, Any]]  # task id -> the status API's last answer
    objects: dict[str, bytes]
    bucket: str
    notifications: list[dict[str, Any]]
    elapsed: float
    finished: bool
    second_act: Any = None  # SecondAct: CI identity, a callback and export drift
