"""The webhook handler end to end in-process: sample events in, HTTP answers out, in-memory ports."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from functions.webhook import app
from taskwatch.adapters.secrets import WebhookKeys
from taskwatch.domain.limits import MAX_REQUEST_BYTES
from taskwatch.domain.records import TaskRecord, WatchStatus
from taskwatch.domain.signatures import sign_standard
from taskwatch.domain.submissions import WatchService
from taskwatch_local.event_source import LocalContext
from tests.fakes import FakeQueue, FakeRecords, Faulty

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EVENTS = Path(__file__).resolve().parents[2] / "events"
# The documented test-only key of events/README.md and the timestamp the sample events were signed at.
TEST_KEY = "whsec_dGFza3dhdGNoLXRlc3Qta2V5LW5vdC1hLXNlY3JldCE="
SIGNED_AT = 1_767_225_600
SPEC_STATUS_FIELDS = {
    "task_id",
    "status",
    "outcome",
    "task_type",
    "attempts",
    "first_seen_at",
    "updated_at",
    "export",
    "error_code",
    "error_msg",
    "failures",
    "source",
}


# --- in-memory ports ------------------------------------------------------------------------------------


class CountingRecords(FakeRecords):
    """The contract-tested fake, also counting reads (a 401 must read nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, task_id: str) -> TaskRecord | None:
        self.reads += 1
        return super().get(task_id)


@dataclass
class StaticKeys:
    keys: list[str]

    def current(self) -> list[str]:
        return self.keys

    def refresh(self) -> bool:
        return False


class FakeSecrets:
    """Secrets Manager's get_secret_value by version stage, counting reads."""

    def __init__(self, current: str, previous: str | None = None) -> None:
        self.stages = {"AWSCURRENT": current} | ({"AWSPREVIOUS": previous} if previous else {})
        self.reads = 0

    def rotate(self, new: str) -> None:
        self.stages = {"AWSCURRENT": new, "AWSPREVIOUS": self.stages["AWSCURRENT"]}

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.reads += 1
        if VersionStage not in self.stages:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no such version"}}, "GetSecretValue"
            )
        return {"SecretString": self.stages[VersionStage]}


@dataclass
class Clock:
    now: float = float(SIGNED_AT)

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    records: CountingRecords = field(default_factory=CountingRecords)
    queue: Any = field(default_factory=FakeQueue)
    keys: Any = field(default_factory=lambda: StaticKeys([TEST_KEY]))
    clock: Clock = field(default_factory=Clock)

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        webhook = WatchService(records=self.records, queue=self.queue, keys=self.keys, clock=self.clock)
        response: dict[str, Any] = app.lambda_handler(
            event, LocalContext(function_name="taskwatch-webhook"), service=webhook
        )
        return response


@pytest.fixture
def world() -> World:
    return World()


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def request(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    key: str | None = TEST_KEY,
    at: int = SIGNED_AT,
    signed_path: str | None = None,
    base64_body: bool = False,
    stage: str = "$default",
) -> dict[str, Any]:
    """A payload v2.0 event shaped like the sample events, signed unless key is None: a POST over its body,
    a GET over its path below the stage (or over `signed_path`, to replay a signature elsewhere)."""
    event = copy.deepcopy(load("webhook_get_status"))
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        event["headers"].pop(name)
    if key is not None:
        payload = body if method == "POST" else (path if signed_path is None else signed_path).encode()
        signed = sign_standard(key, "msg_test", at, payload)
        event["headers"].update({k.lower(): v for k, v in signed.items()})
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event["rawPath"] = raw_path
    event["requestContext"]["http"].update(method=method, path=raw_path)
    event["requestContext"]["stage"] = stage
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event.pop("pathParameters", None)
    if body:
        event["isBase64Encoded"] = base64_body
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    return event


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = [value]
    return value


def message(task_id: str = "t1", **extra: Any) -> bytes:
    return json.dumps({"project_id": "p1", "instance_id": "i1", "task_id": task_id, **extra}).encode()


# --- submitting ---------------------------------------------------------------------------------------


def test_signed_submission_is_recorded_enqueued_and_answered_202(world: World) -> None:
    # Given a signed POST /tasks from CI
    event = load("webhook_post_standard")
    # When the webhook handles it
    status, body = answer(world.call(event))
    # Then it answers 202 with where to read the status
    task_id = json.loads(event["body"])["task_id"]
    assert status == 202
    assert body == {
        "task_id": task_id,
        "status": "queued",
        "status_url": f"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/tasks/{task_id}",
    }
    # And one first poll message (attempt 0, no delay) carries the submitted fields
    assert len(world.queue.sent) == 1
    sent, delay = world.queue.sent[0]
    assert delay == 0 and sent.attempt == 0
    assert json.loads(sent.to_json()) == json.loads(event["body"])
    assert world.records.items[task_id].status == "queued"


