"""The client's APIG starts are exactly the documented calls: compared with what the official SDK
(huaweicloudsdkapig's ImportApiDefinitionsAsyncRequest / ExportApiDefinitionsAsyncRequest) sends, and
accepted, with every documented field, by the APIG emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkapig.v2 import (
    ApigClient,
    ExportApiDefinitionsAsyncRequest,
    ExportOpenApiReq,
    ImportApiDefinitionsAsyncRequest,
    ImportApiDefinitionsAsyncRequestBody,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.formdata import FormFile

from apig_emulator import ApigEmulator
from taskwatch.domain.credentials import HuaweiCredentials
from taskwatch_cli.apig import ApigStarter, StartRequest, export_request, import_request, signed_headers
from taskwatch_cli.errors import CliError
from taskwatch_cli.http import RetryPolicy

PROJECT_ID, INSTANCE_ID = "0123456789abcdef0123456789abcdef", "eddc4d25480b4cd6b512f270a1b8b341"
AK, SK = "CLIENTAK000000000001", "client-secret-key-for-tests-only"
ENDPOINT = "https://apig.cn-north-4.myhuaweicloud.com"
SWAGGER = b'{"swagger": "2.0", "info": {"title": "orders", "version": "1"}, "paths": {"/orders": {"get": {}}}}'


class Captured(Exception):
    pass


@pytest.fixture
def sdk() -> Iterator[tuple[ApigClient, list[Any]]]:
    """The official client, its HTTP call intercepted: the request it would send is kept, nothing is sent."""
    client = (
        ApigClient.new_builder().with_credentials(BasicCredentials(AK, SK, PROJECT_ID)).with_endpoint(ENDPOINT).build()
    )
    seen: list[Any] = []

    def capture(request: Any) -> Any:
        seen.append(request)
        raise Captured

    client._do_http_request_sync = capture
    yield client, seen


def form(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[str, str, bytes]]:
    """(the text fields, (the file part's field name, file name, bytes)) of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    upload: tuple[str, str, bytes] | None = None
    assert isinstance(message, EmailMessage)
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if part.get_filename() is not None:
            upload = (name, str(part.get_filename()), payload)
        else:
            fields[name] = payload.decode()
    assert upload is not None
    return fields, upload


def ours(request: StartRequest) -> tuple[str, dict[str, str]]:
    url, headers = signed_headers(HuaweiCredentials(ak=AK, sk=SK), ENDPOINT, request, PROJECT_ID)
    return url.removeprefix(ENDPOINT), headers


@pytest.mark.parametrize(
    "options",
    [
        {"create_group": True},
        {"group_id": "grp1", "extend_mode": "override", "api_mode": "merge", "simple_mode": True, "mock_mode": True},
        {"group_id": "grp1", "extend_mode": "merge", "api_mode": "override", "simple_mode": False, "mock_mode": False},
    ],
    ids=["new group", "existing group, every flag on", "existing group, flags off"],
)
def test_the_import_start_is_the_sdks_request(
    sdk: tuple[ApigClient, list[Any]], tmp_path: Path, options: dict[str, Any]
) -> None:
    # Given the same import through the official SDK and through the client
    document = tmp_path / "orders.json"
    document.write_bytes(SWAGGER)
    client, seen = sdk
    body = ImportApiDefinitionsAsyncRequestBody(
        is_create_group=options.get("create_group", False),
        group_id=options.get("group_id"),
        extend_mode=options.get("extend_mode"),
        simple_mode=options.get("simple_mode"),
        mock_mode=options.get("mock_mode"),
        api_mode=options.get("api_mode"),
        file_name=FormFile(str(document)),
    )
    with pytest.raises(Captured):
        client.import_api_definitions_async(ImportApiDefinitionsAsyncRequest(instance_id=INSTANCE_ID, body=body))
    theirs = seen[-1]
    request = import_request(PROJECT_ID, INSTANCE_ID, SWAGGER, file_name="orders.json", **options)
    path, headers = ours(request)

    # Then method, path, query, content type, form fields and the file part are the same
    assert request.task_type == "import_api"
    assert (theirs.method, theirs.uri, theirs.query_params) == ("POST", path, [])
    assert path == f"/v2/{PROJECT_ID}/apigw/instances/{INSTANCE_ID}/openapi/async-import"
    assert theirs.header_params["Content-Type"].split(";")[0] == headers["Content-Type"].split(";")[0]
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    their_fields, their_file = form(theirs.header_params["Content-Type"], theirs.body.to_string())
    our_fields, our_file = form(headers["Content-Type"], request.body)
    assert our_fields == their_fields
    assert our_file == their_file == ("file_name", "orders.json", SWAGGER)
    # And both are signed the same way: SDK-HMAC-SHA256 of the project, the payload left unsigned as for any form
    for signed in (theirs.header_params, headers):
        assert signed["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=")
        assert (signed["X-Project-Id"], signed["X-Sdk-Content-Sha256"]) == (PROJECT_ID, "UNSIGNED-PAYLOAD")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"define": "all", "file_type": "yaml", "version": "1.2.0", "apis": ["api1", "api2"], "oas_version": "3.0"},
        {"define": "spec", "file_type": "json", "oas_version": "2.0"},
    ],
    ids=["defaults", "everything", "spec as json, oas 2.0"],
)
def test_the_export_start_is_the_sdks_request(sdk: tuple[ApigClient, list[Any]], options: dict[str, Any]) -> None:
    client, seen = sdk
    body = ExportOpenApiReq(
        env_id="env1",
        group_id="grp1",
        define=options.get("define"),
        type=options.get("file_type"),
        version=options.get("version"),
        apis=options.get("apis"),
    )
    with pytest.raises(Captured):
        client.export_api_definitions_async(
            ExportApiDefinitionsAsyncRequest(instance_id=INSTANCE_ID, oas_version=options.get("oas_version"), body=body)
        )
    theirs = seen[-1]
    request = export_request(PROJECT_ID, INSTANCE_ID, env_id="env1", group_id="grp1", **options)
    path, headers = ours(request)

    assert request.task_type == "export_api"
    assert (theirs.method, theirs.uri, theirs.query_params) == ("POST", path, list(request.query))
    assert theirs.resource_path == f"/v2/{PROJECT_ID}/apigw/instances/{INSTANCE_ID}/openapi/async-export"
    assert theirs.header_params["Content-Type"] == headers["Content-Type"] == "application/json;charset=utf-8"
    assert json.loads(theirs.body) == json.loads(request.body)
    assert theirs.header_params["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=")
    assert headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=")


