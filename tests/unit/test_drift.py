"""The export drift report: loading definitions safely, and every breaking rule next to its non-breaking twin.

Rule cases run in both text formats APIG exports (JSON, YAML) and both generations (Swagger 2.0, OpenAPI
3.0 and 3.1): each case describes an operation once, in neutral terms, and `render_op` spells it out.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is not a dev dependency

from taskwatch.domain import drift
from taskwatch.domain.drift import RULES, DefinitionError, DriftReport, Side, diff, is_breaking, load_definition

DOCS = Path(__file__).parent / "drift_docs"
GENERATIONS = ("swagger2", "oas30", "oas31")
FORMATS = ("json", "yaml")
PATH = "/orders/{orderId}"
BODY = "body[application/json]"
CREATED = "responses.201[application/json]"
NOT_FOUND = "responses.404[application/json]"

Spec = dict[str, Any]


# --- building small definitions in either generation and format ----------------------------------------


def backend(timeout: int = 5000, address: str = "orders.internal.example.com:8443") -> dict[str, Any]:
    return {
        "type": "HTTP",
        "httpEndpoints": {
            "address": address,
            "scheme": "https",
            "method": "GET",
            "path": "/x",
            "timeout": timeout,
        },
    }


def base_spec() -> Spec:
    """An operation in neutral terms: parameters with value schemas, a body, responses by code."""
    return {
        "params": [
            {"name": "orderId", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 100},
            },
            {"name": "X-Tenant", "in": "header", "required": True, "schema": {"type": "string"}},
        ],
        "body": {
            "required": True,
            "media": ["application/json"],
            "schema": {
                "type": "object",
                "required": ["sku"],
                "properties": {
                    "sku": {"type": "string", "maxLength": 32},
                    "qty": {"type": "number"},
                    "count": {"type": "integer"},
                    "units": {"type": "integer", "format": "int32"},
                    "note": {"type": "string"},
                    "channel": {"type": "string", "enum": ["web", "app"]},
                    "placedAt": {"type": "string", "format": "date"},
                },
            },
        },
        "responses": {
            "201": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["placed", "paid"]},
                    "total": {"type": "number"},
                },
            },
            "404": {
                "type": "object",
                "properties": {"error_code": {"type": "string"}, "error_msg": {"type": "string"}},
            },
        },
        "extensions": {
            "x-apigateway-backend": backend(),
            "x-apigateway-request-type": "public",
            "x-apigateway-match-mode": "NORMAL",
        },
    }


def ref(gen: str, name: str, section: str = "schemas") -> dict[str, str]:
    swagger2 = {"schemas": "definitions", "parameters": "parameters", "responses": "responses"}
    if gen == "swagger2":
        return {"$ref": f"#/{swagger2[section]}/{name}"}
    return {"$ref": f"#/components/{section}/{name}"}


def render_param(gen: str, param: Spec) -> dict[str, Any]:
    head = {"name": param["name"], "in": param["in"], "required": param["required"], **param.get("extra", {})}
    if gen == "swagger2":  # Swagger 2.0 describes the value on the parameter itself
        return {**head, **param["schema"]}
    return {**head, "schema": param["schema"]}


def render_op(gen: str, spec: Spec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": "createOrder",
        "summary": spec.get("summary", "Create an order"),
        "description": spec.get("description", "Creates an order for the tenant."),
        "parameters": [render_param(gen, param) for param in spec["params"]],
    }
    body = spec.get("body")
    if body is not None:
        if gen == "swagger2":
            op["consumes"] = body["media"]
            op["parameters"].append(
                {"name": "body", "in": "body", "required": body["required"], "schema": body["schema"]}
            )
        else:
            content = {media: {"schema": body["schema"]} for media in body["media"]}
            op["requestBody"] = {"required": body["required"], "content": content}
    responses: dict[str, Any] = {}
    for code, schema in spec["responses"].items():
        if gen == "swagger2":
            responses[code] = {"description": f"HTTP {code}", "schema": schema}
        else:
            responses[code] = {"description": f"HTTP {code}", "content": {"application/json": {"schema": schema}}}
    for code, headers in spec.get("response_headers", {}).items():
        if gen == "swagger2":
            responses[code]["headers"] = headers
        else:
            responses[code]["headers"] = {name: {"schema": header} for name, header in headers.items()}
    op["responses"] = responses
    if gen == "swagger2":
        op["produces"] = ["application/json"]
    op.update(spec["extensions"])
    return op


def render_doc(gen: str, paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    info = {"title": "shop-gateway", "version": "2024-05-20-10:12:33"}
    if gen == "swagger2":
        doc: dict[str, Any] = {"swagger": "2.0", "info": info, "host": "shop.apic.example.com", "paths": paths}
        if schemas:
            doc["definitions"] = schemas
        return doc
    doc = {"openapi": "3.0.3" if gen == "oas30" else "3.1.0", "info": info, "paths": paths}
    if schemas:
        doc["components"] = {"schemas": schemas}
    return doc


def as_text(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent="\t")
    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def drift_between(gen: str, fmt: str, old: Spec, new: Spec) -> DriftReport:
    baseline = as_text(render_doc(gen, {PATH: {"post": render_op(gen, old)}}), fmt)
    current = as_text(render_doc(gen, {PATH: {"post": render_op(gen, new)}}), fmt)
    return diff(load_definition(baseline), load_definition(current))


def only_changes(report: DriftReport) -> list[tuple[str, str, bool]]:
    assert not report.added and not report.removed
    assert [(op.method, op.path) for op in report.changed] == [("POST", PATH)]
    return [(change.kind, change.location, change.breaking) for change in report.changed[0].changes]


# --- the rule cases: each breaking rule next to its non-breaking twin ----------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Spec, Spec], object]  # (baseline, current), edited in place
    expected: tuple[str, str, bool]  # kind, location, breaking


def param(spec: Spec, name: str) -> Spec:
    return next(p for p in spec["params"] if p["name"] == name)


def prop(spec: Spec, name: str) -> Spec:
    properties: dict[str, Spec] = spec["body"]["schema"]["properties"]
    return properties.setdefault(name, {"type": "string"})


def answer(spec: Spec, code: str) -> Spec:
    properties: Spec = spec["responses"][code]["properties"]
    return properties


def add_param(spec: Spec, required: bool) -> None:
    spec["params"].append({"name": "tenant", "in": "query", "required": required, "schema": {"type": "string"}})


def add_body_property(spec: Spec, required: bool) -> None:
    prop(spec, "currency")
    if required:
        spec["body"]["schema"]["required"].append("currency")


CASES = [
    # parameters
    Case("new required parameter", lambda b, c: add_param(c, True), ("parameter.added_required", "query.tenant", True)),
    Case(
        "new optional parameter", lambda b, c: add_param(c, False), ("parameter.added_optional", "query.tenant", False)
    ),
    Case(
        "optional parameter made required",
        lambda b, c: param(c, "limit").update(required=True),
        ("parameter.made_required", "query.limit", True),
    ),
    Case(
        "required parameter made optional",
        lambda b, c: param(c, "X-Tenant").update(required=False),
        ("parameter.made_optional", "header.X-Tenant", False),
    ),
    Case(
        "parameter removed",
        lambda b, c: c["params"].remove(param(c, "limit")),
        ("parameter.removed", "query.limit", False),
    ),
    Case(
        "parameter minimum raised",
        lambda b, c: param(c, "limit")["schema"].update(minimum=5),
        ("constraint.tightened", "query.limit", True),
    ),
    Case(
        "parameter minimum lowered",
        lambda b, c: param(c, "limit")["schema"].update(minimum=0),
        ("constraint.relaxed", "query.limit", False),
    ),
    Case(
        "parameter maximum lowered",
        lambda b, c: param(c, "limit")["schema"].update(maximum=50),
        ("constraint.tightened", "query.limit", True),
    ),
    Case(
        "parameter maximum raised",
        lambda b, c: param(c, "limit")["schema"].update(maximum=500),
        ("constraint.relaxed", "query.limit", False),
    ),
    Case(
        "parameter string became an enum",
        lambda b, c: param(c, "X-Tenant")["schema"].update(enum=["acme", "globex"]),
        ("enum.added", "header.X-Tenant", True),
    ),
    Case(
        "parameter extension changed",
        lambda b, c: param(c, "X-Tenant").update(extra={"x-apigateway-pass-through": "never"}),
        ("parameter.changed", "header.X-Tenant.x-apigateway-pass-through", False),
    ),
    # request body
    Case(
        "request content type removed",
        lambda b, c: b["body"].update(media=["application/json", "application/xml"]),
        ("content_type.removed", "body[application/xml]", True),
    ),
    Case(
        "request content type added",
        lambda b, c: c["body"].update(media=["application/json", "application/xml"]),
        ("content_type.added", "body[application/xml]", False),
    ),
    Case(
        "new required request body",
        lambda b, c: b.pop("body"),
        ("request_body.added_required", "body", True),
    ),
    Case(
        "new optional request body",
        lambda b, c: (b.pop("body"), c["body"].update(required=False)),
        ("request_body.added_optional", "body", False),
    ),
    Case("request body removed", lambda b, c: c.pop("body"), ("request_body.removed", "body", False)),
    Case(
        "optional request body made required",
        lambda b, c: b["body"].update(required=False),
        ("request_body.made_required", "body", True),
    ),
    Case(
        "required request body made optional",
        lambda b, c: c["body"].update(required=False),
        ("request_body.made_optional", "body", False),
    ),
    Case(
        "new required body property",
        lambda b, c: add_body_property(c, True),
        ("property.required_added", f"{BODY}.currency", True),
    ),
    Case(
        "new optional body property",
        lambda b, c: add_body_property(c, False),
        ("property.added", f"{BODY}.currency", False),
    ),
    Case(
        "body property made required",
        lambda b, c: c["body"]["schema"]["required"].append("qty"),
        ("property.required_added", f"{BODY}.qty", True),
    ),
    Case(
        "body property made optional",
        lambda b, c: c["body"]["schema"].update(required=[]),
        ("property.required_removed", f"{BODY}.sku", False),
    ),
    Case(
        "body property removed",
        lambda b, c: c["body"]["schema"]["properties"].pop("note"),
        ("property.removed", f"{BODY}.note", False),
    ),
    # types, enums, formats and constraints in the request
    Case(
        "number -> integer", lambda b, c: prop(c, "qty").update(type="integer"), ("type.narrowed", f"{BODY}.qty", True)
    ),
    Case(
        "integer -> number",
        lambda b, c: prop(c, "count").update(type="number"),
        ("type.widened", f"{BODY}.count", False),
    ),
    Case(
        "string -> integer", lambda b, c: prop(c, "note").update(type="integer"), ("type.changed", f"{BODY}.note", True)
    ),
    Case("string -> enum", lambda b, c: prop(c, "note").update(enum=["gift"]), ("enum.added", f"{BODY}.note", True)),
    Case("enum -> string", lambda b, c: prop(c, "channel").pop("enum"), ("enum.removed", f"{BODY}.channel", False)),
    Case(
        "enum values removed",
        lambda b, c: prop(c, "channel").update(enum=["web"]),
        ("enum.values_removed", f"{BODY}.channel", True),
    ),
    Case(
        "enum values added",
        lambda b, c: prop(c, "channel").update(enum=["web", "app", "pos"]),
        ("enum.values_added", f"{BODY}.channel", False),
    ),
    Case("format added", lambda b, c: prop(c, "sku").update(format="uuid"), ("format.added", f"{BODY}.sku", True)),
    Case(
        "format changed",
        lambda b, c: prop(c, "placedAt").update(format="date-time"),
        ("format.changed", f"{BODY}.placedAt", True),
    ),
    Case(
        "format removed", lambda b, c: prop(c, "placedAt").pop("format"), ("format.removed", f"{BODY}.placedAt", False)
    ),
    Case(
        "int32 -> int64",
        lambda b, c: prop(c, "units").update(format="int64"),
        ("format.widened", f"{BODY}.units", False),
    ),
    Case(
        "maxLength lowered",
        lambda b, c: prop(c, "sku").update(maxLength=16),
        ("constraint.tightened", f"{BODY}.sku", True),
    ),
    Case(
        "maxLength raised",
        lambda b, c: prop(c, "sku").update(maxLength=64),
        ("constraint.relaxed", f"{BODY}.sku", False),
    ),
    Case(
        "pattern added",
        lambda b, c: prop(c, "sku").update(pattern="^[A-Z]{3}-[0-9]+$"),
        ("constraint.tightened", f"{BODY}.sku", True),
    ),
    Case(
        "pattern removed",
        lambda b, c: prop(b, "sku").update(pattern="^S"),
        ("constraint.relaxed", f"{BODY}.sku", False),
    ),
    # responses
    Case(
        "2xx response code removed",
        lambda b, c: c["responses"].pop("201"),
        ("response.removed", "responses.201", True),
    ),
    Case(
        "response code added",
        lambda b, c: c["responses"].update({"409": {"type": "object"}}),
        ("response.added", "responses.409", False),
    ),
    Case(
        "error response code removed",
        lambda b, c: c["responses"].pop("404"),
        ("response.removed", "responses.404", False),
    ),
    Case(
        "2xx response property removed",
        lambda b, c: answer(c, "201").pop("status"),
        ("property.removed", f"{CREATED}.status", True),
    ),
    Case(
        "response property added",
        lambda b, c: answer(c, "201").update(eta={"type": "string"}),
        ("property.added", f"{CREATED}.eta", False),
    ),
    Case(
        "error response property removed",
        lambda b, c: answer(c, "404").pop("error_msg"),
        ("property.removed", f"{NOT_FOUND}.error_msg", False),
    ),
    Case(
        "2xx response type changed",
        lambda b, c: answer(c, "201")["id"].update(type="integer"),
        ("type.changed", f"{CREATED}.id", True),
    ),
    Case(
        "2xx response type narrowed",
        lambda b, c: answer(c, "201")["total"].update(type="integer"),
        ("type.narrowed", f"{CREATED}.total", False),
    ),
    Case(
        "2xx response enum values added",
        lambda b, c: answer(c, "201")["status"].update(enum=["placed", "paid", "shipped"]),
        ("enum.values_added", f"{CREATED}.status", False),
    ),
    Case(
        "2xx response enum values removed",
        lambda b, c: answer(c, "201")["status"].update(enum=["placed"]),
        ("enum.values_removed", f"{CREATED}.status", False),
    ),
    Case(
        "response header added",
        lambda b, c: (
            b.update(response_headers={"201": {"X-Request-Id": {"type": "string"}}}),
            c.update(
                response_headers={"201": {"X-Request-Id": {"type": "string"}, "X-Rate-Limit": {"type": "integer"}}}
            ),
        ),
        ("response.changed", "responses.201.headers.X-Rate-Limit", False),
    ),
    # APIG's extensions
    Case(
        "backend timeout changed",
        lambda b, c: c["extensions"].update({"x-apigateway-backend": backend(timeout=10000)}),
        ("backend.changed", "x-apigateway-backend.httpEndpoints.timeout", False),
    ),
    Case(
        "match mode changed",
        lambda b, c: c["extensions"].update({"x-apigateway-match-mode": "SWA"}),
        ("extension.changed", "x-apigateway-match-mode", False),
    ),
    Case(
        "request type changed",
        lambda b, c: c["extensions"].update({"x-apigateway-request-type": "private"}),
        ("extension.changed", "x-apigateway-request-type", False),
    ),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gen", GENERATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name.replace(" ", "_"))
def test_rule(case: Case, gen: str, fmt: str) -> None:
    # Given an operation in its baseline and current shape
    old, new = base_spec(), base_spec()
    case.edit(old, new)
    # When the exports are diffed
    report = drift_between(gen, fmt, old, new)
    # Then exactly that change is reported, breaking or not as the rules say
    assert only_changes(report) == [case.expected]
    assert report.summary("t-0")["breaking"] == int(case.expected[2])


def test_every_rule_is_exercised_with_both_outcomes_where_it_has_them() -> None:
    # Given the rule cases above
    seen = {(kind, breaking) for kind, _, breaking in (case.expected for case in CASES)}
    # Then every kind that can break a request or a 2xx response is seen breaking, and its twin not breaking
    for kind in ("parameter.added_required", "parameter.made_required", "content_type.removed", "type.narrowed"):
        assert (kind, True) in seen
    for kind in ("parameter.added_optional", "parameter.made_optional", "content_type.added", "type.widened"):
        assert (kind, False) in seen
    assert {("property.removed", True), ("property.removed", False)} <= seen
    assert {("response.removed", True), ("response.removed", False)} <= seen
    assert {("enum.values_removed", True), ("enum.values_removed", False), ("enum.values_added", False)} <= seen


# --- operations added and removed, ANY, renamed path parameters -----------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gen", GENERATIONS)
def test_removed_operation_breaks_and_added_operation_does_not(gen: str, fmt: str) -> None:
    # Given a baseline with POST and GET on the path, and a current export that swapped GET for PUT
    op = render_op(gen, base_spec())
    baseline = render_doc(gen, {PATH: {"post": op, "get": op}})
    current = render_doc(gen, {PATH: {"post": op, "put": op}})
    # When they are diffed
    report = diff(load_definition(as_text(baseline, fmt)), load_definition(as_text(current, fmt)))
    # Then GET is removed (breaking), PUT is added (not), POST is unchanged
    body = report.to_json("t-0")
    assert body["removed"] == [{"method": "GET", "path": PATH, "breaking": True}]
    assert body["added"] == [{"method": "PUT", "path": PATH}]
    assert body["changed"] == []
    assert body["summary"] == {"baseline_task_id": "t-0", "added": 1, "removed": 1, "changed": 0, "breaking": 1}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gen", GENERATIONS)
def test_renamed_path_parameter_is_the_same_operation_and_not_breaking(gen: str, fmt: str) -> None:
    # Given /orders/{orderId} renamed to /orders/{id}, with its path parameter
    old, new = base_spec(), base_spec()
    param(new, "orderId")["name"] = "id"
    baseline = render_doc(gen, {PATH: {"post": render_op(gen, old)}})
    current = render_doc(gen, {"/orders/{id}": {"post": render_op(gen, new)}})
    # When they are diffed
    report = diff(load_definition(as_text(baseline, fmt)), load_definition(as_text(current, fmt)))
    # Then it is one changed operation under its new path, with one non-breaking rename
    assert not report.added and not report.removed
    assert [(op.method, op.path) for op in report.changed] == [("POST", "/orders/{id}")]
    [change] = report.changed[0].changes
    assert (change.kind, change.location, change.breaking) == ("path.parameter_renamed", "path", False)
    assert change.detail == "/orders/{orderId} -> /orders/{id}"


def test_paths_of_one_shape_pair_by_exact_path_then_only_when_unambiguous() -> None:
    # Given /a/{x} kept, /a/{y} renamed /a/{z}, and two more of one shape renamed both at once
    op = render_op("swagger2", {**base_spec(), "params": []})
    baseline = render_doc(
        "swagger2", {"/a/{x}": {"get": op}, "/a/{y}": {"get": op}, "/b/{p}": {"get": op}, "/b/{q}": {"get": op}}
    )
    current = render_doc(
        "swagger2", {"/a/{x}": {"get": op}, "/a/{z}": {"get": op}, "/b/{r}": {"get": op}, "/b/{s}": {"get": op}}
    )
    # When they are diffed
    report = diff(baseline, current)
    # Then the one left of its shape on each side is a rename, and the ambiguous ones are removed and added
    assert [(op.method, op.path, [c.kind for c in op.changes]) for op in report.changed] == [
        ("GET", "/a/{z}", ["path.parameter_renamed"])
    ]
    assert [(op.method, op.path) for op in report.removed] == [("GET", "/b/{p}"), ("GET", "/b/{q}")]
    assert [(op.method, op.path) for op in report.added] == [("GET", "/b/{r}"), ("GET", "/b/{s}")]


@pytest.mark.parametrize("gen", GENERATIONS)
def test_any_method_is_an_operation(gen: str) -> None:
    # Given APIG's x-apigateway-any-method on /health, dropped in the current export
    op = {"responses": {"default": {"description": "default response"}}, "x-apigateway-backend": backend()}
    baseline = render_doc(gen, {"/health": {"x-apigateway-any-method": op}})
    current = render_doc(gen, {"/health": {}})
    # When they are diffed
    report = diff(baseline, current)
    # Then operation ANY /health is removed
    assert report.to_json()["removed"] == [{"method": "ANY", "path": "/health", "breaking": True}]


# --- APIG's backend and extensions, on a realistic export -----------------------------------------------


APIG_YAML = """\
swagger: "2.0"
info:
  title: shop-gateway
  version: 2024-05-20-10:12:33