def test_status_url_names_a_non_default_stage(world: World) -> None:
    status, body = answer(world.call(request("POST", "/tasks", message(), stage="prod")))
    assert status == 202
    assert body["status_url"] == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/tasks/t1"


def test_resubmitting_a_watch_being_polled_enqueues_nothing(world: World) -> None:
    # Given a task already submitted and claimed by the poller
    assert answer(world.call(request("POST", "/tasks", message())))[0] == 202
    world.records.items["t1"] = TaskRecord(
        task_id="t1", project_id="p1", instance_id="i1", status=WatchStatus.POLLING, attempts=2
    )
    # When CI submits it again
    status, body = answer(world.call(request("POST", "/tasks", message())))
    # Then it answers 200 with the current status and sends no second poll chain
    assert (status, body["status"]) == (200, "polling")
    assert len(world.queue.sent) == 1


def test_resubmitting_a_finished_watch_answers_its_outcome(world: World) -> None:
    world.records.items["t1"] = TaskRecord(
        task_id="t1", project_id="p1", instance_id="i1", status=WatchStatus.FAILED, outcome="failed"
    )
    status, body = answer(world.call(request("POST", "/tasks", message())))
    assert (status, body["status"]) == (200, "failed")
    assert world.queue.sent == []


def test_a_submission_whose_enqueue_failed_is_healed_by_the_retry(world: World) -> None:
    # Given the queue fails once, after the record was written
    world.queue = Faulty(FakeQueue(), "send", fail_on={1})
    status, body = answer(world.call(request("POST", "/tasks", message())))
    assert status == 503 and body["error"] == "unavailable"
    assert world.records.items["t1"].status == "queued"
    # When CI retries
    status, body = answer(world.call(request("POST", "/tasks", message())))
    # Then the still-queued watch is enqueued (the poller's claim drops any second copy)
    assert (status, body["status"]) == (202, "queued")
    assert [m.task_id for m, _ in world.queue.sent] == ["t1"]


def test_base64_body_is_decoded_and_the_signature_covers_the_decoded_bytes(world: World) -> None:
    status, _ = answer(world.call(request("POST", "/tasks", message(), base64_body=True)))
    assert status == 202 and len(world.queue.sent) == 1


def test_signature_over_the_base64_text_is_rejected(world: World) -> None:
    body = message()
    event = request("POST", "/tasks", body, base64_body=True)
    encoded = event["body"].encode()
    event["headers"].update(sign_standard(TEST_KEY, "msg_test", SIGNED_AT, encoded))
    assert answer(world.call(event))[0] == 401
    assert world.queue.sent == []


# --- authentication ------------------------------------------------------------------------------------


def test_bad_signature_answers_401_and_enqueues_nothing(world: World) -> None:
    status, body = answer(world.call(load("webhook_bad_signature")))
    assert (status, body) == (401, {"error": "unauthorized"})
    assert world.queue.sent == [] and world.records.items == {}


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(request("POST", "/tasks", message(), key=None), id="unsigned"),
        pytest.param(request("POST", "/tasks", message(), at=SIGNED_AT - 301), id="stale"),
        pytest.param(request("POST", "/tasks", message(), at=SIGNED_AT + 301), id="from-the-future"),
        pytest.param(request("POST", "/tasks", message(), key="whsec_" + "A" * 44), id="wrong-key"),
    ],
)
def test_unauthenticated_submissions_answer_401_and_touch_nothing(world: World, event: dict[str, Any]) -> None:
    assert answer(world.call(event)) == (401, {"error": "unauthorized"})
    assert world.queue.sent == [] and world.records.writes == 0 and world.records.reads == 0


def test_invalid_body_is_not_revealed_before_authentication(world: World) -> None:
    assert answer(world.call(request("POST", "/tasks", b"[1,2", key=None)))[0] == 401


def test_an_untimed_github_style_submission_answers_401(world: World) -> None:
    # Given the same body signed GitHub-style (no timestamp: it could be replayed forever)
    event = load("webhook_post_untimed_github")
    # When it reaches the webhook, Then it is refused and nothing is recorded or enqueued
    assert answer(world.call(event)) == (401, {"error": "unauthorized"})
    assert world.queue.sent == [] and world.records.items == {}


@pytest.mark.parametrize(
    ("key", "signed_path"),
    [(None, None), (TEST_KEY, "/tasks/t2"), (TEST_KEY, "")],
    ids=["unsigned", "signed-for-another-task", "signed-over-the-empty-body"],
)
def test_status_reads_are_signed_over_their_own_path(world: World, key: str | None, signed_path: str | None) -> None:
    # Given a watched task
    world.call(request("POST", "/tasks", message()))
    reads = world.records.reads
    # When its status is read unsigned, or with a signature made for another path
    event = request("GET", "/tasks/t1", key=key, signed_path=signed_path)
    # Then the answer is 401 and nothing was read
    assert answer(world.call(event)) == (401, {"error": "unauthorized"})
    assert world.records.reads == reads


