"""Just enough Swagger handling for the emulator: read operations out of an upload, write an export."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "x-apigateway-any-method")


class SwaggerError(ValueError):
    """The uploaded document is not a Swagger/OpenAPI definition."""


@dataclass(frozen=True)
class SwaggerSummary:
    title: str
    operations: tuple[tuple[str, str], ...]  # (METHOD, path)


def _method_name(method: str) -> str:
    return "ANY" if method == "x-apigateway-any-method" else method.upper()


def _from_json(doc: Any) -> SwaggerSummary:
    if not isinstance(doc, dict) or not ("swagger" in doc or "openapi" in doc):
        raise SwaggerError("not a swagger document: missing 'swagger'/'openapi'")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        raise SwaggerError("not a swagger document: 'paths' must be an object")
    info = doc.get("info")
    title = info.get("title", "") if isinstance(info, dict) else ""
    ops: list[tuple[str, str]] = []
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        ops.extend((_method_name(m), str(path)) for m in item if str(m).lower() in HTTP_METHODS)
    return SwaggerSummary(str(title), tuple(ops))


def _unquote_yaml(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


_KEY_RE = re.compile(r"^(?P<indent> *)(?P<key>'[^']*'|\"[^\"]*\"|[^\s:#][^:#]*?)\s*:(?:\s+(?P<value>.*))?$")


def _from_yaml(text: str) -> SwaggerSummary:
    """A tiny line-based reader: top-level keys, ``info.title`` and the ``paths`` block."""
    top_keys: set[str] = set()
    title = ""
    ops: list[tuple[str, str]] = []
    section = ""
    path_indent: int | None = None
    method_indent: int | None = None
    current_path = ""
    for raw_line in text.splitlines():
        line = raw_line.rstrip()
        if not line.strip() or line.lstrip().startswith("#") or line.strip() in ("---", "..."):
            continue
        match = _KEY_RE.match(line)
        if match is None:
            continue
        indent = len(match.group("indent"))
        key = _unquote_yaml(match.group("key"))
        value = (match.group("value") or "").strip()
        if indent == 0:
            section = key
            top_keys.add(key)
            path_indent = method_indent = None
            continue
        if section == "info" and key == "title" and not title:
            title = _unquote_yaml(value)
        elif section == "paths":
            if path_indent is None:
                path_indent = indent
            if indent == path_indent:
                current_path = key
                method_indent = None
            elif indent > path_indent and current_path:
                if method_indent is None:
                    method_indent = indent
                if indent == method_indent and key.lower() in HTTP_METHODS:
                    ops.append((_method_name(key.lower()), current_path))
    if not ({"swagger", "openapi"} & top_keys) or "paths" not in top_keys:
        raise SwaggerError("not a swagger document: missing 'swagger'/'openapi' or 'paths'")
    return SwaggerSummary(title, tuple(ops))


def summarize(data: bytes) -> SwaggerSummary:
    """Parse an uploaded JSON or YAML swagger; raises :class:`SwaggerError`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SwaggerError("the file is not UTF-8 text") from exc
    stripped = text.lstrip()
    if not stripped:
        raise SwaggerError("the file is empty")
    if stripped[0] in "{[":
        try:
            return _from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise SwaggerError(f"invalid JSON: {exc}") from exc
    return _from_yaml(text)


def export_document(group_id: str, define: str, version: str, host_region: str = "cn-north-4") -> dict[str, Any]:
    """A plausible Swagger 2.0 export of an API group with a couple of APIs."""

    def operation(op_id: str, backend: dict[str, Any]) -> dict[str, Any]:
        op: dict[str, Any] = {
            "security": [{"apig-auth-iam": []}],
            "schemes": ["https"],
            "operationId": op_id,
            "responses": {"default": {"$ref": "#/responses/default"}},
            "x-apigateway-backend": backend,
            "x-apigateway-cors": False,
            "x-apigateway-match-mode": "NORMAL",
            "x-apigateway-request-type": "public",
        }
        if define == "spec":  # the basic definition: front ends only
            op.pop("x-apigateway-backend")
        return op

    return {
        "swagger": "2.0",
        "info": {"title": group_id, "version": version},
        "host": f"{group_id}.apic.{host_region}.huaweicloudapis.com",
        "paths": {
            "/pets": {
                "get": operation("listPets", {"type": "MOCK", "mockEndpoints": {"result-content": "[]"}}),
                "post": operation(
                    "createPet",
                    {
                        "type": "HTTP",
                        "httpEndpoints": {
                            "address": "backend.example.com",
                            "scheme": "https",
                            "method": "POST",
                            "path": "/pets",
                            "timeout": 5000,
                        },
                    },
                ),
            },
            "/pets/{petId}": {
                "get": operation("showPetById", {"type": "MOCK", "mockEndpoints": {"result-content": "{}"}}),
            },
        },
        "responses": {"default": {"description": "response example"}},
        "securityDefinitions": {
            "apig-auth-iam": {
                "type": "apiKey",
                "name": "unused",
                "in": "header",
                "x-apigateway-auth-type": "IAM",
            },
        },
        "x-apigateway-responses": {},
        "x-apigateway-export-id": uuid.uuid4().hex,
    }


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)  # JSON strings are valid YAML double-quoted scalars


def to_yaml(value: Any, indent: int = 0) -> str:
    """A minimal block-style YAML writer for dict/list/scalar trees."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_yaml_scalar(str(key))}:\n{to_yaml(item, indent + 1)}")
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else None
                lines.append(f"{pad}{_yaml_scalar(str(key))}: {empty or _yaml_scalar(item)}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = to_yaml(item, indent + 1)
                lines.append(f"{pad}-\n{nested}")
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else None
                lines.append(f"{pad}- {empty or _yaml_scalar(item)}\n")
        return "".join(lines)
    return pad + _yaml_scalar(value) + "\n"