paths:
  /orders:
    get:
      operationId: listOrders
      summary: List orders
      responses:
        default:
          description: default response
      x-apigateway-backend:
        type: HTTP
        httpEndpoints:
          address: {address}
          scheme: https
          method: GET
          path: /x
          timeout: {timeout}
      x-apigateway-cors: false
      x-apigateway-match-mode: {mode}
      x-apigateway-request-type: public
"""


def apig(address: str = "orders.internal.example.com:8443", timeout: int = 5000, mode: str = "NORMAL") -> str:
    return APIG_YAML.replace("{address}", address).replace("{timeout}", str(timeout)).replace("{mode}", mode)


def test_backend_change_is_reported_field_by_field_and_not_breaking() -> None:
    # Given a new backend address and timeout, and prefix matching instead of exact
    baseline = load_definition(apig())
    current = load_definition(apig(address="orders-v2.internal.example.com:8443", timeout=8000, mode="SWA"))
    # When they are diffed
    report = diff(baseline, current)
    # Then each field is its own non-breaking change
    [op] = report.to_json("t-0")["changed"]
    assert (op["method"], op["path"], op["breaking"]) == ("GET", "/orders", False)
    assert op["changes"] == [
        {
            "kind": "backend.changed",
            "location": "x-apigateway-backend.httpEndpoints.address",
            "detail": "orders.internal.example.com:8443 -> orders-v2.internal.example.com:8443",
            "breaking": False,
        },
        {
            "kind": "backend.changed",
            "location": "x-apigateway-backend.httpEndpoints.timeout",
            "detail": "5000 -> 8000",
            "breaking": False,
        },
        {
            "kind": "extension.changed",
            "location": "x-apigateway-match-mode",
            "detail": "NORMAL -> SWA",
            "breaking": False,
        },
    ]


def test_backend_type_change_is_reported_whole() -> None:
    # Given an HTTP backend replaced by a mock
    baseline = load_definition(apig())
    current_doc = load_definition(apig())
    current_doc["paths"]["/orders"]["get"]["x-apigateway-backend"] = {
        "type": "MOCK",
        "mockEndpoints": {"result-content": "ok"},
    }
    # When they are diffed
    [op] = diff(baseline, current_doc).changed
    # Then type, the old endpoints and the new ones are reported, none breaking
    assert [(c.kind, c.location, c.breaking) for c in op.changes] == [
        ("backend.changed", "x-apigateway-backend.httpEndpoints", False),
        ("backend.changed", "x-apigateway-backend.mockEndpoints", False),
        ("backend.changed", "x-apigateway-backend.type", False),
    ]
    assert op.changes[2].detail == "HTTP -> MOCK"


def test_realistic_apig_exports_give_the_expected_drift_json() -> None:
    # Given two APIG Swagger 2.0 YAML exports of a shop gateway (see drift_docs/)
    baseline = load_definition((DOCS / "apig_export_baseline.yaml").read_text())
    current = load_definition((DOCS / "apig_export_current.yaml").read_text())
    # When they are diffed
    body = diff(baseline, current).to_json("baseline-task-0001")
    # Then drift.json is exactly the reviewed one
    assert body == json.loads((DOCS / "expected_drift.json").read_text())


def test_documentation_changes_are_ignored_entirely() -> None:
    # Given new descriptions and summaries on the operation, its parameters, body and responses
    old, new = base_spec(), base_spec()
    new.update(summary="Place an order", description="Places an order; see the guide.")
    param(new, "limit")["schema"]["description"] = "page size"
    prop(new, "sku")["description"] = "stock keeping unit"
    prop(new, "sku")["example"] = "SKU-1"
    answer(new, "201")["id"]["title"] = "Order id"
    for gen in GENERATIONS:
        # When they are diffed
        report = drift_between(gen, "json", old, new)
        # Then nothing is reported
        assert report.empty and report.summary(None)["changed"] == 0


# --- $ref resolution --------------------------------------------------------------------------------------


def order_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["sku"],
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
    }


@pytest.mark.parametrize("gen", GENERATIONS)
def test_change_in_a_referenced_schema_shows_at_every_operation_using_it(gen: str) -> None:
    # Given two operations whose body and 201 response refer to Order, which gains a required property
    spec = base_spec()
    spec["body"]["schema"] = ref(gen, "Order")
    spec["responses"]["201"] = ref(gen, "Order")
    op = render_op(gen, spec)
    changed = order_schema()
    changed["properties"]["currency"] = {"type": "string"}
    changed["required"].append("currency")
    baseline = render_doc(gen, {PATH: {"post": op, "put": op}}, {"Order": order_schema()})
    current = render_doc(gen, {PATH: {"post": op, "put": op}}, {"Order": changed})
    # When they are diffed
    report = diff(baseline, current)
    # Then both operations report it: breaking in the request, not in the response
    assert [(op.method, op.path) for op in report.changed] == [("POST", PATH), ("PUT", PATH)]
    for op_change in report.changed:
        assert [(c.kind, c.location, c.breaking) for c in op_change.changes] == [
            ("property.required_added", f"{BODY}.currency", True),
            ("property.required_added", f"{CREATED}.currency", False),
        ]
    assert report.summary("t-0")["breaking"] == 2


def test_swagger2_parameter_and_response_refs_are_followed() -> None:
    # Given Swagger 2.0 #/parameters and #/responses refs, whose targets change
    op = {
        "parameters": [{"$ref": "#/parameters/Limit"}],
        "responses": {"200": {"$ref": "#/responses/Orders"}},
    }

    def doc(maximum: int, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "swagger": "2.0",
            "paths": {"/orders": {"get": op}},
            "parameters": {"Limit": {"name": "limit", "in": "query", "type": "integer", "maximum": maximum}},
            "responses": {"Orders": {"description": "ok", "schema": {"type": "object", "properties": fields}}},
        }

    baseline = doc(100, {"items": {"type": "array"}, "next": {"type": "string"}})
    current = doc(50, {"items": {"type": "array"}})
    # When they are diffed
    [op_change] = diff(baseline, current).changed
    # Then both show at the operation
    assert [(c.kind, c.location, c.breaking) for c in op_change.changes] == [
        ("constraint.tightened", "query.limit", True),
        ("property.removed", "responses.200[application/json].next", True),
    ]


def test_openapi3_component_refs_are_followed() -> None:
    # Given OpenAPI 3 refs to components: parameters, requestBodies, responses, schemas
    op = {
        "parameters": [{"$ref": "#/components/parameters/Limit"}],
        "requestBody": {"$ref": "#/components/requestBodies/OrderBody"},
        "responses": {"201": {"$ref": "#/components/responses/Created"}},
    }

    def doc(limit_required: bool, media: str, sku_type: str) -> dict[str, Any]:
        return {
            "openapi": "3.0.3",
            "paths": {"/orders": {"post": op}},
            "components": {
                "parameters": {
                    "Limit": {"name": "limit", "in": "query", "required": limit_required, "schema": {"type": "integer"}}
                },
                "requestBodies": {
                    "OrderBody": {
                        "required": True,
                        "content": {media: {"schema": {"$ref": "#/components/schemas/Order"}}},
                    }
                },
                "responses": {
                    "Created": {
                        "description": "created",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
                    }
                },
                "schemas": {"Order": {"type": "object", "properties": {"sku": {"type": sku_type}}}},
            },
        }

    baseline = doc(False, "application/json", "string")
    current = doc(True, "application/merge-patch+json", "integer")
    # When they are diffed
    [op_change] = diff(baseline, current).changed
    # Then each is reported where it is used
    assert [(c.kind, c.location, c.breaking) for c in op_change.changes] == [
        ("content_type.removed", "body[application/json]", True),
        ("content_type.added", "body[application/merge-patch+json]", False),
        ("parameter.made_required", "query.limit", True),
        ("type.changed", f"{CREATED}.sku", True),
    ]


@pytest.mark.parametrize("gen", GENERATIONS)
def test_recursive_schema_is_compared_once_and_terminates(gen: str) -> None:
    # Given a recursive Category (children: [Category]) that gains a required slug
    def category(required: list[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": required,
            "properties": {
                "name": {"type": "string"},
                "slug": {"type": "string"},
                "children": {"type": "array", "items": ref(gen, "Category")},
                "parent": ref(gen, "Category"),
            },
        }

    spec = base_spec()
    spec["body"]["schema"] = ref(gen, "Category")
    op = render_op(gen, spec)
    baseline = render_doc(gen, {PATH: {"post": op}}, {"Category": category(["name"])})
    current = render_doc(gen, {PATH: {"post": op}}, {"Category": category(["name", "slug"])})
    # When they are diffed
    report = diff(baseline, current)
    # Then the change is reported at the top, not once per level
    assert only_changes(report) == [("property.required_added", f"{BODY}.slug", True)]


def test_mutually_recursive_schemas_terminate() -> None:
    # Given A -> B -> A, where B's field narrows
    def doc(b_type: str) -> dict[str, Any]:
        return {
            "swagger": "2.0",
            "paths": {
                "/a": {"post": {"parameters": [{"in": "body", "name": "a", "schema": {"$ref": "#/definitions/A"}}]}}
            },
            "definitions": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
                "B": {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}, "n": {"type": b_type}}},
            },
        }

    # When they are diffed
    [op] = diff(doc("number"), doc("integer")).changed
    # Then the change is found once, through the cycle
    assert [(c.kind, c.location, c.breaking) for c in op.changes] == [
        ("type.narrowed", "body[application/json].b.n", True)
    ]


def test_recursive_schema_renamed_is_compared_by_ref_name_at_the_cycle() -> None:
    # Given Node (children: [Node]) renamed TreeNode, otherwise the same
    def doc(name: str) -> dict[str, Any]:
        node = {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": f"#/definitions/{name}"}}},
        }
        body = {"in": "body", "name": "tree", "schema": {"$ref": f"#/definitions/{name}"}}
        return {"swagger": "2.0", "paths": {"/t": {"put": {"parameters": [body]}}}, "definitions": {name: node}}

    # When they are diffed
    [op] = diff(doc("Node"), doc("TreeNode")).changed
    # Then the structure matches and the cycle reports the other name, not breaking
    assert [(c.kind, c.location, c.breaking, c.detail) for c in op.changes] == [
        ("schema.changed", "body[application/json].children[]", False, "#/definitions/Node -> #/definitions/TreeNode")
    ]


def test_swagger2_and_openapi3_refs_to_the_same_schema_name_match() -> None:
    # Given the same API as Swagger 2.0 and as OpenAPI 3.0 (APIG exports either)
    spec = base_spec()
    baseline = render_doc("swagger2", {PATH: {"post": render_op("swagger2", spec)}})
    current = render_doc("oas30", {PATH: {"post": render_op("oas30", spec)}})
    # When they are diffed
    report = diff(baseline, current)
    # Then nothing changed
    assert report.empty


def test_remote_refs_stay_opaque_strings() -> None:
    # Given a body schema from a remote document whose address changes
    def doc(url: str) -> dict[str, Any]:
        body = {"in": "body", "name": "b", "schema": {"$ref": url}}
        return {"swagger": "2.0", "paths": {"/r": {"post": {"parameters": [body]}}}}

    # When they are diffed
    same = diff(doc("https://schemas.example.com/order.json"), doc("https://schemas.example.com/order.json"))
    moved = diff(doc("https://schemas.example.com/order.json"), doc("https://schemas.example.com/v2/order.json"))
    # Then only the string is compared: nothing fetched, one non-breaking change when it differs
    assert same.empty
    [op] = moved.changed
    assert [(c.kind, c.breaking) for c in op.changes] == [("schema.changed", False)]
    assert "v2/order.json" in op.changes[0].detail


def test_allof_parts_are_merged_before_comparing() -> None:
    # Given Swagger 2.0 inheritance: Order is allOf [Base, own properties]; Base gains a required id
    def doc(base_required: list[str]) -> dict[str, Any]:
        order = {"allOf": [{"$ref": "#/definitions/Base"}, {"properties": {"sku": {"type": "string"}}}]}
        base = {"type": "object", "required": base_required, "properties": {"id": {"type": "string"}}}
        body = {"in": "body", "name": "o", "schema": {"$ref": "#/definitions/Order"}}
        return {
            "swagger": "2.0",
            "paths": {"/o": {"post": {"parameters": [body]}}},
            "definitions": {"Order": order, "Base": base},
        }

    # When they are diffed
    [op] = diff(doc([]), doc(["id"])).changed
    # Then it shows as a required property of Order
    assert [(c.kind, c.location, c.breaking) for c in op.changes] == [
        ("property.required_added", "body[application/json].id", True)
    ]


# --- loading: formats, generations and refusals ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gen", GENERATIONS)
def test_load_definition_reads_both_formats_and_generations(gen: str, fmt: str) -> None:
    # Given a definition as text
    doc = render_doc(gen, {PATH: {"post": render_op(gen, base_spec())}})
    # When it is loaded
    loaded = load_definition(as_text(doc, fmt))
    # Then it is the same document
    assert loaded == doc


def test_yaml_loading_matches_the_safe_loader_including_merge_keys() -> None:
    # Given YAML with anchors, a merge key, unquoted numbers, a date and block text
    text = """\
