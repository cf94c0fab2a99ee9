"""Export drift: the time and peak memory of `drift.load_definition` + `drift.diff` on two generated Swagger 2.0
exports (a baseline and a current one, about 7 % of the operations changed, some of them breaking), each
measurement in a fresh interpreter (bench/child_probe.py), side by side with the plain export: a child that only
decodes the same text into a str and `json.loads` it once, what storing an export costs without drift.

The exports look like APIG's: per resource a collection (GET list, POST create) and an item path (GET, PUT,
DELETE), `$ref`s into `definitions`, `x-apigateway-backend` and the other `x-apigateway-*` keys, and descriptions
partly in Chinese, written as UTF-8 (so the text is a 2-byte-per-character str in memory: the costlier case).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.child_probe import ProbeRun, probe_env, run_probe
from bench.stats import median

MB = 1024 * 1024
POLLER_MEMORY_MB = 512
POLLER_TIMEOUT_S = 30  # template.yaml
LAMBDA_MB_PER_VCPU = 1769  # Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB
CHANGED_SHARE = 0.07  # of the baseline's operations, changed or removed in the current export
ADDED_SHARE = 0.01  # operations added, as a share of the baseline's
RENAMED_SHARE = 0.005  # resources whose item path renames its parameter ({order_id} -> {id})
DOCS_SHARE = 0.03  # operations whose documentation only changes (ignored by the diff, never reported)

WORDS = ("order", "invoice", "customer", "shipment", "ticket", "device", "account", "payment", "report", "session")
STATUSES = ["pending", "active", "suspended", "closed"]
CJK = "查询资源详情并返回资源的全部属性"
ERROR_REF = {"$ref": "#/definitions/Error"}

# what an operation-level change does, and whether the diff must call it breaking
OPERATION_CHANGES: dict[str, bool] = {
    "operation.removed": True,
    "parameter.made_required": True,
    "parameter.added_required": True,
    "parameter.added_optional": False,
    "backend.changed": False,
    "response.added": False,
    "response.removed": False,
    "operation.changed": False,
}
BODY_CHANGES: dict[str, bool] = {  # on the request body's own definition (POST and PUT have one each)
    "type.changed": True,
    "constraint.tightened": True,
    "enum.values_added": False,
    "property.added": False,
}


@dataclass
class Expected:
    """What the generator changed, counted as the drift report counts it."""

    operations: int = 0  # in the baseline
    added: int = 0
    removed: int = 0
    changed: int = 0  # operations in both with at least one reported change
    breaking_ops: int = 0  # changed operations with a breaking change, plus removed ones


@dataclass
class DriftSize:
    size_mb: int  # 0: the tiny pair (a few operations), the baseline of the table
    export_bytes: int  # the current export, UTF-8
    expected: Expected
    plain: list[ProbeRun] = field(default_factory=list)
    drift: list[ProbeRun] = field(default_factory=list)


# --- the generated exports ----------------------------------------------------------------------------


def entity(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"A {name}.",
        "required": ["id", "name", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "example": "2c4a1b0e-6b1f-4a57-9c1a-1b7c3a1e9f00"},
            "name": {"type": "string", "maxLength": 64, "minLength": 1},
            "status": {"type": "string", "enum": list(STATUSES)},
            "amount": {"type": "number", "format": "double", "minimum": 0},
            "count": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100000},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 32}, "maxItems": 20},
            "owner_id": {"type": "string", "pattern": "^[a-f0-9]{32}$"},
            "region": {"type": "string", "example": "cn-north-4"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": {"type": "string", "format": "date-time", "readOnly": True},
            "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        },
    }


def writable(name: str) -> dict[str, Any]:
    schema = entity(name)
    for key in ("id", "created_at", "updated_at"):
        del schema["properties"][key]
    schema["required"] = ["name", "status"]
    return schema


def operation(method: str, path: str, kind: str, res: str, model: str, i: int) -> dict[str, Any]:
    """One operation as APIG exports it."""
    params: list[dict[str, Any]] = [
        {"name": "project_id", "in": "path", "required": True, "type": "string", "maxLength": 32},
        {"name": "X-Client-Trace", "in": "header", "required": False, "type": "string", "maxLength": 64},
    ]
    if "{" in path.rsplit("/", 1)[-1]:
        params.insert(
            1, {"name": path.rsplit("{", 1)[-1].rstrip("}"), "in": "path", "required": True, "type": "string"}
        )
    ok = "200"
    if kind == "list":
        params += [
            {"name": "limit", "in": "query", "required": False, "type": "integer", "minimum": 1, "maximum": 500},
            {"name": "offset", "in": "query", "required": False, "type": "integer", "minimum": 0},
            {"name": "status", "in": "query", "required": False, "type": "string", "enum": list(STATUSES)},
        ]
        success: dict[str, Any] = {"description": "OK", "schema": {"$ref": f"#/definitions/{model}List"}}
    elif kind in ("create", "update"):
        suffix = "Create" if kind == "create" else "Update"
        params.append(
            {"name": "body", "in": "body", "required": True, "schema": {"$ref": f"#/definitions/{model}{suffix}"}}
        )
        ok = "201" if kind == "create" else "200"
        success = {"description": "OK", "schema": {"$ref": f"#/definitions/{model}"}}
    elif kind == "delete":
        ok = "204"
        success = {"description": "Deleted"}
    else:
        success = {"description": "OK", "schema": {"$ref": f"#/definitions/{model}"}}
    responses: dict[str, Any] = {ok: success}
    for status, text in (("400", "Bad request"), ("401", "Unauthorized"), ("404", "Not found"), ("500", "Error")):
        responses[status] = {"description": text, "schema": dict(ERROR_REF)}
    backend_path = "/internal" + path.replace("/v1/{project_id}", "")
    return {
        "operationId": f"{kind}{model}",
        "summary": f"{kind} {res}",
        "description": f"{CJK} ({kind} {res})" if i % 3 == 0 else f"The {kind} operation of {res}.",
        "tags": [res.rstrip("0123456789")],
        "security": [{"apig-auth-app": []}],
        "parameters": params,
        "responses": responses,
        "x-apigateway-backend": {
            "type": "HTTP",
            "httpEndpoints": {
                "address": f"10.0.{i % 250}.{(i * 7) % 250}:8080",
                "scheme": "http",
                "method": method.upper(),
                "path": backend_path,
                "timeout": 5000,
                "retryCount": "-1",
            },
            "parameters": [
                {"name": "project_id", "value": "project_id", "in": "PATH", "origin": "REQUEST"},
                {"name": "X-Client-Trace", "value": "X-Client-Trace", "in": "HEADER", "origin": "REQUEST"},
            ],
        },
        "x-apigateway-request-type": "public",
        "x-apigateway-match-mode": "NORMAL",
        "x-apigateway-cors": False,
        "x-apigateway-is-send-fg-body-base64": True,
        "x-apigateway-result-normal-sample": f'{{"id": "2c4a1b0e", "name": "{res}"}}',
        "x-apigateway-result-failure-sample": '{"error_code": "APIG.0101", "error_msg": "not found"}',
    }


def change_operation(op: dict[str, Any], change: str) -> None:
    if change == "parameter.made_required":
        next(p for p in op["parameters"] if p["name"] == "X-Client-Trace")["required"] = True
    elif change == "parameter.added_required":
        op["parameters"].append({"name": "X-Tenant-Id", "in": "header", "required": True, "type": "string"})
    elif change == "parameter.added_optional":
        op["parameters"].append({"name": "fields", "in": "query", "required": False, "type": "string"})
    elif change == "backend.changed":
        op["x-apigateway-backend"]["httpEndpoints"]["timeout"] = 8000
    elif change == "response.added":
        op["responses"]["429"] = {"description": "Too many requests", "schema": dict(ERROR_REF)}
    elif change == "response.removed":
        del op["responses"]["500"]
    elif change == "operation.changed":
        op["tags"] = [*op["tags"], "v2"]
    else:
        raise ValueError(change)


def change_body(schema: dict[str, Any], change: str) -> None:
    props = schema["properties"]
    if change == "type.changed":
        props["count"] = {"type": "string", "maxLength": 12}
    elif change == "constraint.tightened":
        props["name"]["maxLength"] = 32
    elif change == "enum.values_added":
        props["status"]["enum"] = [*props["status"]["enum"], "archived"]
    elif change == "property.added":
        props["labels"] = {"type": "array", "items": {"type": "string"}}
    else:
        raise ValueError(change)


def _head(version: str) -> str:
    info = {"title": "bench-group", "version": version, "description": "APIG export (generated by bench/drift.py)"}
    head = {
        "swagger": "2.0",
        "info": info,
        "host": "0f1e2d3c4b5a.apic.cn-north-4.huaweicloudapis.com",
        "basePath": "/",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
    }
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "paths": {'


_TAIL = (
    '"securityDefinitions": {"apig-auth-app": {"type": "apiKey", "name": "Authorization", "in": "header", '
    '"x-apigateway-auth-type": "AppSigv1"}}, "x-apigateway-responses": {"default": {}}}'
)


def _entry(key: str, value: Any) -> str:
    return json.dumps(key) + ": " + json.dumps(value, ensure_ascii=False)


class _Pair:
    """The two exports being generated, resource by resource: their path and definition entries, as JSON text."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.expected = Expected()
        self.paths: tuple[list[str], list[str]] = ([], [])
        self.defs: tuple[list[str], list[str]] = ([_entry("Error", _error())], [_entry("Error", _error())])
        self.size = len(_head("2026-01-01-10:00:00").encode()) + len(_TAIL)  # of the baseline, UTF-8

    def resource(self, i: int) -> None:
        word = WORDS[i % len(WORDS)]
        res, model = f"{word}s{i}", f"{word.capitalize()}{i}"
        collection = f"/v1/{{project_id}}/{res}"
        item = f"{collection}/{{{word}_id}}"
        renamed = f"{collection}/{{id}}" if self.rng.random() < RENAMED_SHARE else item
        base_defs = {
            model: entity(model),
            f"{model}Create": writable(model),
            f"{model}Update": writable(model),
            f"{model}List": {
                "type": "object",
                "properties": {
                    "count": {"type": "integer"},
                    "items": {"type": "array", "items": {"$ref": f"#/definitions/{model}"}},
                },
            },
        }
        now_defs = copy.deepcopy(base_defs)
        for base_path, now_path, methods in (
            (collection, collection, (("get", "list"), ("post", "create"))),
            (item, renamed, (("get", "show"), ("put", "update"), ("delete", "delete"))),
        ):
            base_item: dict[str, Any] = {}
            now_item: dict[str, Any] = {}
            for method, kind in methods:
                base_item[method] = operation(method, base_path, kind, res, model, i)
                now_op = operation(method, now_path, kind, res, model, i)
                body = now_defs[f"{model}{kind.capitalize()}"] if kind in ("create", "update") else None
                if self.change(now_op, body, renamed=now_path != base_path):
                    now_item[method] = now_op
            if base_path == item and self.rng.random() < ADDED_SHARE * 5:
                now_item["patch"] = operation("patch", now_path, "update", res, model, i)
                self.expected.added += 1
            self.add(self.paths, (base_path, base_item), (now_path, now_item))
        for name, schema in base_defs.items():
            self.add(self.defs, (name, schema), (name, now_defs[name]))

    def change(self, op: dict[str, Any], body: dict[str, Any] | None, *, renamed: bool) -> bool:
        """Perhaps change the current export's operation (or its request body's definition); False: removed."""
        self.expected.operations += 1
        changed, breaking = renamed, False  # a renamed path parameter does not break
        if self.rng.random() < CHANGED_SHARE:
            change = self.rng.choice([*OPERATION_CHANGES, *(BODY_CHANGES if body is not None else ())])
            if change == "operation.removed":
                self.expected.removed += 1
                self.expected.breaking_ops += 1
                return False
            if body is not None and change in BODY_CHANGES:
                change_body(body, change)
                breaking = BODY_CHANGES[change]
            else:
                change_operation(op, change)
                breaking = OPERATION_CHANGES[change]
            changed = True
        elif self.rng.random() < DOCS_SHARE:
            op["summary"] += " (edited)"
        self.expected.changed += changed
        self.expected.breaking_ops += changed and breaking
        return True

    def add(self, into: tuple[list[str], list[str]], base: tuple[str, Any], now: tuple[str, Any]) -> None:
        entry = _entry(*base)
        into[0].append(entry)
        into[1].append(_entry(*now))
        self.size += len(entry.encode()) + 2

    def texts(self) -> tuple[str, str]:
        def text(version: str, paths: list[str], defs: list[str]) -> str:
            return _head(version) + ", ".join(paths) + '}, "definitions": {' + ", ".join(defs) + "}, " + _TAIL

        return (
            text("2026-01-01-10:00:00", self.paths[0], self.defs[0]),
            text("2026-01-08-10:00:00", self.paths[1], self.defs[1]),
        )


