"""Delivering outcome callbacks: resolve the receiver's name, refuse special addresses, connect to the
address that was checked (not to a second resolution of the name), POST once under one deadline."""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

from taskwatch.adapters.bounded import Watchdog
from taskwatch.domain.callbacks import (
    CALLBACK_TIMEOUT_SECONDS,
    CallbackRules,
    CallbackUnreachable,
    Resolver,
    host_of,
    refused_address,
)

MAX_ANSWER_BYTES = 64 * 1024


class SocketResolver:
    """The system resolver; an IP literal resolves to itself without any query."""

    def resolve(self, host: str) -> list[str]:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        return sorted({str(info[4][0]) for info in infos})


class HttpCallbackSender:
    def __init__(self, resolver: Resolver | None = None, *, timeout: float = CALLBACK_TIMEOUT_SECONDS) -> None:
        self._resolver = resolver or SocketResolver()
        self._timeout = timeout

    def post(self, url: str, body: bytes, headers: dict[str, str], *, rules: CallbackRules) -> int:
        problems = rules.target_problems(url)
        if problems:
            raise CallbackUnreachable(problems[0].removeprefix("callback_url: "))
        parts = urlsplit(url)
        host = host_of(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._vetted_address(host, rules)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with Watchdog(self._timeout) as watchdog:
            try:
                raw = socket.create_connection((address, port), timeout=self._timeout)
                watchdog.guard(raw)
                connection = _connection(parts.scheme, host, port, raw, self._timeout)
                try:
                    connection.request("POST", path, body=body, headers=headers)
                    answer = connection.getresponse()
                    answer.read(MAX_ANSWER_BYTES)  # the body is not ours to keep; the status is the answer
                    return answer.status
                finally:
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                if watchdog.expired:
                    raise CallbackUnreachable(f"no answer within {self._timeout:g} s") from exc
                raise CallbackUnreachable(f"could not deliver: {type(exc).__name__}") from exc

    def _vetted_address(self, host: str, rules: CallbackRules) -> str:
        try:
            addresses = self._resolver.resolve(host)
        except OSError as exc:
            raise CallbackUnreachable(f"{host} does not resolve") from exc
        if not addresses:
            raise CallbackUnreachable(f"{host} does not resolve")
        if not rules.listed(host) and any(refused_address(address) for address in addresses):
            raise CallbackUnreachable(f"{host} resolves to a private, loopback, link-local or metadata address")
        return addresses[0]


def _connection(scheme: str, host: str, port: int, raw: socket.socket, timeout: float) -> http.client.HTTPConnection:
    """An http.client connection over the socket we opened (its Host header still names `host`)."""
    if scheme == "https":
        tls = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout)
        connection.sock = tls
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.sock = raw
    return connection