swagger: 2.0
info: {title: t, version: 2024-05-20}
x-defaults: &backend
  type: HTTP
  timeout: 5000
paths:
  /a:
    get:
      description: |
        multi
        line
      responses:
        200: {description: ok}
      x-apigateway-backend:
        <<: *backend
        timeout: 8000
"""
    # When it is loaded
    loaded = load_definition(text)
    # Then it equals what PyYAML's safe loader builds
    assert loaded == yaml.safe_load(text)
    assert loaded["paths"]["/a"]["get"]["x-apigateway-backend"] == {"type": "HTTP", "timeout": 8000}
    for fixture in DOCS.glob("*.yaml"):
        assert load_definition(fixture.read_text()) == yaml.safe_load(fixture.read_text())


def test_yaml_status_codes_read_as_numbers_still_match_quoted_ones() -> None:
    # Given the same response once as `200:` (an int to YAML) and once as "200"
    old = load_definition('swagger: "2.0"\npaths:\n  /a:\n    get:\n      responses:\n        200: {description: ok}\n')
    new = load_definition('{"swagger": "2.0", "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}')
    # When they are diffed
    report = diff(old, new)
    # Then nothing changed
    assert report.empty


BILLION_LAUGHS = """\
swagger: "2.0"
paths: {}
x-lol:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_alias_bomb_is_refused_quickly() -> None:
    # Given a billion-laughs document (about 10**9 nodes once its aliases are expanded)
    started = time.monotonic()
    # When it is loaded, Then it is refused, and before anything is expanded
    with pytest.raises(DefinitionError, match="aliases"):
        load_definition(BILLION_LAUGHS)
    assert time.monotonic() - started < 2


