"""The demo's second act, on the same local stack: a pipeline authenticated by its CI token, the same API
group exported twice with a breaking change between the exports, and the second outcome called back to
the CI's own endpoint instead of holding a runner."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from standardwebhooks.webhooks import Webhook as StandardWebhook

from apig_emulator import ScriptedAnswer
from taskwatch_cli.auth import StoredToken
from taskwatch_local.ci import WebhookClient, submit_task
from taskwatch_local.demo.render import Narrator
from taskwatch_local.environment import LocalEnvironment
from taskwatch_local.oidc_issuer import LocalOidcIssuer

GROUP, ENV = "petstore", "RELEASE"
REPOSITORY = "acme/petstore-api"
V1: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "petstore", "version": "1.0"},
    "paths": {
        "/pets": {
            "get": {
                "parameters": [{"name": "limit", "in": "query", "type": "integer"}],
                "responses": {"200": {"description": "the pets"}},
            }
        },
        "/pets/{id}": {
            "delete": {
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
                "responses": {"204": {"description": "deleted"}},
            }
        },
    },
}
# Between the two exports someone removed DELETE /pets/{id}, made `limit` required and added GET /owners.
V2: dict[str, Any] = {
    **V1,
    "paths": {
        "/pets": {
            "get": {
                "parameters": [{"name": "limit", "in": "query", "type": "integer", "required": True}],
                "responses": {"200": {"description": "the pets"}},
            }
        },
        "/owners": {"get": {"responses": {"200": {"description": "the owners"}}}},
    },
}


@dataclass
class SecondAct:
    first: dict[str, Any] = field(default_factory=dict)  # the token-submitted export's status
    second: dict[str, Any] = field(default_factory=dict)  # the drifting export's status
    drift_report: dict[str, Any] | None = None  # its drift.json
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # what the CI endpoint received, verified
    notifications: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False


class CallbackEndpoint:
    """The CI's own endpoint: verifies each callback with the Standard Webhooks library, keeps it."""

    def __init__(self, key: str) -> None:
        webhook = StandardWebhook(key)
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                document = webhook.verify(body, headers)
                received.append({"webhook_id": headers["webhook-id"], "document": document})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/ci/apig-outcome"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def _settings(**variables: str) -> Iterator[None]:
    """The stack parameters this act turns on (the functions follow their environment)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def play_second_act(env: LocalEnvironment, narrator: Narrator, *, timeout: float) -> SecondAct:
    act = SecondAct()
    endpoint = CallbackEndpoint(env.stack.webhook_key)
    try:
        with (
            LocalOidcIssuer() as issuer,
            _settings(
                OIDC_TRUST=json.dumps([issuer.trust_rule(repository_owner_id="1234567", repository="acme/*")]),
                CALLBACK_ALLOWED_HOSTS="127.0.0.1",
            ),
        ):
            narrator.say(f"OIDC_TRUST: GitHub-shaped tokens of {issuer.url} for acme/* (owner id 1234567)")
            narrator.say(f"CALLBACK_ALLOWED_HOSTS: 127.0.0.1 (the CI endpoint at {endpoint.url})")
            operator = WebhookClient(env.webhook_url, env.stack.webhook_key)
            first = env.apig.create_task(
                "export_api", env.project_id, env.instance_id, ScriptedAnswer.export_json(json.dumps(V1), f"{GROUP}-v1")
            )
            pipeline = WebhookClient(env.webhook_url, credentials=StoredToken(issuer.github_token(REPOSITORY), "CI"))
            submit_task(pipeline, _watch(env, first), err=narrator.stream)
            narrator.say(f"CI ({REPOSITORY}) -> POST /tasks with its OIDC token, no shared key: export {first}")
            act.first = _wait(operator, first, timeout)
            second = env.apig.create_task(
                "export_api", env.project_id, env.instance_id, ScriptedAnswer.export_json(json.dumps(V2), f"{GROUP}-v2")
            )
            submit_task(operator, {**_watch(env, second), "callback_url": endpoint.url}, err=narrator.stream)
            narrator.say(f"CI -> POST /tasks, export {second} of the changed group, callback_url {endpoint.url}")
            narrator.say("  (the runner could end here: the outcome will be called back)")
            act.second = _wait(operator, second, timeout)
            delivered = _until(lambda: _callback_state(operator, second, act) == "delivered", timeout)
            act.finished = delivered and bool(endpoint.received) and act.first.get("status") == "succeeded"
        key = (act.second.get("export") or {}).get("key", "")
        stored = env.stack.objects().get(key.rsplit("/", 1)[0] + "/drift.json")
        act.drift_report = json.loads(stored) if stored else None
        act.callbacks = list(endpoint.received)
        act.notifications = env.stack.notifications(wait_seconds=1)
    finally:
        endpoint.close()
    return act


def _watch(env: LocalEnvironment, task_id: str) -> dict[str, Any]:
    return {
        "project_id": env.project_id,
        "instance_id": env.instance_id,
        "task_id": task_id,
        "expected_type": "export_api",
        "group_id": GROUP,
        "env_id": ENV,
    }


def _wait(client: WebhookClient, task_id: str, timeout: float) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ended() -> bool:
        answer = client.status(task_id)
        if answer.status == 200 and isinstance(answer.body, dict):
            found.update(answer.body)
        return found.get("status") not in (None, "queued", "polling")

    _until(ended, timeout)
    return found


def _callback_state(client: WebhookClient, task_id: str, act: SecondAct) -> str | None:
    """The callback's state as the status API shows it (the latest answer is kept in `act.second`)."""
    answer = client.status(task_id)
    if answer.status == 200 and isinstance(answer.body, dict):
        act.second = answer.body
    return (act.second.get("callback") or {}).get("status")


