"""CI identity over real HTTP on the local stack: OpenID Connect tokens from a loopback issuer, shaped
like GitHub Actions' and GitLab CI's, against the webhook's front. Every bad token answers 401 and
enqueues nothing; a token reads only its own repository's watches; the operator key reads them all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from functions.poller import app as poller_app
from functions.webhook import app as webhook_app
from taskwatch_local.ci import WebhookClient
from taskwatch_local.http_api import LocalHttpApi
from taskwatch_local.oidc_issuer import AUDIENCE, LocalOidcIssuer, new_key
from tests.integration.conftest import Harness, poll_message
from tests.integration.test_webhook_flow import one_at_a_time

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics to publish")]


@dataclass
class Front:
    harness: Harness
    api: LocalHttpApi
    issuer: LocalOidcIssuer
    operator: WebhookClient

    def call(self, method: str, path: str, token: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.api.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def submit(self, task_id: str, token: str | None) -> tuple[int, Any]:
        return self.call("POST", "/tasks", token, poll_message(task_id))

    def enqueued(self) -> int:
        return self.harness.stack.queue_depth()


@pytest.fixture
def front(make_harness: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Front]:
    lock = threading.Lock()
    harness: Harness = make_harness(handler=one_at_a_time(lock, poller_app.lambda_handler))
    with LocalOidcIssuer() as issuer:
        rules = [
            issuer.trust_rule(repository_owner_id="1234567", repository="acme/*"),
            issuer.trust_rule(project_path="acme/*", ref="main"),
        ]
        monkeypatch.setenv("OIDC_TRUST", json.dumps(rules))
        api = LocalHttpApi(one_at_a_time(lock, webhook_app.lambda_handler))
        api.start()
        try:
            yield Front(harness, api, issuer, WebhookClient(api.url, harness.stack.webhook_key))
        finally:
            harness.source.stop()
            api.stop()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def good_claims(issuer: LocalOidcIssuer, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "repo:acme/petstore-api:ref:refs/heads/main",
        "repository": "acme/petstore-api",
        "repository_owner_id": "1234567",
        "iat": now,
        "exp": now + 300,
        "jti": f"j-{now}-{id(extra)}",
        **extra,
    }


def hs256_with_the_public_key(issuer: LocalOidcIssuer) -> str:
    """The algorithm-confusion attack: an HMAC token whose secret is the issuer's public key."""
    key = issuer.keys[0]
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = b64(json.dumps(good_claims(issuer)).encode())
    signature = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def unsigned(issuer: LocalOidcIssuer) -> str:
    head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": issuer.keys[0].kid}).encode())
    return f"{head}.{b64(json.dumps(good_claims(issuer)).encode())}."