def test_a_task_id_watched_under_another_project_answers_409(world: World) -> None:
    # Given t1 is watched under project p1
    assert answer(world.call(request("POST", "/tasks", message())))[0] == 202
    # When someone submits t1 under another project
    other = json.dumps({"project_id": "p2", "instance_id": "i1", "task_id": "t1"}).encode()
    status, body = answer(world.call(request("POST", "/tasks", other)))
    # Then it is a conflict naming the field, and the first watch is untouched
    assert status == 409 and body["error"] == "conflict"
    assert body["details"] == ["project_id: task t1 is already watched under another project"]
    assert len(world.queue.sent) == 1 and world.records.items["t1"].project_id == "p1"


def test_rotated_key_is_picked_up_at_once(world: World) -> None:
    # Given the keys are cached from before a rotation
    secrets = FakeSecrets("whsec_" + base64.b64encode(b"o" * 32).decode())
    world.keys = WebhookKeys("webhook", cast("SecretsManagerClient", secrets), clock=world.clock)
    world.call(request("POST", "/tasks", message("t0"), key=secrets.stages["AWSCURRENT"]))
    reads = secrets.reads
    world.clock.now += 60
    secrets.rotate(TEST_KEY)
    # When CI signs with the new key, Then it is accepted after one fresh read
    assert answer(world.call(request("POST", "/tasks", message("t1"), at=SIGNED_AT + 60)))[0] == 202
    assert secrets.reads == reads + 2  # AWSCURRENT and AWSPREVIOUS
    # And the previous key is still accepted while it is AWSPREVIOUS
    old = secrets.stages["AWSPREVIOUS"]
    assert answer(world.call(request("POST", "/tasks", message("t2"), key=old, at=SIGNED_AT + 60)))[0] == 202


def test_bad_signatures_do_not_flood_secrets_manager(world: World) -> None:
    secrets = FakeSecrets(TEST_KEY)
    world.keys = WebhookKeys("webhook", cast("SecretsManagerClient", secrets), clock=world.clock)
    for _ in range(5):
        assert answer(world.call(request("POST", "/tasks", message(), key="whsec_" + "B" * 44)))[0] == 401
    # The first load and one forced refresh (two versions each); the next refresh waits its turn
    assert secrets.reads == 4
    world.clock.now += 11
    wrong = request("POST", "/tasks", message(), key="whsec_" + "B" * 44, at=SIGNED_AT + 11)
    assert answer(world.call(wrong))[0] == 401
    assert secrets.reads == 6


def test_logs_never_carry_signatures_or_keys(world: World, caplog: pytest.LogCaptureFixture) -> None:
    # Given a good and a badly signed request, and a status read
    good = request("POST", "/tasks", message())
    bad = request("POST", "/tasks", message(), key="whsec_" + "C" * 44)
    with caplog.at_level("DEBUG"):
        world.call(good)
        world.call(bad)
        world.call(request("GET", "/tasks/t1"))
    # Then the failure is logged with its scheme and reason class only
    failures = [r for r in caplog.records if r.getMessage() == "request not authenticated"]
    assert [(r.__dict__["scheme"], r.__dict__["reason"]) for r in failures] == [("standard", "mismatch")]
    # And no signature or key appears anywhere in what was logged
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for event in (good, bad):
        assert event["headers"]["webhook-signature"].removeprefix("v1,") not in logged
    assert TEST_KEY.removeprefix("whsec_") not in logged


# --- reading the status --------------------------------------------------------------------------------


def test_status_of_a_watched_task_has_the_spec_fields(world: World) -> None:
    world.call(load("webhook_post_standard"))
    status, body = answer(world.call(load("webhook_get_status")))
    assert status == 200
    assert set(body) >= SPEC_STATUS_FIELDS
    assert body["task_id"] == "3d5f8e7a9b1c4d2e8f0a1b2c3d4e5f60"
    assert (body["status"], body["outcome"], body["attempts"], body["task_type"]) == ("queued", None, 0, "export_api")
    assert body["first_seen_at"] == "2026-01-01T00:00:00Z"
    assert body["source"]["ci"] == "github-actions"


def test_status_of_an_unknown_task_is_404(world: World) -> None:
    status, body = answer(world.call(load("webhook_get_status")))
    assert status == 404 and body["error"] == "not_found"


@pytest.mark.parametrize("task_id", ["bad.id", "x" * 65, "a%20b", "caf%C3%A9"])
def test_status_of_an_invalid_task_id_is_400(world: World, task_id: str) -> None:
    status, body = answer(world.call(request("GET", f"/tasks/{task_id}")))
    assert status == 400
    assert body == {"error": "invalid_request", "details": ["task_id: must match [A-Za-z0-9_-]{1,64}"]}
    assert world.records.reads == 0


