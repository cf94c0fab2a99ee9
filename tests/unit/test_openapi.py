"""docs/openapi.yaml is what the webhook answers.

Every (method, path, status) the document declares is driven through the real handler in-process (signed
payload v2.0 events, in-memory ports, a fixed clock) and each real answer is validated with openapi-core
against the document: the operation, the status code, the content type, the declared headers and the body
schema. The last test checks that the answers exercised here and the answers documented are the same set,
so a status code added to the document without a test (or answered without being documented) fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import PathNotFound, ServerNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.schemas import oas31_schema_validators_factory

from taskwatch.domain.errors import DependencyError
from taskwatch.domain.limits import MAX_REQUEST_BYTES
from taskwatch.domain.model import PollMessage, parse_task
from taskwatch.domain.policy import PollPolicy
from taskwatch.domain.watcher import Step, Watcher, WatchSettings
from tests.fakes import FakeNotifier, FakeQueue, FakeStore, Faulty, ScriptedApig
from tests.unit.test_webhook_app import EVENTS, SIGNED_AT, World, answer, load, message, request

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
OPENAPI = OpenAPI.from_path(DOCUMENT)  # openapi-core checks the document itself (openapi-spec-validator) here
FINDER = APICallPathFinder(OPENAPI.spec)
UNKNOWN_ROUTES = "x-unknown-routes"  # the document's extension for answers to paths it does not list
ANY_METHOD = "*"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

type Event = dict[str, Any]
type Answer = tuple[str, str, int]  # (METHOD, the document's path, status)


# --- the document's side ---------------------------------------------------------------------------------


def documented_answers() -> set[Answer]:
    """Every (method, path, status) the document declares, unknown routes included."""
    document: dict[str, Any] = OPENAPI.spec.read_value()
    declared = {
        (method.upper(), path, int(status))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        for status in operation["responses"]
    }
    declared |= {(ANY_METHOD, UNKNOWN_ROUTES, int(status)) for status in document[UNKNOWN_ROUTES]["responses"]}
    return declared


def openapi_request(event: Event) -> MockRequest:
    """The payload v2.0 event as openapi-core sees a request: host, raw path, method, headers and the body bytes."""
    headers = {name.lower(): value for name, value in event["headers"].items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    return MockRequest(
        host_url=f"https://{event['requestContext']['domainName']}",
        method=event["requestContext"]["http"]["method"],
        path=event["rawPath"],
        headers=headers,
        data=body,
        content_type=headers.get("content-type", "application/json"),
    )


def openapi_response(response: dict[str, Any]) -> MockResponse:
    headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
    return MockResponse(
        data=str(response.get("body", "")).encode(),
        status_code=int(response["statusCode"]),
        headers=headers,
        content_type=headers.get("content-type", ""),
    )


def validated(event: Event, response: dict[str, Any]) -> Answer:
    """Validate the handler's answer against the document; returns which documented answer it is.

    Raises openapi-core's errors when the path, operation, status code, content type, a declared header or the
    body does not match the document.
    """
    request = openapi_request(event)
    answered = openapi_response(response)
    try:
        found = FINDER.find(request.method, request.host_url + request.path)
    except (PathNotFound, ServerNotFound):  # no documented path, under the document's server, is this one
        validate_unknown_route(answered)
        return ANY_METHOD, UNKNOWN_ROUTES, answered.status_code
    OPENAPI.validate_response(request, answered)
    return request.method.upper(), str(found.path_result.pattern), answered.status_code


def validate_unknown_route(answered: MockResponse) -> None:
    """A path the document does not list: the answer must be one of `x-unknown-routes`' responses."""
    responses = OPENAPI.spec / UNKNOWN_ROUTES / "responses"
    assert str(answered.status_code) in responses, f"status {answered.status_code} is not documented"
    content = responses / str(answered.status_code) / "content"
    assert answered.content_type in content, f"content type {answered.content_type!r} is not documented"
    schema = content / answered.content_type / "schema"
    oas31_schema_validators_factory.create(OPENAPI.spec, schema).validate(json.loads(answered.data))


# --- the scenarios: one or more per documented answer --------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    answer: Answer  # what the document should say the handler answered
    given: str  # the situation, in words
    arrange: Callable[[World], Event]  # sets the world up; returns the request the handler is given

    @property
    def id(self) -> str:
        method, path, status = self.answer
        return f"{method} {path} {status}: {self.given}"


SCENARIOS: list[Scenario] = []


def answers(
    method: str, path: str, status: int, given: str
) -> Callable[[Callable[[World], Event]], Callable[[World], Event]]:
    """Register the decorated function as the arrangement of a scenario that should get this answer."""

    def register(arrange: Callable[[World], Event]) -> Callable[[World], Event]:
        SCENARIOS.append(Scenario((method, path, status), given, arrange))
        return arrange

    return register


class UnreadableKeys:
    """Secrets Manager is down: the webhook key cannot be read."""

    def current(self) -> Sequence[str]:
        raise DependencyError("reading secret failed: ServiceUnavailableException")

    def refresh(self) -> bool:
        return False


