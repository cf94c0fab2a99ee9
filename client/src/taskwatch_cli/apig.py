"""Starting APIG's asynchronous imports and exports: exactly the documented calls, signed as the SDK signs.

- `POST /v2/{project_id}/apigw/instances/{instance_id}/openapi/async-import`, multipart/form-data: the
  document in the part `file_name`, the form fields `is_create_group`, `group_id`, `extend_mode`,
  `api_mode`, `simple_mode`, `mock_mode` (booleans as `true`/`false`, absent fields not sent);
- `POST .../openapi/async-export[?oas_version=2.0|3.0]`, `application/json;charset=UTF-8`: the body
  `env_id`, `group_id`, `define`, `type`, `version`, `apis`.

Both answer `{"task_id": ...}`. The request is built here with the standard library and signed with
huaweicloudsdkcore (SDK-HMAC-SHA256 over the exact body bytes sent, AK/SK from HUAWEICLOUD_SDK_AK /
HUAWEICLOUD_SDK_SK, optional HUAWEICLOUD_SDK_SECURITY_TOKEN); tests/unit/test_client_apig.py compares
both requests with what the official huaweicloudsdkapig classes send.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from taskwatch_cli.errors import CliError
from taskwatch_cli.http import Answer, Request, RetryPolicy, send

if TYPE_CHECKING:
    from taskwatch.domain.credentials import HuaweiCredentials

IMPORT_PATH = "/v2/{project_id}/apigw/instances/{instance_id}/openapi/async-import"
EXPORT_PATH = "/v2/{project_id}/apigw/instances/{instance_id}/openapi/async-export"
EXPORT_CONTENT_TYPE = "application/json;charset=utf-8"  # byte for byte what huaweicloudsdkapig sends
DEFAULT_REGION = "cn-north-4"
DEFINES = ("spec", "proxy", "all", "dev")
FILE_TYPES = ("json", "yaml")
OAS_VERSIONS = ("2.0", "3.0")
MODES = ("merge", "override")
SDK_HINT = "starting APIG tasks needs the Huawei SDK's core: pip install 'taskwatch-cli[apig]'"


def endpoint_for(region: str) -> str:
    return f"https://apig.{region}.myhuaweicloud.com"


@dataclass(frozen=True)
class StartRequest:
    task_type: str  # what the task will be: import_api or export_api
    path: str  # below the endpoint, ids quoted
    query: tuple[tuple[str, str], ...]
    content_type: str
    body: bytes

    @property
    def operation(self) -> str:
        return "async-import" if self.task_type == "import_api" else "async-export"


def _path(template: str, project_id: str, instance_id: str) -> str:
    return template.format(project_id=quote(project_id, safe=""), instance_id=quote(instance_id, safe=""))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def import_request(  # noqa: PLR0913 - one keyword per documented APIG form field
    project_id: str,
    instance_id: str,
    document: bytes,
    *,
    file_name: str = "swagger.json",
    group_id: str | None = None,
    create_group: bool = False,
    extend_mode: str | None = None,
    api_mode: str | None = None,
    simple_mode: bool | None = None,
    mock_mode: bool | None = None,
    boundary: str | None = None,
) -> StartRequest:
    fields: list[tuple[str, str]] = [("is_create_group", _bool(create_group))]
    if group_id is not None:
        fields.append(("group_id", group_id))
    if extend_mode is not None:
        fields.append(("extend_mode", extend_mode))
    if simple_mode is not None:
        fields.append(("simple_mode", _bool(simple_mode)))
    if mock_mode is not None:
        fields.append(("mock_mode", _bool(mock_mode)))
    if api_mode is not None:
        fields.append(("api_mode", api_mode))
    boundary = boundary or "taskwatch" + secrets.token_hex(16)
    safe_name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in file_name) or "swagger.json"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file_name"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + document
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return StartRequest(
        "import_api",
        _path(IMPORT_PATH, project_id, instance_id),
        (),
        f"multipart/form-data; boundary={boundary}",
        b"".join(parts),
    )


def export_request(  # noqa: PLR0913 - one keyword per documented APIG body field
    project_id: str,
    instance_id: str,
    *,
    env_id: str,
    group_id: str,
    define: str | None = None,
    file_type: str | None = None,
    version: str | None = None,
    apis: Sequence[str] | None = None,
    oas_version: str | None = None,
) -> StartRequest:
    body: dict[str, Any] = {"env_id": env_id, "group_id": group_id}
    if define is not None:
        body["define"] = define
    if file_type is not None:
        body["type"] = file_type
    if version is not None:
        body["version"] = version
    if apis:
        body["apis"] = list(apis)
    query = (("oas_version", oas_version),) if oas_version is not None else ()
    return StartRequest(
        "export_api",
        _path(EXPORT_PATH, project_id, instance_id),
        query,
        EXPORT_CONTENT_TYPE,
        json.dumps(body, separators=(",", ":")).encode(),
    )


def signed_headers(
    credentials: HuaweiCredentials, endpoint: str, request: StartRequest, project_id: str
) -> tuple[str, dict[str, str]]:
    """(the URL to send to, the headers) for `request`, signed over its exact body bytes."""
    parts = urlsplit(endpoint.rstrip("/"))
    path = parts.path + request.path
    if credentials.token:
        query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in request.query)
        headers = {"Content-Type": request.content_type, "X-Auth-Token": credentials.token, "X-Project-Id": project_id}
        return f"{parts.scheme}://{parts.netloc}{path}{'?' + query if query else ''}", headers
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.sdk_request import SdkRequest
    except ImportError:
        raise CliError(SDK_HINT) from None
    sdk_request = SdkRequest(
        method="POST",
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=path,
        query_params=list(request.query),
        header_params={"Content-Type": request.content_type},
        body=request.body,
    )
    sdk_credentials = BasicCredentials(credentials.ak, credentials.sk, project_id)
    if credentials.security_token:
        sdk_credentials = sdk_credentials.with_security_token(credentials.security_token)
    signed = sdk_credentials.sign_request(sdk_request)
    # The signer sets `uri` to the resource path with the canonical query string it signed.
    return f"{parts.scheme}://{parts.netloc}{signed.uri}", {str(k): str(v) for k, v in signed.header_params.items()}


def huawei_credentials(env: Mapping[str, str]) -> HuaweiCredentials:
    from taskwatch.adapters.secrets import EnvCredentials
    from taskwatch.domain.errors import CredentialsError

    try:
        return EnvCredentials(env).get()
    except CredentialsError:
        raise CliError("set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (the Huawei Cloud credentials)") from None


class ApigStarter:
    """Starts tasks on one APIG endpoint for one project and instance."""

    def __init__(
        self,
        endpoint: str,
        credentials: HuaweiCredentials,
        project_id: str,
        instance_id: str,
        *,
        say: Callable[[str], None],
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise CliError(f"--endpoint must be an http(s) URL, not {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.instance_id = instance_id
        self._credentials = credentials
        self._say = say
        self._policy = policy
        self._timeout = timeout
        self._sleep = sleep

    def start(self, request: StartRequest) -> str:
        """Send the start; the new task's id. Raises CliError when APIG refuses it."""

        def build() -> Request:
            url, headers = signed_headers(self._credentials, self.endpoint, request, self.project_id)
            return Request("POST", url, headers, request.body)

        answer = send(
            f"APIG {request.operation}",
            build,
            say=self._say,
            policy=self._policy,
            timeout=self._timeout,
            sleep=self._sleep,
        )
        task_id = answer.body.get("task_id") if isinstance(answer.body, dict) else None
        if 200 <= answer.status < 300 and isinstance(task_id, str) and task_id:
            return task_id
        raise CliError(f"APIG refused the {request.operation}: {self._describe(answer)}")

    @staticmethod
    def _describe(answer: Answer) -> str:
        if answer.status in (401, 403):
            return f"{answer.describe()} (check HUAWEICLOUD_SDK_AK/SK and their APIG permissions)"
        if 200 <= answer.status < 300:
            return f"HTTP {answer.status} without a task_id"
        return answer.describe()