# --- the APIG emulator accepts the documented starts --------------------------------------------------


@pytest.fixture
def starter() -> Iterator[tuple[ApigEmulator, ApigStarter]]:
    with ApigEmulator(credentials={AK: SK}, waiting_seconds=0.1, processing_seconds=0.1) as emulator:
        yield (
            emulator,
            ApigStarter(
                emulator.url,
                HuaweiCredentials(ak=AK, sk=SK),
                PROJECT_ID,
                INSTANCE_ID,
                say=lambda _: None,
                policy=RetryPolicy(attempts=1),
            ),
        )


def test_the_emulator_accepts_an_import_with_every_documented_field(
    starter: tuple[ApigEmulator, ApigStarter],
) -> None:
    emulator, apig = starter
    request = import_request(
        PROJECT_ID,
        INSTANCE_ID,
        SWAGGER,
        group_id="grp1",
        extend_mode="override",
        api_mode="override",
        simple_mode=True,
        mock_mode=False,
    )
    task_id = apig.start(request)
    assert emulator.task_status(task_id) in ("waiting", "processing", "succeed")
    assert emulator.requests[-1].path == f"/v2/{PROJECT_ID}/apigw/instances/{INSTANCE_ID}/openapi/async-import"


def test_the_emulator_accepts_an_export_with_every_documented_field(starter: tuple[ApigEmulator, ApigStarter]) -> None:
    emulator, apig = starter
    for define in ("spec", "proxy", "all", "dev"):
        request = export_request(
            PROJECT_ID,
            INSTANCE_ID,
            env_id="env1",
            group_id="grp1",
            define=define,
            file_type="yaml",
            version="2.1",
            apis=["a1"],
            oas_version="3.0",
        )
        assert apig.start(request)
    assert emulator.requests[-1].path.endswith("/openapi/async-export?oas_version=3.0")


@pytest.mark.parametrize(
    "request_",
    [
        export_request(PROJECT_ID, INSTANCE_ID, env_id="env1", group_id="grp1", define="base"),
        export_request(PROJECT_ID, INSTANCE_ID, env_id="env1", group_id="grp1", oas_version="4.0"),
        import_request(PROJECT_ID, INSTANCE_ID, SWAGGER, group_id="grp1", api_mode="replace"),
    ],
    ids=["undocumented define", "unknown oas_version", "unknown api_mode"],
)
def test_the_emulator_refuses_values_apig_does_not_document(
    starter: tuple[ApigEmulator, ApigStarter], request_: StartRequest
) -> None:
    _, apig = starter
    with pytest.raises(CliError, match=r"HTTP 400 APIG\.2011"):
        apig.start(request_)
