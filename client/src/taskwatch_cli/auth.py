"""Who the client is to the webhook: a CI job's OpenID Connect token, or the operator's shared key.

- GitHub Actions (`permissions: id-token: write`): a fresh token from the runner for every request,
  `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=apig-taskwatch` with `Authorization: bearer
  $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered `{"value": token}`. Fresh each time because the webhook
  accepts each token id (`jti`) once.
- GitLab CI (`id_tokens:`): the token in the variable named by `--oidc-token-env`. GitLab mints it once
  per job, so it serves one request; later requests need the shared key.
- The shared key (`whsec_<base64>`, from TASKWATCH_WEBHOOK_KEY or `--key-env`): Standard Webhooks
  signatures, fresh id and timestamp per request. Never read from the command line.

A token is sent as `Authorization: Bearer <token>`. When the webhook refuses a token (401) and a shared
key is set, the client says so and uses the key from then on.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Protocol

from taskwatch_cli.errors import CliError
from taskwatch_cli.http import Request, RetryPolicy, send

DEFAULT_KEY_ENV = "TASKWATCH_WEBHOOK_KEY"
DEFAULT_AUDIENCE = "apig-taskwatch"
GITHUB_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - the variable's name, not its value


class Credentials(Protocol):
    """Headers that authenticate one request whose signed payload is `payload`."""

    description: str
    fallback: Credentials | None

    def headers(self, payload: bytes) -> dict[str, str]: ...


class SharedKey:
    """Standard Webhooks with the shared key: POST signs its raw body, GET its path."""

    fallback: Credentials | None = None

    def __init__(self, key: str, *, env_name: str = DEFAULT_KEY_ENV, clock: Callable[[], float] = time.time) -> None:
        from taskwatch.domain.signatures import KEY_PREFIX, standard_key_bytes

        key = key.strip()
        try:
            if not key.startswith(KEY_PREFIX) or not standard_key_bytes(key):
                raise ValueError(key)
        except ValueError:
            raise CliError(f"{env_name} is not a webhook key: expected whsec_<base64>") from None
        self._key = key
        self._clock = clock
        self.description = f"the shared key in {env_name}"

    def headers(self, payload: bytes) -> dict[str, str]:
        from taskwatch.domain.signatures import sign_standard

        return sign_standard(self._key, "msg_" + secrets.token_hex(12), int(self._clock()), payload)


class GithubToken:
    """A GitHub Actions OIDC token requested from the runner for each request."""

    def __init__(
        self,
        request_url: str,
        request_token: str,
        *,
        audience: str,
        say: Callable[[str], None],
        fallback: Credentials | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        separator = "&" if urllib.parse.urlsplit(request_url).query else "?"
        self._url = f"{request_url}{separator}audience={urllib.parse.quote(audience, safe='')}"
        self._request_token = request_token
        self._say = say
        self._policy = policy
        self._sleep = sleep
        self.fallback = fallback
        self.description = f"a GitHub Actions OIDC token (audience {audience})"

    def headers(self, payload: bytes) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def token(self) -> str:
        if not self._url.startswith(("http://", "https://")):
            raise CliError(f"{GITHUB_REQUEST_URL} is not an http(s) URL")
        answer = send(
            "requesting an OIDC token from the runner",
            lambda: Request("GET", self._url, {"Authorization": f"bearer {self._request_token}"}),
            say=self._say,
            policy=self._policy,
            sleep=self._sleep,
        )
        value = answer.body.get("value") if answer.status == 200 and isinstance(answer.body, dict) else None
        if not isinstance(value, str) or not value:
            raise CliError(
                f"the runner gave no OIDC token ({answer.describe()}): "
                "does the job have `permissions: id-token: write`?"
            )
        return value


class StoredToken:
    """A token minted once for the job (GitLab's `id_tokens:`): good for one request."""

    def __init__(self, token: str, env_name: str, *, fallback: Credentials | None = None) -> None:
        self._token: str | None = token.strip()
        self._env_name = env_name
        self.fallback = fallback
        self.description = f"the OIDC token in {env_name}"

    def headers(self, payload: bytes) -> dict[str, str]:
        if self._token is None:
            if self.fallback is not None:
                return self.fallback.headers(payload)
            raise CliError(
                f"the OIDC token in {self._env_name} was used already (the webhook accepts each token once): "
                f"set {DEFAULT_KEY_ENV} for the requests that follow the first"
            )
        token, self._token = self._token, None
        return {"Authorization": f"Bearer {token}"}


def from_environment(
    env: Mapping[str, str],
    *,
    key_env: str = DEFAULT_KEY_ENV,
    oidc_token_env: str | None = None,
    audience: str = DEFAULT_AUDIENCE,
    say: Callable[[str], None],
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Credentials:
    """The credentials this job has: a CI token when there is one (the key as fallback), else the key."""
    raw_key = env.get(key_env, "").strip()
    key = SharedKey(raw_key, env_name=key_env) if raw_key else None
    if oidc_token_env:
        token = env.get(oidc_token_env, "").strip()
        if not token:
            raise CliError(f"--oidc-token-env names {oidc_token_env}, which is not set or empty")
        return StoredToken(token, oidc_token_env, fallback=key)
    request_url, request_token = env.get(GITHUB_REQUEST_URL, ""), env.get(GITHUB_REQUEST_TOKEN, "")
    if request_url and request_token:
        return GithubToken(
            request_url, request_token, audience=audience, say=say, fallback=key, policy=policy, sleep=sleep
        )
    if key is not None:
        return key
    raise CliError(
        f"no credentials for the webhook: set {key_env} (the whsec_ key), run in GitHub Actions with "
        "`permissions: id-token: write`, or name a CI token variable with --oidc-token-env"
    )
