"""Secrets Manager: the Huawei credentials and the webhook key, cached across invocations.

Locally (no secret configured) the Huawei credentials come from the SDK's own environment variables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from taskwatch.domain.credentials import HuaweiCredentials
from taskwatch.domain.errors import CredentialsError, DependencyError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

CREDENTIALS_CACHE_SECONDS = 300.0
KEYS_CACHE_SECONDS = 300.0
MIN_REFRESH_INTERVAL_SECONDS = 10.0


class EnvCredentials:
    """HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK (and optional HUAWEICLOUD_SDK_SECURITY_TOKEN), for local use."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env

    def get(self, *, refresh: bool = False) -> HuaweiCredentials:
        env = os.environ if self._env is None else self._env
        return HuaweiCredentials.from_mapping(
            {
                "ak": env.get("HUAWEICLOUD_SDK_AK"),
                "sk": env.get("HUAWEICLOUD_SDK_SK"),
                "security_token": env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN"),
            }
        )


class SecretCredentials:
    """Reads the secret once and keeps it for CREDENTIALS_CACHE_SECONDS; `refresh=True` forces one fresh read.

    One instance lives for the whole execution environment, so a warm poller never calls
    Secrets Manager per record; a rotated secret heals itself on the first 401/403.
    """

    def __init__(
        self, secret_id: str, client: SecretsManagerClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._secret_id = secret_id
        self._client = client
        self._clock = clock
        self._cached: HuaweiCredentials | None = None
        self._fetched_at = 0.0

    def get(self, *, refresh: bool = False) -> HuaweiCredentials:
        now = self._clock()
        if self._cached is None or refresh or now - self._fetched_at > CREDENTIALS_CACHE_SECONDS:
            self._cached = HuaweiCredentials.from_secret(read_secret_string(self._client, self._secret_id))
            self._fetched_at = now
        return self._cached


def read_secret_string(client: SecretsManagerClient, secret_id: str, stage: str | None = None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs = {"SecretId": secret_id}
    if stage:
        kwargs["VersionStage"] = stage
    try:
        answer = client.get_secret_value(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if stage and code == "ResourceNotFoundException":
            raise LookupError(stage) from exc
        raise DependencyError(f"reading secret failed: {code}") from exc
    except BotoCoreError as exc:
        raise DependencyError(f"reading secret failed: {type(exc).__name__}") from exc
    value = answer.get("SecretString")
    if not isinstance(value, str):
        raise CredentialsError("the secret has no string value")
    return value


class WebhookKeys:
    """The webhook key's AWSCURRENT and (when there is one) AWSPREVIOUS versions, from Secrets Manager.

    Kept for KEYS_CACHE_SECONDS across invocations. A well-formed signature that matches no cached
    key forces one fresh read, so a rotated key works at once; forced reads are at least
    MIN_REFRESH_INTERVAL_SECONDS apart, so a flood of bad signatures cannot flood Secrets Manager.
    """

    def __init__(
        self, secret_id: str, client: SecretsManagerClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._secret_id = secret_id
        self._client = client
        self._clock = clock
        self._keys: list[str] | None = None
        self._fetched_at = 0.0
        self._forced_at: float | None = None

    def current(self) -> Sequence[str]:
        if self._keys is None or self._clock() - self._fetched_at > KEYS_CACHE_SECONDS:
            self._load()
        assert self._keys is not None
        return self._keys

    def refresh(self) -> bool:
        now = self._clock()
        if self._forced_at is not None and now - self._forced_at < MIN_REFRESH_INTERVAL_SECONDS:
            return False
        self._forced_at = now
        self._load()
        return True

    def _load(self) -> None:
        keys = [read_secret_string(self._client, self._secret_id, "AWSCURRENT")]
        try:
            previous = read_secret_string(self._client, self._secret_id, "AWSPREVIOUS")
        except LookupError:
            previous = None
        if previous and previous not in keys:
            keys.append(previous)
        self._keys = [key.strip() for key in keys]
        self._fetched_at = self._clock()
