"""The APIG adapter: one signed GET of an async task, on huaweicloudsdkcore's credentials and signer.

We sign with the SDK (BasicCredentials with an explicit project_id, so it never asks IAM for one)
and send with the standard library's http.client, which keeps the dependency to huaweicloudsdkcore's
core instead of the 17 MB generated APIG client.

The whole exchange is bounded, whatever the server's pace: one deadline covers connect, headers and
body (a watchdog shuts the socket down when it passes, so a server dripping a byte every few seconds
cannot hold the poller past its timeout), and the body is capped after decoding (a 1 MB gzip answer
that inflates to 2 GB stops at the cap). A deadline overrun is transient; an over-cap body is final.
"""

from __future__ import annotations

import http.client
import zlib
from typing import Any
from urllib.parse import quote, urlsplit

from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from taskwatch.adapters.bounded import Watchdog
from taskwatch.domain.credentials import HuaweiCredentials
from taskwatch.domain.errors import (
    ApigError,
    PermanentApigError,
    TaskNotFound,
    TransientApigError,
    Unauthorized,
)
from taskwatch.domain.limits import APIG_DEADLINE_SECONDS, APIG_MAX_BODY_BYTES
from taskwatch.domain.model import MalformedTask, PollMessage, TaskState, load_json, parse_task
from taskwatch.domain.ports import CredentialSource
from taskwatch.domain.text import clip_text

TASK_PATH = "/v2/{project_id}/apigw/instances/{instance_id}/async-tasks/{task_id}"
NOT_FOUND_CODE = "APIG.3093"
MAX_ERROR_FIELD_BYTES = 300
_CHUNK = 64 * 1024


def endpoint_for(region: str) -> str:
    return f"https://apig.{region}.myhuaweicloud.com"


class BodyTooLarge(MalformedTask):
    """APIG's answer decodes to more than the cap: the watch ends with outcome `error`."""