def test_modest_aliases_are_accepted() -> None:
    # Given a document whose aliases add a few nodes (levels a to c of the bomb: some 1,200 nodes)
    text = BILLION_LAUGHS.split("  d:", maxsplit=1)[0]
    # When it is loaded
    loaded = load_definition(text)
    # Then aliases are shared values, as YAML means
    assert loaded["x-lol"]["c"][0] is loaded["x-lol"]["b"]


def test_recursive_alias_is_refused() -> None:
    # Given an anchor whose own content aliases it
    with pytest.raises(DefinitionError, match="recursive"):
        load_definition('swagger: "2.0"\npaths: {}\nx-loop: &a [1, *a]\n')


def nested_json(levels: int) -> str:
    # `paths` is level 2; the rest nests in x-deep
    inner = "[" * (levels - 1) + "]" * (levels - 1)
    return '{"swagger": "2.0", "paths": {}, "x-deep": ' + inner + "}"


def nested_yaml(levels: int) -> str:
    return 'swagger: "2.0"\npaths: {}\nx-deep: ' + "[" * (levels - 1) + "]" * (levels - 1) + "\n"


def nested_block_yaml(levels: int) -> str:
    lines = ['swagger: "2.0"', "paths: {}", "x-deep:"]
    lines.extend("  " * depth + f"k{depth}:" for depth in range(1, levels - 1))
    lines.append("  " * (levels - 1) + "leaf: 1")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("build", [nested_json, nested_yaml, nested_block_yaml])