def apig_sample(name: str) -> dict[str, Any]:
    """One of the sample APIG async-task answers in events/."""
    task: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return task


PARTIAL_IMPORT = {
    "task_status": "succeed",
    "task_type": "import_api",
    "task_result": json.dumps(
        {
            "group_id": "g1",
            "success": [{"id": "a1", "method": "GET", "path": "/pets", "action": "create"}],
            "failure": [{"method": "POST", "path": "/pets", "error_code": "APIG.3301", "error_msg": "conflict"}],
            "swagger": {"id": "s1", "result": "Success"},
        }
    ),
}


def poll(world: World, submitted: Event, task: dict[str, Any]) -> None:
    """One real poll of the submitted watch (the poller's Watcher, on the same in-memory records) that finds
    the task as `task` says (APIG's async-task answer, for the submitted task id)."""
    body = json.loads(submitted["body"])
    watcher = Watcher(
        settings=WatchSettings(PollPolicy()),
        apig=ScriptedApig({body["task_id"]: [parse_task({**task, "task_id": body["task_id"]})]}),
        records=world.records,
        queue=FakeQueue(),
        store=FakeStore(),
        notifier=FakeNotifier(),
        clock=world.clock,
    )
    world.clock.now += 2
    step = watcher.handle(PollMessage(**body), delivery_id="sqs-msg-1", lease_seconds=30).step
    assert step is (Step.POLLING if task["task_status"] in ("waiting", "processing") else Step.FINISHED)


# POST /tasks


@answers("POST", "/tasks", 202, "a new watch")
def a_new_watch(world: World) -> Event:
    return load("webhook_post_standard")


@answers("POST", "/tasks", 202, "a watch still queued, submitted again")
def a_queued_watch_again(world: World) -> Event:
    world.call(request("POST", "/tasks", message()))
    return request("POST", "/tasks", message())


@answers("POST", "/tasks", 200, "a watch being polled, submitted again")
def a_polling_watch_again(world: World) -> Event:
    submitted = request("POST", "/tasks", message(expected_type="import_api"))
    world.call(submitted)
    poll(world, submitted, apig_sample("apig_task_processing.json"))
    return request("POST", "/tasks", message(expected_type="import_api"))


@answers("POST", "/tasks", 200, "a finished watch, submitted again")
def a_finished_watch_again(world: World) -> Event:
    submitted = request("POST", "/tasks", message())
    world.call(submitted)
    poll(world, submitted, apig_sample("apig_task_import_failed.json"))
    return request("POST", "/tasks", message())


@answers("POST", "/tasks", 400, "a body with five invalid fields")
def a_malformed_body(world: World) -> Event:
    return load("webhook_malformed_body")


@answers("POST", "/tasks", 400, "a body that is not JSON")
def a_body_that_is_not_json(world: World) -> Event:
    return request("POST", "/tasks", b"{not json")


@answers("POST", "/tasks", 401, "a signature over another body")
def a_bad_signature(world: World) -> Event:
    return load("webhook_bad_signature")


@answers("POST", "/tasks", 401, "an untimed GitHub-style signature")
def an_untimed_github_signature(world: World) -> Event:
    return load("webhook_post_untimed_github")


@answers("POST", "/tasks", 401, "a signature older than five minutes")
def a_stale_signature(world: World) -> Event:
    return request("POST", "/tasks", message(), at=SIGNED_AT - 301)


@answers("POST", "/tasks", 409, "a task id watched under another project")
def a_task_watched_elsewhere(world: World) -> Event:
    world.call(request("POST", "/tasks", message()))
    other = json.dumps({"project_id": "p2", "instance_id": "i1", "task_id": "t1"}).encode()
    return request("POST", "/tasks", other)


@answers("POST", "/tasks", 413, "a body one byte over 16 KiB")
def a_body_too_large(world: World) -> Event:
    return request("POST", "/tasks", b"{" * (MAX_REQUEST_BYTES + 1))


@answers("POST", "/tasks", 503, "a queue that fails")
def a_queue_that_fails(world: World) -> Event:
    world.queue = Faulty(FakeQueue(), "send", fail_on={1})
    return request("POST", "/tasks", message())


# GET /tasks/{task_id}


@answers("GET", "/tasks/{task_id}", 200, "a queued watch")
def a_queued_watch(world: World) -> Event:
    world.call(load("webhook_post_standard"))
    return load("webhook_get_status")


@answers("GET", "/tasks/{task_id}", 200, "a watch being polled")
def a_polling_watch(world: World) -> Event:
    submitted = request("POST", "/tasks", message())
    world.call(submitted)
    poll(world, submitted, apig_sample("apig_task_processing.json"))
    return request("GET", "/tasks/t1")


@answers("GET", "/tasks/{task_id}", 200, "a succeeded export")
def a_succeeded_export(world: World) -> Event:
    submitted = load("webhook_post_standard")
    world.call(submitted)
    poll(world, submitted, apig_sample("apig_task_export_succeed.json"))
    return load("webhook_get_status")


