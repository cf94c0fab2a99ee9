"""The documented callback recipe (examples/callback_receiver.py), run for real: the service delivers a
watch's outcome to the receiver, which verifies it with the Standard Webhooks library and turns it into
a GitHub repository_dispatch or a GitLab pipeline trigger — here against loopback stand-ins of both APIs."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apig_emulator import ScriptedAnswer
from examples.callback_receiver import make_server
from tests.integration.conftest import poll_message
from tests.integration.test_callbacks_flow import SWAGGER, World, world  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]


@dataclass
class CiApi:
    """What the receiver calls: GitHub's dispatches endpoint or GitLab's pipeline trigger."""

    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                api.calls.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204 if "dispatches" in self.path else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def ci_api() -> Iterator[CiApi]:
    api = CiApi()
    yield api
    api.server.shutdown()
    api.server.server_close()


def start_receiver(env: dict[str, str]) -> tuple[ThreadingHTTPServer, str]:
    server = make_server(0, env)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/apig"


def deliver_through(world: World, task_id: str, receiver_url: str) -> dict[str, Any]:  # noqa: F811
    world.harness.apig.script(task_id, [ScriptedAnswer.export_json(SWAGGER)], task_type="export_api")
    world.harness.send(poll_message(task_id, callback_url=receiver_url))
    return world.run_until_callback_ends(task_id)


def test_github_recipe_turns_the_outcome_into_a_repository_dispatch(world: World, ci_api: CiApi) -> None:  # noqa: F811
    # Given the recipe's receiver, forwarding to GitHub with a token
    env = {
        "TASKWATCH_WEBHOOK_KEY": world.harness.stack.webhook_key,
        "FORWARD_TO": "github",
        "GITHUB_API_URL": ci_api.url,
        "GITHUB_REPOSITORY": "acme/petstore-api",
        "GITHUB_TOKEN": "ghs_test",
    }
    server, url = start_receiver(env)
    try:
        # When a watch with that callback ends
        state = deliver_through(world, "rd1", url)
    finally:
        server.shutdown()
        server.server_close()
    # Then the callback was delivered and GitHub received one dispatch carrying the outcome
    assert state["status"] == "delivered"
    [(path, headers, body)] = ci_api.calls
    assert path == "/repos/acme/petstore-api/dispatches" and headers["authorization"] == "Bearer ghs_test"
    dispatch = json.loads(body)
    assert dispatch["event_type"] == "apig-task-finished"
    assert (dispatch["client_payload"]["task_id"], dispatch["client_payload"]["outcome"]) == ("rd1", "succeeded")


def test_gitlab_recipe_triggers_a_pipeline(world: World, ci_api: CiApi) -> None:  # noqa: F811
    env = {
        "TASKWATCH_WEBHOOK_KEY": world.harness.stack.webhook_key,
        "FORWARD_TO": "gitlab",
        "GITLAB_API_URL": ci_api.url,
        "GITLAB_PROJECT_ID": "1234",
        "GITLAB_TRIGGER_TOKEN": "glptt-test",
        "GITLAB_REF": "main",
    }
    server, url = start_receiver(env)
    try:
        state = deliver_through(world, "gl1", url)
    finally:
        server.shutdown()
        server.server_close()
    assert state["status"] == "delivered"
    [(path, _, body)] = ci_api.calls
    fields = dict(urllib.parse.parse_qsl(body.decode()))
    assert path == "/projects/1234/trigger/pipeline"
    assert fields == {
        "token": "glptt-test",
        "ref": "main",
        "variables[APIG_TASK_ID]": "gl1",
        "variables[APIG_OUTCOME]": "succeeded",
    }


def test_the_receiver_refuses_a_forged_callback(world: World, ci_api: CiApi) -> None:  # noqa: F811
    import urllib.error
    import urllib.request

    env = {
        "TASKWATCH_WEBHOOK_KEY": world.harness.stack.webhook_key,
        "GITHUB_API_URL": ci_api.url,
        "GITHUB_REPOSITORY": "a/b",
        "GITHUB_TOKEN": "t",
    }
    server, url = start_receiver(env)
    try:
        forged = urllib.request.Request(
            url,
            data=b'{"task_id":"x","outcome":"succeeded"}',
            headers={"webhook-id": "x.succeeded", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 401 and ci_api.calls == []
    finally:
        server.shutdown()
        server.server_close()