def _until(done: Callable[[], bool], timeout: float, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(interval)
    return bool(done())


def differences(act: SecondAct) -> list[str]:
    found: list[str] = []
    caller = act.first.get("caller") or {}
    if act.first.get("status") != "succeeded" or caller.get("repository") != REPOSITORY:
        found.append(f"second act: the token's export is {act.first.get('status')!r} with caller {caller}")
    if act.first.get("drift") is not None:
        found.append("second act: the first export of the group has a drift report")
    drift = act.second.get("drift") or {}
    if (drift.get("removed"), drift.get("added"), drift.get("breaking")) != (1, 1, 2):
        found.append(f"second act: drift {drift}, expected 1 removed, 1 added, 2 breaking")
    if not act.drift_report:
        found.append("second act: no drift.json beside the second export")
    ids = [c["webhook_id"] for c in act.callbacks]
    if ids != [f"{act.second.get('task_id')}.succeeded"]:
        found.append(f"second act: callbacks received {ids}, expected one for the second export")
    if (act.second.get("callback") or {}).get("status") != "delivered":
        found.append(f"second act: callback state {act.second.get('callback')}, expected delivered")
    flagged = [n for n in act.notifications if n["attributes"].get("drift") == "breaking"]
    if len(flagged) != 1:
        found.append(f"second act: {len(flagged)} notifications flagged drift=breaking, expected 1")
    return found


def summarize_second_act(act: SecondAct, out: TextIO) -> None:
    write = out.write
    write("\n== second act: a CI token, a callback, and what changed in the API\n")
    caller = act.first.get("caller") or {}
    write(f"  export 1 started by {caller.get('repository')} (run {caller.get('run_id')}), no shared key\n")
    write(f"  export 2 drift: {json.dumps(act.second.get('drift'))}\n")
    for op in (act.drift_report or {}).get("removed", []):
        write(f"    - removed {op['method']} {op['path']} (breaking)\n")
    for op in (act.drift_report or {}).get("added", []):
        write(f"    + added   {op['method']} {op['path']}\n")
    for op in (act.drift_report or {}).get("changed", []):
        kinds = ", ".join(sorted({c["kind"] for c in op["changes"]}))
        write(f"    ~ changed {op['method']} {op['path']}{' (breaking)' if op['breaking'] else ''}: {kinds}\n")
    for callback in act.callbacks:
        document = callback["document"]
        write(
            f"  callback to the CI endpoint: webhook-id {callback['webhook_id']}, outcome {document['outcome']}, "
            f"signature verified with the Standard Webhooks library\n"
        )
    for note in act.notifications:
        write(f"  notification: {note['subject']} [drift={note['attributes'].get('drift')}]\n")