def test_ten_thousand_levels_are_refused(build: Callable[[int], str]) -> None:
    # Given a document nesting 10,000 levels
    text = build(10_000)
    # When it is loaded, Then it is refused, without a RecursionError
    with pytest.raises(DefinitionError, match="deeper than 64"):
        load_definition(text)


@pytest.mark.parametrize("build", [nested_json, nested_yaml, nested_block_yaml])
def test_sixty_four_levels_are_accepted_and_sixty_five_refused(build: Callable[[int], str]) -> None:
    assert drift.MAX_DEFINITION_DEPTH == 64
    # Given documents nesting exactly 64 and 65 levels
    # When they are loaded, Then the first is read and the second refused
    assert load_definition(build(64))["swagger"] == "2.0"
    with pytest.raises(DefinitionError, match="deeper than 64"):
        load_definition(build(65))


def test_aliases_count_towards_depth() -> None:
    # Given a 40-level anchor aliased 40 levels down (80 once expanded)
    deep = "[" * 40 + "]" * 40
    text = f'swagger: "2.0"\npaths: {{}}\nx-a: &deep {deep}\nx-b: {"[" * 39}*deep{"]" * 39}\n'
    # When it is loaded, Then it is refused
    with pytest.raises(DefinitionError, match="deeper than 64"):
        load_definition(text)