def generate_pair(size_bytes: int, seed: int = 7) -> tuple[str, str, Expected]:
    """A baseline export of about `size_bytes` (UTF-8) and its changed successor, with what changed."""
    pair = _Pair(seed)
    i = 0
    while pair.size < size_bytes:
        pair.resource(i)
        i += 1
    base, now = pair.texts()
    return base, now, pair.expected


def _error() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"error_code": {"type": "string"}, "error_msg": {"type": "string"}},
        "required": ["error_code", "error_msg"],
    }


# --- the benchmark -----------------------------------------------------------------------------------


def bench_drift(sizes_mb: list[int], repeats: int, workdir: Path) -> dict[int, DriftSize]:
    """Per size (MiB of the baseline export; 0 adds the tiny pair, always measured first): `repeats` fresh
    children each of plain and drift, interleaved."""
    out: dict[int, DriftSize] = {}
    env = probe_env()
    for size_mb in [0, *sizes_mb]:
        base_text, now_text, expected = generate_pair(max(size_mb * MB, 8 * 1024))
        base_path, now_path = workdir / f"drift-{size_mb}-baseline.json", workdir / f"drift-{size_mb}-current.json"
        base_path.write_bytes(base_text.encode("utf-8"))
        now_bytes = now_text.encode("utf-8")
        now_path.write_bytes(now_bytes)
        del base_text, now_text
        result = DriftSize(size_mb, len(now_bytes), expected)
        del now_bytes
        for _ in range(repeats):
            result.plain.append(run_probe(["plain", str(now_path)], workdir, env))
            result.drift.append(run_probe(["drift", str(base_path), str(now_path)], workdir, env))
        check(result)
        out[size_mb] = result
        base_path.unlink()
        now_path.unlink()
    return out


