"""Shared plumbing for the AWS adapters: one tuned client per service, created on first use."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskwatch.domain.errors import DependencyError


@functools.cache
def session() -> Any:
    """One boto3 session for every client: a session loads the endpoint and service indexes once,
    which a session per client repeated (about 50 ms per client at a cold start)."""
    import boto3

    return boto3.session.Session()


@functools.cache
def client(service: str) -> Any:
    """A boto3 client kept for the life of the execution environment (endpoint from AWS_ENDPOINT_URL)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 3},
        tcp_keepalive=True,
    )
    return session().client(service, config=config)


class LazyClient:
    """`client(service)`, created on first use: a steady poll never touches S3 or SNS, so a cold
    start should not pay for their clients."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service), name)


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