@pytest.mark.parametrize(
    "text",
    [
        'swagger: "2.0"\npaths: {}\nx: !!python/object/apply:os.system ["echo pwned"]\n',
        'swagger: "2.0"\npaths: {}\nx: !!python/name:os.system\n',
        'swagger: "2.0"\npaths: {}\nx: !custom 1\n',
        'swagger: "2.0"\npaths: {}\nx: !!set {a, b}\n',
    ],
    ids=["python-object", "python-name", "application-tag", "set"],
)
def test_tags_beyond_the_safe_loaders_plain_values_are_refused(text: str) -> None:
    with pytest.raises(DefinitionError, match="tag"):
        load_definition(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2]", "not a mapping"),
        ("just text", "not a mapping"),
        ("", "not a mapping"),
        ('{"swagger": "2.0"}', "no paths"),
        ('{"swagger": "2.0", "paths": []}', "no paths"),
        ('{"openapi": "3.0.3", "paths": "none"}', "no paths"),
        ('{"paths": {}}', "neither Swagger 2.0 nor OpenAPI 3.x"),
        ('{"swagger": "1.2", "paths": {}}', "neither Swagger 2.0 nor OpenAPI 3.x"),
        ('{"openapi": "4.0.0", "paths": {}}', "neither Swagger 2.0 nor OpenAPI 3.x"),
        ("swagger: '2.0'\npaths: {\n", "neither JSON nor YAML"),
        ("--- {swagger: '2.0', paths: {}}\n--- {}\n", "more than one YAML document"),
        ('swagger: "2.0"\npaths: {}\nx: {? [1, 2] : v}\n', "key is a collection"),
    ],
)
def test_what_is_not_a_definition_is_refused(text: str, problem: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(problem)):
        load_definition(text)


