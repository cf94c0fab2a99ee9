"""Who may call the emulator: X-Auth-Token tokens, or SDK-HMAC-SHA256 signatures by permanent or temporary keys."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable, Mapping

from . import signing
from .wire import ApiError


class Authenticator:
    """Checks a request's credentials against the accepted ones (replaceable while serving)."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None,
        temporary: Mapping[str, tuple[str, str]] | None,
        tokens: Iterable[str] | None,
        clock: Callable[[], float],
    ) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[str, str] = dict(credentials or {})
        self._temporary: dict[str, tuple[str, str]] = dict(temporary or {})
        self._tokens: set[str] = set(tokens or ())
        self._clock = clock

    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        with self._lock:
            self._credentials = dict(credentials)

    def set_temporary(self, temporary: Mapping[str, tuple[str, str]]) -> None:
        with self._lock:
            self._temporary = dict(temporary)

    def set_tokens(self, tokens: Iterable[str]) -> None:
        with self._lock:
            self._tokens = set(tokens)

    def authenticate(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the request may pass; raise a 401 :class:`ApiError` otherwise. ``headers`` are lower-case."""
        with self._lock:
            tokens = set(self._tokens)
            secrets = dict(self._credentials)
            temporary = dict(self._temporary)
        token = headers.get("x-auth-token")
        if token is not None:
            if not any(hmac.compare_digest(token.encode(), t.encode()) for t in tokens):
                raise ApiError(401, "APIG.0307", "The token must be updated")
            return
        secrets.update({ak: sk for ak, (sk, _) in temporary.items()})
        try:
            auth = signing.verify(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                secrets=secrets,
                now=self._clock(),
            )
        except signing.SignatureError as exc:
            raise ApiError(401, "APIG.1002", f"Incorrect IAM authentication information: {exc}") from exc
        if auth.access_key in temporary:
            expected = temporary[auth.access_key][1]
            sent = headers.get("x-security-token", "")
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                raise ApiError(
                    401,
                    "APIG.1002",
                    "Incorrect IAM authentication information: invalid or missing X-Security-Token",
                )