def check(result: DriftSize) -> None:
    """The report must find what the generator changed (a wrong diff would make the timing meaningless)."""
    e = result.expected
    for run in result.drift:
        found = (run.detail["added"], run.detail["removed"], run.detail["changed"])
        if found != (e.added, e.removed, e.changed):
            raise RuntimeError(
                f"drift of the {result.size_mb} MB pair found added/removed/changed {found}, "
                f"generated {(e.added, e.removed, e.changed)}"
            )


def drift_section(results: dict[int, DriftSize], poller_baseline_mb: float | None = None) -> list[str]:
    """The Markdown section. `poller_baseline_mb`: the real poller's own baseline peak (section 4's tiny export),
    if known, for a second, stricter margin (that poller's resident set plus what drift adds here)."""
    lines = ["## Export drift: diff time and memory", ""]
    add = lines.append
    tiny = results.get(0)
    runs = len(next(iter(results.values())).drift) if results else 0
    add(
        "When an export succeeds, the poller diffs it with the previous export of its API group and environment "
        "(`taskwatch.domain.drift.load_definition` on both texts, then `diff`, then drift.json serialised). "
        "Measured in a fresh interpreter per run (bench/child_probe.py), which first imports the poller's "
        "handler module, then does what `Watcher._compare` does (the baseline read from a file instead of S3). "
        "Side by side, the plain export: the same kind of child that only decodes the current export into a str "
        f"and `json.loads` it once. Peak RSS = the child's `VmHWM`, median of {runs} run(s); times are medians "
        "inside the child."
    )
    add("")
    add(
        f"The pair is generated (bench/drift.py): Swagger 2.0 JSON as APIG exports it, 5 operations per resource, "
        f"`$ref`s into `definitions`, `x-apigateway-*` keys, a third of the descriptions in Chinese (UTF-8, so the "
        f"text is a 2-byte-per-character str). In the current export {CHANGED_SHARE:.0%} of the operations are "
        f"changed or removed (some breaking), {ADDED_SHARE:.0%} added, {RENAMED_SHARE:.1%} of the item paths "
        f"rename their parameter, and {DOCS_SHARE:.0%} change their documentation only (which the report ignores). "
        "Every run found exactly the generated additions, removals and changes."
    )
    add("")
    add(
        "| export (current) | operations | plain: peak RSS (MB) | drift: peak RSS (MB) | drift over plain (MB) "
        "| load + diff + report (s) | of which diff (s) | report: added / removed / changed / breaking "
        f"| margin to {POLLER_MEMORY_MB} MB |"
    )
    add("|---|---|---|---|---|---|---|---|---|")
    for size, r in results.items():
        plain = median([x.rss_mb for x in r.plain])
        peak = median([x.rss_mb for x in r.drift])
        first = r.drift[0].detail
        label = f"tiny ({r.export_bytes / 1024:.0f} KB)" if size == 0 else f"{r.export_bytes / MB:.1f} MB"
        add(
            f"| {label} | {r.expected.operations} | {plain:.1f} | {peak:.1f} | {peak - plain:+.1f} | "
            f"{median([x.elapsed_s for x in r.drift]):.2f} | {median([x.detail['diff_s'] for x in r.drift]):.2f} | "
            f"{first['added']} / {first['removed']} / {first['changed']} / {first['breaking']} | "
            f"{POLLER_MEMORY_MB - peak:.0f} MB |"
        )
    add("")
    sized = [size for size in results if size]
    if sized:
        largest = results[max(sized)]
        peak = median([x.rss_mb for x in largest.drift])
        plain = median([x.rss_mb for x in largest.plain])
        text = (
            f"At {largest.export_bytes / MB:.0f} MB the diff peaks at **{peak:.0f} MB**, {peak - plain:.0f} MB more "
            f"than the plain export ({plain:.0f} MB), leaving **{POLLER_MEMORY_MB - peak:.0f} MB** "
            f"({(POLLER_MEMORY_MB - peak) / POLLER_MEMORY_MB:.0%}) of the poller's {POLLER_MEMORY_MB} MB"
        )
        if poller_baseline_mb is not None and tiny is not None:
            over = peak - median([x.rss_mb for x in tiny.drift])
            text += (
                f"; on top of the real poller's own baseline ({poller_baseline_mb:.0f} MB, section 4) it would "
                f"peak near {poller_baseline_mb + over:.0f} MB, a margin of "
                f"{POLLER_MEMORY_MB - poller_baseline_mb - over:.0f} MB"
            )
        add(text + ".")
        add("")
        seconds = median([x.elapsed_s for x in largest.drift])
        slowdown = LAMBDA_MB_PER_VCPU / POLLER_MEMORY_MB
        add(
            f"Time: {seconds:.1f} s here for load, diff and report, on this machine's full core. Lambda gives a "
            f"{POLLER_MEMORY_MB} MB function about {1 / slowdown:.0%} of a vCPU (one at {LAMBDA_MB_PER_VCPU:,} MB), "
            f"so the same work could take about {seconds * slowdown:.1f} s there (an estimate, not measured) of the "
            f"poller's {POLLER_TIMEOUT_S} s timeout, on top of reading the answer and storing the export."
        )
        add("")
    return lines


def drift_summary(results: dict[int, DriftSize]) -> str:
    """One line for the closing summary."""
    largest = results[max(results)]
    peak = median([x.rss_mb for x in largest.drift])
    return (
        f"export drift at {largest.export_bytes / MB:.0f} MB: {median([x.elapsed_s for x in largest.drift]):.1f} s, "
        f"peak {peak:.0f} MB (plain export {median([x.rss_mb for x in largest.plain]):.0f} MB), "
        f"margin {POLLER_MEMORY_MB - peak:.0f} MB of {POLLER_MEMORY_MB} MB"
    )