class ApigClient:
    def __init__(
        self,
        credentials: CredentialSource,
        *,
        endpoint: str | None = None,
        default_region: str = "cn-north-4",
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        deadline_seconds: float = APIG_DEADLINE_SECONDS,
        max_body_bytes: int = APIG_MAX_BODY_BYTES,
    ) -> None:
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._default_region = default_region
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._deadline = deadline_seconds
        self._max_body = max_body_bytes

    def get_task(self, message: PollMessage) -> TaskState:
        """Read the task; on 401/403 read the credentials afresh once, so a rotated secret heals itself."""
        try:
            return self._get_task(message, self._credentials.get())
        except Unauthorized:
            return self._get_task(message, self._credentials.get(refresh=True))

    def _get_task(self, message: PollMessage, creds: HuaweiCredentials) -> TaskState:
        base = self._endpoint or endpoint_for(message.region or self._default_region)
        parts = urlsplit(base)
        path = parts.path.rstrip("/") + TASK_PATH.format(
            project_id=quote(message.project_id, safe=""),
            instance_id=quote(message.instance_id, safe=""),
            task_id=quote(message.task_id, safe=""),
        )
        headers = _signed_headers(creds, parts.scheme, parts.netloc, path, message.project_id)
        status, data = self._exchange(parts.scheme, parts.netloc, path, headers)
        if status >= 300:
            raise error_for(status, data)
        # Large exports: hold at most two copies at a time (bytes -> text -> parsed), never all three.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedTask("APIG answered 200 with a body that is not UTF-8") from None
        del data
        body: Any = load_json(text, what="APIG's answer")
        del text
        return parse_task(body)

    def _exchange(self, scheme: str, netloc: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """One GET, bounded by the deadline as a whole; returns the status and the decoded body."""
        connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = connection_class(netloc, timeout=min(self._connect_timeout, self._deadline))
        with Watchdog(self._deadline) as watchdog:
            try:
                connection.connect()
                assert connection.sock is not None  # connect() sets it or raises
                watchdog.guard(connection.sock)
                connection.sock.settimeout(min(self._read_timeout, self._deadline))
                connection.request("GET", path, headers={**headers, "Accept-Encoding": "gzip, deflate"})
                response = connection.getresponse()
                status, body = response.status, _read_decoded(response, self._max_body)
            except BodyTooLarge:
                raise
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if watchdog.expired:
                    raise TransientApigError(f"APIG did not answer within {self._deadline:g} s") from exc
                if isinstance(exc, TimeoutError):
                    raise TransientApigError("APIG did not answer in time") from exc
                raise TransientApigError(f"APIG could not be reached: {type(exc).__name__}") from exc
            finally:
                connection.close()
        if watchdog.expired:  # the cut may look like a clean end of a body without a length
            raise TransientApigError(f"APIG did not answer within {self._deadline:g} s")
        return status, body


def _read_decoded(response: http.client.HTTPResponse, cap: int) -> bytes:
    """The body, decoded per Content-Encoding, refused as soon as it passes `cap` bytes."""
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder: Any = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, told apart by the header
    elif encoding == "identity":
        decoder = None
    else:
        raise MalformedTask(f"APIG answered with an unsupported Content-Encoding {encoding[:20]!r}")
    chunks: list[bytes] = []
    size = 0
    while True:
        raw = response.read(_CHUNK)
        if not raw:
            break
        pending = raw
        while pending:
            if decoder is None:
                out, pending = pending, b""
            else:
                # At most a chunk at a time: asking zlib for the whole remaining cap makes it build that
                # much output and then copy it, holding the cap twice.
                out = decoder.decompress(pending, min(_CHUNK, cap - size + 1))
                pending = decoder.unconsumed_tail
            size += len(out)
            if size > cap:
                raise BodyTooLarge(f"APIG's answer is larger than {cap // (1024 * 1024)} MiB once decoded")
            chunks.append(out)
    if decoder is not None:
        try:
            tail = decoder.flush()
        except zlib.error:
            raise MalformedTask("APIG's compressed answer is corrupt") from None
        size += len(tail)
        if size > cap:
            raise BodyTooLarge(f"APIG's answer is larger than {cap // (1024 * 1024)} MiB once decoded")
        chunks.append(tail)
    return b"".join(chunks)


def _signed_headers(creds: HuaweiCredentials, scheme: str, host: str, path: str, project_id: str) -> dict[str, str]:
    if creds.token:
        return {"Content-Type": "application/json", "X-Auth-Token": creds.token, "X-Project-Id": project_id}
    # What BasicCredentials.sign_request does for AK/SK, without importing it: its module pulls the SDK's
    # IAM and STS clients and `requests` (about 110 ms of every cold start) for nothing a poll uses.
    headers = {"Content-Type": "application/json", "X-Project-Id": project_id}
    if creds.security_token:
        headers["X-Security-Token"] = creds.security_token
    request = SdkRequest(
        method="GET", schema=scheme, host=host, resource_path=path, query_params=[], header_params=headers, body=""
    )
    signed = Signer(creds).sign(request)
    return {str(k): str(v) for k, v in signed.header_params.items()}


def error_for(status: int, data: bytes) -> ApigError:
    """Map an APIG error answer to the project's error types, by status and error_code."""
    code, msg = _error_fields(data)
    text = msg or f"HTTP {status}"
    if status == 404 and code == NOT_FOUND_CODE:
        return TaskNotFound(text, status=status, error_code=code)
    if status in (401, 403):
        return Unauthorized(text, status=status, error_code=code)
    if status in (408, 429) or status >= 500:
        return TransientApigError(text, status=status, error_code=code)
    return PermanentApigError(text, status=status, error_code=code)


def _error_fields(data: bytes) -> tuple[str | None, str | None]:
    try:
        body = load_json(data.decode("utf-8"), what="APIG's error answer")
    except (UnicodeDecodeError, MalformedTask):
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, msg = body.get("error_code"), body.get("error_msg")
    return (
        clip_text(code, MAX_ERROR_FIELD_BYTES) if isinstance(code, str) else None,
        clip_text(msg, 4 * MAX_ERROR_FIELD_BYTES) if isinstance(msg, str) else None,
    )