# --- bad input -----------------------------------------------------------------------------------------


def test_malformed_body_names_every_problem(world: World) -> None:
    status, body = answer(world.call(load("webhook_malformed_body")))
    assert status == 400 and body["error"] == "invalid_request"
    named = {detail.split(":")[0] for detail in body["details"]}
    assert named == {"task_id", "instance_id", "region", "max_wait_seconds", "attempt"}
    assert world.queue.sent == [] and world.records.items == {}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[]", "body: must be a JSON object"),
        (b'"t1"', "body: must be a JSON object"),
        (b"42", "body: must be a JSON object"),
        (b"null", "body: must be a JSON object"),
        (b"{not json", "body: not valid JSON"),
        (b'{"task_id": NaN}', "body: not valid JSON"),
        (b"[" * 8_000 + b"]" * 8_000, "body: JSON nested more than 20 levels deep"),
        (b'{"a":' * 2_000 + b"1" + b"}" * 2_000, "body: JSON nested more than 20 levels deep"),
        (b"[" * 16_000, "body: JSON nested more than 20 levels deep"),
        (message(source={"a": nested(25)}), "body: JSON nested more than 20 levels deep"),
        (b"\xff\xfe{}", "body: not valid JSON"),
    ],
)
def test_bodies_that_are_not_a_json_object_answer_400(world: World, body: bytes, detail: str) -> None:
    status, answered = answer(world.call(request("POST", "/tasks", body, base64_body=True)))
    assert (status, answered) == (400, {"error": "invalid_request", "details": [detail]})


def test_empty_body_answers_400(world: World) -> None:
    status, answered = answer(world.call(request("POST", "/tasks", b"")))
    assert status == 400 and answered["details"][0].startswith("body: required")


def test_bookkeeping_fields_are_refused_from_ci(world: World) -> None:
    status, body = answer(world.call(request("POST", "/tasks", message(attempt=7, claim="x", notified=True))))
    assert status == 400
    assert sorted(body["details"]) == ["attempt: unknown field", "claim: unknown field", "notified: unknown field"]


def test_fractional_numbers_in_source_are_kept(world: World) -> None:
    status, _ = answer(world.call(request("POST", "/tasks", message(source={"coverage": 87.5}))))
    assert status == 202 and world.records.items["t1"].source == {"coverage": 87.5}


def test_ten_thousand_nested_arrays_are_refused_without_parsing(world: World) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    assert answer(world.call(request("POST", "/tasks", body)))[0] == 413


@pytest.mark.parametrize("base64_body", [False, True])
def test_body_over_16_kib_is_413_before_any_parsing(world: World, base64_body: bool) -> None:
    # Given a body one byte over the limit that is not even JSON, signed correctly
    body = b"{" * (MAX_REQUEST_BYTES + 1)
    status, answered = answer(world.call(request("POST", "/tasks", body, base64_body=base64_body)))
    assert status == 413 and answered["error"] == "payload_too_large"
    assert world.queue.sent == []


def test_body_of_exactly_16_kib_is_accepted_for_parsing(world: World) -> None:
    base = message()
    body = base[:-1] + b" " * (MAX_REQUEST_BYTES - len(base)) + b"}"
    assert len(body) == MAX_REQUEST_BYTES
    assert answer(world.call(request("POST", "/tasks", body, base64_body=True)))[0] == 202


def test_invalid_base64_body_answers_400(world: World) -> None:
    event = request("POST", "/tasks", message())
    event.update(body="not*base64", isBase64Encoded=True)
    event["headers"].update(sign_standard(TEST_KEY, "msg_test", SIGNED_AT, b"not*base64"))
    status, body = answer(world.call(event))
    assert status == 400 and body["details"] == ["body: isBase64Encoded is set but the body is not base64"]


# --- routes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/task", "/tasks/t1/extra", "/v2/tasks"])
def test_unknown_route_is_404(world: World, path: str) -> None:
    status, body = answer(world.call(request("GET", path)))
    assert (status, body["error"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/tasks", "POST"),
        ("PUT", "/tasks", "POST"),
        ("DELETE", "/tasks/t1", "GET"),
        ("POST", "/tasks/t1", "GET"),
    ],
)
def test_wrong_method_on_a_known_path_is_405(world: World, method: str, path: str, allow: str) -> None:
    response = world.call(request(method, path, message() if method != "GET" else b""))
    assert answer(response)[0] == 405 and answer(response)[1]["error"] == "method_not_allowed"
    assert response["headers"]["Allow"] == allow
    assert world.queue.sent == [] and world.records.reads == 0
