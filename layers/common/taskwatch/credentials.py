"""Huawei Cloud credentials: from Secrets Manager (cached across invocations) or, locally, the SDK's env vars."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from taskwatch.errors import CredentialsError, DependencyError

CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class HuaweiCredentials:
    """AK/SK (optionally temporary, with a security token) or an IAM token. Never printed."""

    ak: str | None = field(default=None, repr=False)
    sk: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_secret(cls, text: str) -> HuaweiCredentials:
        try:
            data = json.loads(text)
        except ValueError:
            raise CredentialsError("the Huawei credentials secret is not JSON") from None
        if not isinstance(data, dict):
            raise CredentialsError("the Huawei credentials secret must be a JSON object")
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> HuaweiCredentials:
        def text(name: str) -> str | None:
            value = data.get(name)
            return value.strip() or None if isinstance(value, str) else None

        creds = cls(ak=text("ak"), sk=text("sk"), token=text("token"), security_token=text("security_token"))
        if not creds.token and not (creds.ak and creds.sk):
            raise CredentialsError('the Huawei credentials need {"ak","sk"} or {"token"}')
        return creds


class CredentialSource(Protocol):
    def get(self, *, refresh: bool = False) -> HuaweiCredentials: ...


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
    """Reads the secret once and keeps it for CACHE_SECONDS; `refresh=True` forces one fresh read.

    One instance lives for the whole execution environment, so a warm poller never calls
    Secrets Manager per record; a rotated secret heals itself on the first 401/403.
    """

    def __init__(self, secret_id: str, client: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret_id = secret_id
        self._client = client
        self._clock = clock
        self._cached: HuaweiCredentials | None = None
        self._fetched_at = 0.0

    def get(self, *, refresh: bool = False) -> HuaweiCredentials:
        now = self._clock()
        if self._cached is None or refresh or now - self._fetched_at > CACHE_SECONDS:
            self._cached = HuaweiCredentials.from_secret(read_secret_string(self._client, self._secret_id))
            self._fetched_at = now
        return self._cached


def read_secret_string(client: Any, secret_id: str, stage: str | None = None) -> str:
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
