"""The emulated API: which path and method reach which endpoint, and what each endpoint answers."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from .auth import Authenticator
from .multipart import parse_multipart
from .outcomes import export_outcome, import_outcome
from .swagger import SwaggerError, summarize
from .tasks import TaskStore
from .wire import ApiError, Reply, json_bytes, task_reply

_SEGMENT = r"([^/?#]+)"
_TASK_RE = re.compile(rf"^/v2/{_SEGMENT}/apigw/instances/{_SEGMENT}/async-tasks/{_SEGMENT}/?$")
_IMPORT_RE = re.compile(rf"^/v2/{_SEGMENT}/apigw/instances/{_SEGMENT}/openapi/async-import/?$")
_EXPORT_RE = re.compile(rf"^/v2/{_SEGMENT}/apigw/instances/{_SEGMENT}/openapi/async-export/?$")


@dataclass(frozen=True)
class Call:
    """An authenticated request to one route, with the identifiers taken from its path."""

    project_id: str
    instance_id: str
    task_id: str | None
    headers: Mapping[str, str]
    body: bytes
    path: str = ""  # the request target as sent (path and query)


Endpoint = Callable[[Call], Reply]


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    method: str
    endpoint: Endpoint


class Router:
    """Routes, authenticates and answers one request. ``stopping`` cuts slow answers short."""

    def __init__(self, auth: Authenticator, tasks: TaskStore, stopping: threading.Event) -> None:
        self._auth = auth
        self._tasks = tasks
        self._stopping = stopping
        self._routes = (
            _Route(_TASK_RE, "GET", self._get_task),
            _Route(_IMPORT_RE, "POST", self._post_import),
            _Route(_EXPORT_RE, "POST", self._post_export),
        )

    def respond(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> tuple[Reply, str | None]:
        """The reply, and the task id for task reads. ``headers`` are lower-case. Raises :class:`ApiError`."""
        parts = urlsplit(raw_path)
        for route in self._routes:
            match = route.pattern.match(parts.path)
            if match is None:
                continue
            if method != route.method:
                raise ApiError(405, "APIG.0102", f"The method {method} is not allowed", {"Allow": route.method})
            self._auth.authenticate(method, parts.path, parts.query, headers, body)
            call = Call(
                project_id=unquote(match.group(1)),
                instance_id=unquote(match.group(2)),
                task_id=unquote(match.group(3)) if route.pattern is _TASK_RE else None,
                headers=headers,
                body=body,
                path=raw_path,
            )
            sent_project = headers.get("x-project-id")
            if sent_project is not None and sent_project.strip() != call.project_id:
                raise ApiError(
                    400,
                    "APIG.2011",
                    "The parameter value is invalid,parameterName:X-Project-Id (must match the URI)",
                )
            return route.endpoint(call), call.task_id
        raise ApiError(404, "APIG.3002", "The API does not exist or has not been published in an environment")

    def _get_task(self, call: Call) -> Reply:
        task_id = call.task_id or ""
        served = self._tasks.serve(task_id, call.project_id, call.instance_id)
        if served is None:
            raise ApiError(404, "APIG.3093", f"The asynchronous task {task_id} does not exist")
        answer = served.answer
        if answer.kind == "slow":
            if self._stopping.wait(answer.seconds):
                raise ApiError(503, "APIG.9999", "The emulator is stopping")
            answer = answer.answer
        return task_reply(answer, task_id, served.task_type)

    def _post_import(self, call: Call) -> Reply:
        fields, files = parse_multipart(call.headers.get("content-type", ""), call.body)
        upload = files.get("file_name")
        if upload is None:
            raise ApiError(400, "APIG.2001", "The request parameters must be specified,parameterName:file_name")
        is_create = fields.get("is_create_group", "true").strip().lower()
        if is_create not in ("true", "false"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:is_create_group")
        group_id = fields.get("group_id", "").strip() or None
        if is_create == "false" and group_id is None:
            raise ApiError(400, "APIG.2001", "The request parameters must be specified,parameterName:group_id")
        extend_mode = fields.get("extend_mode", "merge").strip() or "merge"
        if extend_mode not in ("merge", "override"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:extend_mode")
        if fields.get("api_mode", "merge").strip() not in ("merge", "override"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:api_mode")
        for flag in ("simple_mode", "mock_mode"):
            if fields.get(flag, "false").strip().lower() not in ("true", "false"):
                raise ApiError(400, "APIG.2011", f"The parameter value is invalid,parameterName:{flag}")
        try:
            summary = summarize(upload)
        except SwaggerError as exc:
            raise ApiError(400, "APIG.2012", f"The parameter value is invalid,parameterName:file_name ({exc})") from exc
        action = "update" if (is_create == "false" and extend_mode == "override") else "create"
        outcome = import_outcome(summary, action, group_id)
        task_id = self._tasks.create("import_api", call.project_id, call.instance_id, outcome)
        return Reply(200, json_bytes({"task_id": task_id}))

    def _post_export(self, call: Call) -> Reply:
        try:
            request = json.loads(call.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "APIG.2012", "The request body is not valid JSON") from exc
        if not isinstance(request, dict):
            raise ApiError(400, "APIG.2012", "The request body must be a JSON object")
        for name in ("env_id", "group_id"):
            value = request.get(name)
            if not isinstance(value, str) or not value:
                raise ApiError(400, "APIG.2001", f"The request parameters must be specified,parameterName:{name}")
        # The documented values (ExportOpenApiReq): define spec|proxy|all|dev (default spec), type json|yaml|yml.
        define = request.get("define", "spec")
        if define not in ("spec", "proxy", "all", "dev"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:define")
        file_type = request.get("type", "json")
        if file_type not in ("json", "yaml", "yml"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:type")
        for name in ("version",):
            if name in request and not isinstance(request[name], str):
                raise ApiError(400, "APIG.2011", f"The parameter value is invalid,parameterName:{name}")
        apis = request.get("apis", [])
        if not isinstance(apis, list) or not all(isinstance(api, str) for api in apis):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:apis")
        oas_version = (parse_qs(urlsplit(call.path).query).get("oas_version") or ["2.0"])[0]
        if oas_version not in ("2.0", "3.0"):
            raise ApiError(400, "APIG.2011", "The parameter value is invalid,parameterName:oas_version")
        file_type = "yaml" if file_type == "yml" else file_type
        outcome = export_outcome(str(request["group_id"]), str(define), str(file_type), self._tasks.clock())
        task_id = self._tasks.create("export_api", call.project_id, call.instance_id, outcome)
        return Reply(200, json_bytes({"task_id": task_id}))
