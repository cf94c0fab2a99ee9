"""Starting APIG async tasks, as a CI pipeline does: a signed POST of an import or an export.

Signed with huaweicloudsdkcore's own signer (SDK-HMAC-SHA256) and sent with urllib, so what the
emulator verifies is exactly what Huawei Cloud would receive from the SDK.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

IMPORT_PATH = "/v2/{project_id}/apigw/instances/{instance_id}/openapi/async-import"
EXPORT_PATH = "/v2/{project_id}/apigw/instances/{instance_id}/openapi/async-export"
RELEASE_ENV_ID = "DEFAULT_ENVIRONMENT_RELEASE_ID"


class ApigRequestFailed(Exception):
    """APIG refused to start the task (or could not be reached)."""


@dataclass(frozen=True)
class ApigTasks:
    endpoint: str
    ak: str
    sk: str
    project_id: str
    instance_id: str
    timeout: float = 10.0

    def start_export(self, group_id: str, *, file_type: str = "json", define: str = "all") -> str:
        """POST async-export; returns the new task id."""
        body = json.dumps({"env_id": RELEASE_ENV_ID, "group_id": group_id, "define": define, "type": file_type})
        return self._post(EXPORT_PATH, body.encode(), "application/json;charset=UTF-8")

    def start_import(self, swagger: str, *, file_name: str = "swagger.json") -> str:
        """POST async-import (multipart, the swagger as `file_name`, a new group); returns the new task id."""
        boundary = "taskwatch" + secrets.token_hex(12)
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="is_create_group"\r\n\r\ntrue\r\n'.encode(),
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file_name"; filename="{file_name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + swagger.encode("utf-8")
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        return self._post(IMPORT_PATH, b"".join(parts), f"multipart/form-data; boundary={boundary}")

    def _post(self, template: str, body: bytes, content_type: str) -> str:
        parts = urlsplit(self.endpoint.rstrip("/"))
        path = parts.path + template.format(
            project_id=quote(self.project_id, safe=""), instance_id=quote(self.instance_id, safe="")
        )
        request = SdkRequest(
            method="POST",
            schema=parts.scheme,
            host=parts.netloc,
            resource_path=path,
            query_params=[],
            header_params={"Content-Type": content_type},
            body=body,
        )
        signed = BasicCredentials(self.ak, self.sk, self.project_id).sign_request(request)
        headers = {str(k): str(v) for k, v in signed.header_params.items()}
        http_request = urllib.request.Request(  # noqa: S310 - the endpoint is the configured APIG URL
            f"{parts.scheme}://{parts.netloc}{path}", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as answer:  # noqa: S310
                payload: Any = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            raise ApigRequestFailed(f"APIG answered {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise ApigRequestFailed(f"APIG could not be reached: {getattr(error, 'reason', error)}") from None
        task_id = payload.get("task_id") if isinstance(payload, dict) else None
        if not isinstance(task_id, str):
            raise ApigRequestFailed("APIG's answer names no task_id")
        return task_id