def test_definition_error_is_a_value_error() -> None:
    assert issubclass(DefinitionError, ValueError)


def test_lone_surrogates_do_not_reach_the_report() -> None:
    # Given an enum value that JSON spells as a lone surrogate
    old = load_definition(
        '{"swagger": "2.0", "paths": {"/a": {"get": {"parameters": '
        '[{"in": "query", "name": "q", "type": "string", "enum": ["\\ud800", "ok"]}]}}}}'
    )
    new = load_definition(
        '{"swagger": "2.0", "paths": {"/a": {"get": {"parameters": '
        '[{"in": "query", "name": "q", "type": "string", "enum": ["ok"]}]}}}}'
    )
    # When they are diffed
    body = diff(old, new).to_json("t-0")
    # Then drift.json encodes as UTF-8
    assert json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert body["changed"][0]["changes"][0]["detail"] == "removed: \ufffd"


# --- the report as a whole ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gen", GENERATIONS)
def test_identical_documents_give_an_empty_report(gen: str, fmt: str) -> None:
    # Given the same export twice, loaded separately
    text = as_text(render_doc(gen, {PATH: {"post": render_op(gen, base_spec())}}), fmt)
    # When they are diffed
    report = diff(load_definition(text), load_definition(text))
    # Then the report is empty
    assert report.empty
    assert report.to_json("t-0") == {
        "baseline_task_id": "t-0",
        "added": [],
        "removed": [],
        "changed": [],
        "summary": {"baseline_task_id": "t-0", "added": 0, "removed": 0, "changed": 0, "breaking": 0},
    }


def test_json_and_yaml_of_the_same_export_give_an_empty_report() -> None:
    doc = render_doc("oas31", {PATH: {"post": render_op("oas31", base_spec())}})
    assert diff(load_definition(as_text(doc, "json")), load_definition(as_text(doc, "yaml"))).empty