BAD_TOKENS: dict[str, Callable[[LocalOidcIssuer], str]] = {
    "signed-by-another-key": lambda i: jwt.encode(
        good_claims(i), new_key().private, algorithm="RS256", headers={"kid": i.keys[0].kid}
    ),
    "alg-none": unsigned,
    "hs256-with-the-public-key": hs256_with_the_public_key,
    "wrong-iss": lambda i: i.mint(
        {
            "sub": "x",
            "repository": "acme/a",
            "repository_owner_id": "1234567",
            "iss": "https://token.actions.githubusercontent.com",
        }
    ),
    "wrong-aud": lambda i: i.github_token(aud="someone-else"),
    "several-audiences": lambda i: i.github_token(aud=[AUDIENCE, "someone-else"]),
    "expired": lambda i: i.github_token(exp=int(time.time()) - 120, iat=int(time.time()) - 600),
    "not-yet-valid": lambda i: i.github_token(nbf=int(time.time()) + 600),
    "issued-in-the-future": lambda i: i.github_token(iat=int(time.time()) + 600),
    "no-jti": lambda i: i.github_token(jti=None),
    "claims-outside-every-rule": lambda i: i.github_token("evil/petstore-api", owner_id="666"),
    "owner-name-without-owner-id": lambda i: i.github_token("acme/petstore-api", owner_id="666"),
    "gitlab-branch-not-allowed": lambda i: i.gitlab_token(ref="feature"),
    "garbage": lambda i: "not.a.jwt",
    "empty": lambda i: "",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_a_bad_token_answers_401_and_enqueues_nothing(front: Front, kind: str) -> None:
    # Given a token that fails one check
    token = BAD_TOKENS[kind](front.issuer)
    # When it submits a watch
    status, body = front.submit(f"bad-{kind}", token)
    # Then the answer is 401 with nothing more said, and nothing was recorded or enqueued
    assert (status, body) == (401, {"error": "unauthorized"})
    assert front.enqueued() == 0
    assert front.harness.record(f"bad-{kind}") is None


def test_an_unknown_key_id_refreshes_the_key_set_at_most_once_a_minute(front: Front) -> None:
    # Given the key set is cached after a good token
    assert front.submit("k1", front.issuer.github_token())[0] == 202
    reads = front.issuer.key_set_reads
    # When tokens arrive signed with key ids the issuer never published
    for n in range(5):
        stranger = new_key()
        token = jwt.encode(
            good_claims(front.issuer, jti=f"s{n}"), stranger.private, algorithm="RS256", headers={"kid": stranger.kid}
        )
        assert front.submit(f"k-unknown-{n}", token)[0] == 401
    # Then the key set was read again at most once
    assert front.issuer.key_set_reads - reads <= 1


def test_a_rotated_key_is_picked_up_once_the_cooldown_has_passed(front: Front) -> None:
    # Given the issuer rotates its key before anyone asked for the key set
    front.issuer.rotate()
    # When a job signs with the new key, Then it is accepted (the first read fetches the whole set)
    assert front.submit("rot1", front.issuer.mint(good_claims(front.issuer), key=front.issuer.keys[-1]))[0] == 202


def test_a_replayed_token_is_refused(front: Front) -> None:
    token = front.issuer.github_token()
    assert front.submit("r1", token)[0] == 202
    assert front.submit("r2", token) == (401, {"error": "unauthorized"})
    assert front.harness.record("r2") is None


@pytest.mark.parametrize("shape", ["github", "gitlab", "github-es256"])
def test_good_tokens_start_and_read_their_watch(front: Front, shape: str) -> None:
    issuer = front.issuer

    def mint() -> str:
        if shape == "gitlab":
            return issuer.gitlab_token()
        if shape == "github-es256":
            return issuer.mint(good_claims(issuer), key=issuer.keys[1])
        return issuer.github_token()

    # Given a token of the shape a CI system mints
    status, body = front.submit(f"ok-{shape}", mint())
    # Then the watch is accepted
    assert (status, body["status"]) == (202, "queued")
    # And a fresh token of the same job reads it, with the caller recorded
    status, record = front.call("GET", f"/tasks/ok-{shape}", mint())
    assert status == 200
    assert record["caller"]["issuer"] == issuer.url
    assert record["caller"].get("repository", record["caller"].get("project_path")) in (
        "acme/petstore-api",
        "acme/orders-api",
    )


def test_one_repository_cannot_read_or_take_another_repositorys_watch(front: Front) -> None:
    issuer = front.issuer
    # Given repository A watches a task
    assert front.submit("a1", issuer.github_token("acme/a"))[0] == 202
    # When repository B reads it, Then it is answered like a task nobody watches
    status, body = front.call("GET", "/tasks/a1", issuer.github_token("acme/b"))
    assert status == 404 and body["error"] == "not_found"
    # And B cannot submit the same task id as its own
    assert front.submit("a1", issuer.github_token("acme/b"))[0] == 409
    # And the operator key still reads it, and B's too
    assert front.submit("b1", issuer.github_token("acme/b"))[0] == 202
    for task_id, repository in (("a1", "acme/a"), ("b1", "acme/b")):
        answer = front.operator.status(task_id)
        assert answer.status == 200 and answer.body["caller"]["repository"] == repository


def test_a_signed_status_read_replayed_against_another_task_is_refused(front: Front) -> None:
    # Given two watches and a captured signed GET of the first
    for task_id in ("g1", "g2"):
        assert front.operator.submit(poll_message(task_id)).status == 202
    from taskwatch.domain.signatures import sign_standard

    headers = sign_standard(front.harness.stack.webhook_key, "msg_x", int(time.time()), b"/tasks/g1")
    # When the same headers are sent for the second, Then 401
    for path, expected in (("/tasks/g1", 200), ("/tasks/g2", 401)):
        request = urllib.request.Request(front.api.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == expected
        except urllib.error.HTTPError as error:
            assert error.code == expected


def test_no_token_key_or_signature_reaches_the_logs(
    front: Front, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given good and bad tokens and signed requests
    good, bad = front.issuer.github_token(), BAD_TOKENS["signed-by-another-key"](front.issuer)
    # (INFO, the functions' log level; botocore's own DEBUG dump of a GetSecretValue answer is not ours)
    with caplog.at_level("INFO"):
        front.submit("l1", good)
        front.submit("l2", bad)
        front.call("GET", "/tasks/l1", front.issuer.github_token())
        front.operator.submit(poll_message("l3"))
        front.operator.status("l3")
    logged = (
        capsys.readouterr().out
        + capsys.readouterr().err
        + " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    )
    # Then none of the secrets appears anywhere
    for secret in (
        good,
        bad,
        good.split(".")[2],
        bad.split(".")[2],
        front.harness.stack.webhook_key,
        front.harness.stack.webhook_key.removeprefix("whsec_"),
    ):
        assert secret not in logged
    # And the refusal itself was logged, with its reason class only
    assert "request not authenticated" in logged
