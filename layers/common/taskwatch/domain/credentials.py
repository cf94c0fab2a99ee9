"""Huawei Cloud credentials as a value: AK/SK (optionally temporary) or an IAM token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taskwatch.domain.errors import CredentialsError


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
