"""Shared plumbing for the AWS adapters: one tuned client per service, created on first use."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskwatch.errors import DependencyError


@functools.cache
def client(service: str) -> Any:
    """A boto3 client kept for the life of the execution environment (endpoint from AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 3},
        tcp_keepalive=True,
    )
    session: Any = boto3.session.Session()
    return session.client(service, config=config)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turn botocore's errors into DependencyError (so the record is redelivered), keeping the cause."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise DependencyError(f"{what} failed: {error_code(exc) or type(exc).__name__}") from exc
