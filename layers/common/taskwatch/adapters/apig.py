"""The APIG adapter: one signed GET of an async task, on huaweicloudsdkcore's credentials and signer.

We sign with the SDK (BasicCredentials with an explicit project_id, so it never asks IAM for one)
and send with a pooled urllib3 connection, which keeps the dependency to huaweicloudsdkcore's core
instead of the 17 MB generated APIG client, and gives us explicit connect/read timeouts.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from taskwatch.domain.credentials import HuaweiCredentials
from taskwatch.domain.errors import ApigError, PermanentApigError, TaskNotFound, TransientApigError, Unauthorized
from taskwatch.domain.model import MalformedTask, PollMessage, TaskState, parse_task
from taskwatch.domain.ports import CredentialSource

TASK_PATH = "/v2/{project_id}/apigw/instances/{instance_id}/async-tasks/{task_id}"
NOT_FOUND_CODE = "APIG.3093"


def endpoint_for(region: str) -> str:
    return f"https://apig.{region}.myhuaweicloud.com"


class ApigClient:
    def __init__(
        self,
        credentials: CredentialSource,
        *,
        endpoint: str | None = None,
        default_region: str = "cn-north-4",
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._default_region = default_region
        self._pool = pool or urllib3.PoolManager(
            num_pools=4,
            maxsize=4,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )

    def get_task(self, message: PollMessage) -> TaskState:
        """Read the task; on 401/403 read the credentials afresh once, so a rotated secret heals itself."""
        try:
            return self._get_task(message, self._credentials.get())
        except Unauthorized:
            return self._get_task(message, self._credentials.get(refresh=True))

    def _get_task(self, message: PollMessage, creds: HuaweiCredentials) -> TaskState:
        base = self._endpoint or endpoint_for(message.region or self._default_region)
        parts = urlsplit(base)
        path = TASK_PATH.format(
            project_id=quote(message.project_id, safe=""),
            instance_id=quote(message.instance_id, safe=""),
            task_id=quote(message.task_id, safe=""),
        )
        headers = _signed_headers(creds, parts.scheme, parts.netloc, parts.path.rstrip("/") + path, message.project_id)
        try:
            response = self._pool.request("GET", f"{base}{path}", headers=headers, preload_content=True)
        except urllib3.exceptions.TimeoutError as exc:
            raise TransientApigError("APIG did not answer in time") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise TransientApigError(f"APIG could not be reached: {type(exc).__name__}") from exc
        status = response.status
        data = response.data
        response.release_conn()
        del response  # it caches the body: a second reference that would keep a large export's bytes alive
        if status >= 300:
            raise error_for(status, data)
        # Large exports: hold at most two copies at a time (bytes -> text -> parsed), never all three.
        try:
            text = data.decode("utf-8")
            del data
            body: Any = json.loads(text)
        except ValueError:
            raise MalformedTask("APIG answered 200 with a body that is not JSON") from None
        del text
        return parse_task(body)


def _signed_headers(creds: HuaweiCredentials, scheme: str, host: str, path: str, project_id: str) -> dict[str, str]:
    if creds.token:
        return {"Content-Type": "application/json", "X-Auth-Token": creds.token, "X-Project-Id": project_id}
    request = SdkRequest(
        method="GET",
        schema=scheme,
        host=host,
        resource_path=path,
        query_params=[],
        header_params={"Content-Type": "application/json"},
        body="",
    )
    sdk_creds = BasicCredentials(creds.ak, creds.sk, project_id)
    if creds.security_token:
        sdk_creds = sdk_creds.with_security_token(creds.security_token)
    signed = sdk_creds.sign_request(request)
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
        body = json.loads(data)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, msg = body.get("error_code"), body.get("error_msg")
    return (code if isinstance(code, str) else None, msg[:500] if isinstance(msg, str) else None)