@answers("GET", "/tasks/{task_id}", 200, "a partially failed import")
def a_partially_failed_import(world: World) -> Event:
    submitted = request("POST", "/tasks", message(source={"ci": "gitlab", "pipeline": 42}))
    world.call(submitted)
    poll(world, submitted, PARTIAL_IMPORT)
    return request("GET", "/tasks/t1")


@answers("GET", "/tasks/{task_id}", 400, "a task id the route does not take")
def a_malformed_task_id(world: World) -> Event:
    return request("GET", "/tasks/bad.id")


@answers("GET", "/tasks/{task_id}", 401, "an unsigned status read")
def an_unsigned_read(world: World) -> Event:
    return request("GET", "/tasks/t1", key=None)


@answers("GET", "/tasks/{task_id}", 401, "a status read signed for another task")
def a_read_signed_for_another_task(world: World) -> Event:
    world.call(request("POST", "/tasks", message()))
    return request("GET", "/tasks/t1", signed_path="/tasks/t2")


@answers("GET", "/tasks/{task_id}", 404, "a task nobody submitted")
def an_unknown_task(world: World) -> Event:
    return load("webhook_get_status")


@answers("GET", "/tasks/{task_id}", 503, "a webhook key that cannot be read")
def unreadable_keys(world: World) -> Event:
    world.keys = UnreadableKeys()
    return load("webhook_get_status")


# wrong methods and unknown routes


def wrong_method(method: str, path: str) -> Callable[[World], Event]:
    def arrange(world: World) -> Event:
        return request(method, path, b"" if method == "GET" else message())

    return arrange


for _method in ("GET", "PUT", "PATCH", "DELETE"):
    answers(_method, "/tasks", 405, "a method the path does not accept")(wrong_method(_method, "/tasks"))
for _method in ("POST", "PUT", "PATCH", "DELETE"):
    answers(_method, "/tasks/{task_id}", 405, "a method the path does not accept")(wrong_method(_method, "/tasks/t1"))


@answers(ANY_METHOD, UNKNOWN_ROUTES, 404, "GET of a path the API does not have")
def an_unknown_path(world: World) -> Event:
    return request("GET", "/v2/tasks")


@answers(ANY_METHOD, UNKNOWN_ROUTES, 404, "POST below a task's path")
def a_path_below_a_task(world: World) -> Event:
    return request("POST", "/tasks/t1/extra", message())


# --- the tests -----------------------------------------------------------------------------------------


def test_the_document_is_a_valid_openapi_3_1_document() -> None:
    # Given docs/openapi.yaml, When openapi-core loads it (it validates the document), Then it is OpenAPI 3.1
    assert (OPENAPI.version.major, OPENAPI.version.minor) == ("3", "1")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.id)
def test_each_answer_is_the_documented_one(scenario: Scenario) -> None:
    # Given the scenario's situation
    world = World()
    event = scenario.arrange(world)
    # When the real handler answers the request
    response = world.call(event)
    # Then openapi-core finds the answer in the document, and it matches status, content type, headers and body
    assert validated(event, response) == scenario.answer, answer(response)


@pytest.mark.parametrize(
    ("fields", "valid"),
    [
        ({}, True),
        ({"region": "eu-west-101", "expected_type": "export_api", "max_wait_seconds": 604_800}, True),
        ({"source": {"ci": "github-actions", "run": {"id": 1, "attempt": 2.5}}}, True),
        ({"task_id": "bad.id"}, False),
        ({"task_id": "x" * 65}, False),
        ({"task_id": None}, False),
        ({"region": "CN-North-4"}, False),
        ({"expected_type": "import"}, False),
        ({"max_wait_seconds": 0}, False),
        ({"max_wait_seconds": 604_801}, False),
        ({"max_wait_seconds": "60"}, False),
        ({"source": ["not", "an", "object"]}, False),
        ({"attempt": 3}, False),
        ({"callback_url": 42}, False),
        ({"group_id": "g1", "env_id": "RELEASE_1"}, True),
        ({"group_id": "g/1"}, False),
    ],
)
def test_the_request_schema_and_the_handler_agree(fields: dict[str, Any], valid: bool) -> None:
    # Given a signed POST /tasks body
    body = {"project_id": "p1", "instance_id": "i1", "task_id": "t1", **fields}
    event = request("POST", "/tasks", json.dumps({k: v for k, v in body.items() if v is not None}).encode())
    # When the document's request schema judges it and the real handler answers it
    errors = list(OPENAPI.iter_request_errors(openapi_request(event)))
    response = World().call(event)
    # Then both accept it or both refuse it, and the answer is the documented one
    assert (not errors, validated(event, response)[2]) == (valid, 202 if valid else 400)


def test_every_documented_answer_is_exercised_and_every_exercised_answer_is_documented() -> None:
    # Given the answers the document declares
    documented = documented_answers()
    # When every scenario is driven through the real handler and validated against the document
    exercised = set()
    for scenario in SCENARIOS:
        world = World()
        event = scenario.arrange(world)
        exercised.add(validated(event, world.call(event)))
    # Then the two sets are the same
    assert exercised == documented