def test_report_is_deterministic_and_sorted_by_path_then_method() -> None:
    # Given exports whose paths, methods and parameters come in different orders
    spec, changed = base_spec(), base_spec()
    add_param(changed, True)
    prop(changed, "qty")["type"] = "integer"
    baseline = render_doc(
        "swagger2",
        {
            "/b": {"post": render_op("swagger2", spec), "get": render_op("swagger2", spec)},
            "/a": {"put": render_op("swagger2", spec), "delete": render_op("swagger2", spec)},
        },
    )
    reordered = {
        "/a": {"put": render_op("swagger2", changed)},
        "/c": {"get": render_op("swagger2", spec)},
        "/b": {"get": render_op("swagger2", changed), "post": render_op("swagger2", changed)},
    }
    for op in (op for item in reordered.values() for op in item.values()):
        op["parameters"].reverse()
    current = render_doc("swagger2", reordered)
    # When they are diffed, twice
    first, second = diff(baseline, current).to_json("t-0"), diff(baseline, current).to_json("t-0")
    # Then the answers are equal, and sorted
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert [(op["path"], op["method"]) for op in first["changed"]] == [("/a", "PUT"), ("/b", "GET"), ("/b", "POST")]
    assert first["removed"] == [{"method": "DELETE", "path": "/a", "breaking": True}]
    assert first["added"] == [{"method": "GET", "path": "/c"}]
    for op in first["changed"]:
        locations = [(c["location"], c["kind"]) for c in op["changes"]]
        assert locations == sorted(locations)
    assert first["summary"] == {"baseline_task_id": "t-0", "added": 1, "removed": 1, "changed": 3, "breaking": 7}


def test_diff_reads_its_inputs_without_changing_them() -> None:
    # Given two documents with refs and allOf
    spec = base_spec()
    spec["body"]["schema"] = {"allOf": [ref("oas30", "Order"), {"properties": {"x": {"type": "string"}}}]}
    baseline = render_doc("oas30", {PATH: {"post": render_op("oas30", spec)}}, {"Order": order_schema()})
    current = copy.deepcopy(baseline)
    current["components"]["schemas"]["Order"]["properties"]["qty"]["type"] = "number"
    before = copy.deepcopy((baseline, current))
    # When they are diffed
    diff(baseline, current)
    # Then both are as they were
    assert (baseline, current) == before


def test_odd_shapes_do_not_crash_the_diff() -> None:
    # Given documents with operations, parameters and responses of the wrong types
    baseline = {
        "swagger": "2.0",
        "paths": {"/a": {"get": {"parameters": "none", "responses": []}, "post": [], "parameters": [1, {"in": 2}]}},
    }
    current = {
        "swagger": "2.0",
        "paths": {"/a": {"get": {"parameters": [None, {"name": "q"}], "responses": {"200": None}}}, "/b": None},
    }
    # When they are diffed
    report = diff(baseline, current)
    # Then it reports what it can
    assert [change.kind for op in report.changed for change in op.changes] == ["response.added"]


def test_new_default_media_types_reach_operations_spelled_the_same() -> None:
    # Given the same operation, and Swagger 2.0's document-wide consumes losing XML
    op = {"parameters": [{"in": "body", "name": "b", "schema": {"type": "object"}}]}
    baseline = {"swagger": "2.0", "consumes": ["application/json", "application/xml"], "paths": {"/o": {"post": op}}}
    current = {"swagger": "2.0", "consumes": ["application/json"], "paths": {"/o": {"post": op}}}
    # When they are diffed
    [op_change] = diff(baseline, current).changed
    # Then the removed request media type is reported
    assert [(c.kind, c.location, c.breaking) for c in op_change.changes] == [
        ("content_type.removed", "body[application/xml]", True)
    ]


def test_a_change_two_refs_away_reaches_an_operation_spelled_the_same() -> None:
    # Given a response ref (#/responses/Created) to a definition (#/definitions/Order) that loses a property
    op = {"responses": {"201": {"$ref": "#/responses/Created"}}}
    created = {"description": "created", "schema": {"$ref": "#/definitions/Order"}}

    def doc(properties: dict[str, Any]) -> dict[str, Any]:
        order = {"type": "object", "properties": properties}
        return {
            "swagger": "2.0",
            "paths": {"/o": {"post": op}},
            "responses": {"Created": created},
            "definitions": {"Order": order},
        }

    # When they are diffed
    report = diff(doc({"id": {"type": "string"}, "total": {"type": "number"}}), doc({"id": {"type": "string"}}))
    # Then the removed 2xx response property is reported, breaking
    assert [(c.kind, c.location, c.breaking) for op in report.changed for c in op.changes] == [
        ("property.removed", "responses.201[application/json].total", True)
    ]


def test_a_ref_into_paths_is_followed_even_when_its_operation_is_spelled_the_same() -> None:
    # Given /a whose body schema is a ref into /b's operation, which narrows
    def doc(kind: str) -> dict[str, Any]:
        a = {"parameters": [{"in": "body", "name": "b", "schema": {"$ref": "#/paths/~1b/post/x-schema"}}]}
        return {"swagger": "2.0", "paths": {"/a": {"post": a}, "/b": {"post": {"x-schema": {"type": kind}}}}}

    # When they are diffed
    report = diff(doc("number"), doc("integer"))
    # Then /a reports the narrowed body, /b its changed extension-like key
    assert [(op.path, [(c.kind, c.breaking) for c in op.changes]) for op in report.changed] == [
        ("/a", [("type.narrowed", True)]),
        ("/b", [("operation.changed", False)]),
    ]


# --- the rules table ----------------------------------------------------------------------------------------


def docstring_table() -> dict[str, str]:
    assert drift.__doc__ is not None
    rows = re.findall(r"^    ([a-z_]+\.[a-z_]+) +(\S.*?)  +\S", drift.__doc__, flags=re.MULTILINE)
    return dict(rows)


def test_docstring_table_and_rules_agree() -> None:
    # Given the module docstring's table and RULES
    table = docstring_table()
    # Then they name the same kinds, and the same sides for each
    assert table.keys() == RULES.keys()
    for kind, rule in RULES.items():
        if rule.breaking_in == frozenset(Side):
            expected = "always"
        elif not rule.breaking_in:
            expected = "never"
        else:
            expected = ", ".join(side.value for side in Side if side in rule.breaking_in)
        assert table[kind] == expected, kind


def test_is_breaking_looks_the_table_up() -> None:
    assert is_breaking("operation.removed", Side.OPERATION)
    assert is_breaking("property.removed", Side.SUCCESS)
    assert not is_breaking("property.removed", Side.OTHER)
    assert not is_breaking("property.removed", Side.REQUEST)
    assert is_breaking("type.narrowed", Side.REQUEST)
    assert not is_breaking("type.narrowed", Side.SUCCESS)
    with pytest.raises(KeyError):
        is_breaking("no.such_kind", Side.REQUEST)
