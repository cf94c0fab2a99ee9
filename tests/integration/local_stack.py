"""`taskwatch local up` in its own process, as a user runs it, for tests that drive the client against it; and
a stand-in for a GitHub runner's OIDC token endpoint, minting tokens from the local issuer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from taskwatch_local.oidc_issuer import LocalOidcIssuer

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOURCE_PATHS = ("local", "layers/common", "emulator", "client/src")


@contextmanager
def local_up(tmp: Path, *, env: Mapping[str, str] | None = None, seconds: float = 0.5) -> Iterator[dict[str, Any]]:
    """Start the local stack (APIG tasks wait and process `seconds` each); yield its state file's content."""
    state_file = tmp / "local-up.json"
    log = (tmp / "local-up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "taskwatch_local.cli", "local", "up", "--state-file", str(state_file),
         "--waiting", str(seconds), "--processing", str(seconds)],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / p) for p in SOURCE_PATHS)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists():
            assert process.poll() is None, (tmp / "local-up.log").read_text()
            assert time.monotonic() < deadline, "taskwatch local up did not start"
            time.sleep(0.1)
        yield json.loads(state_file.read_text())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def client_env(state: Mapping[str, Any]) -> dict[str, str]:
    """What a CI job has: the webhook key and the Huawei credentials in its environment, the client on PATH."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("TASKWATCH_", "HUAWEICLOUD_", "GITHUB_", "ACTIONS_"))
    }
    return {
        **clean,
        "PATH": f"{BIN}{os.pathsep}{clean.get('PATH', '')}",
        "TASKWATCH_WEBHOOK_KEY": state["webhook_key"],
        "HUAWEICLOUD_SDK_AK": state["huaweicloud_sdk_ak"],
        "HUAWEICLOUD_SDK_SK": state["huaweicloud_sdk_sk"],
    }


@contextmanager
def github_token_endpoint(
    issuer: LocalOidcIssuer, request_token: str, **claims: Any
) -> Iterator[tuple[str, list[str]]]:
    """ACTIONS_ID_TOKEN_REQUEST_URL's stand-in: `{"value": <a fresh GitHub-shaped token>}` for each request that
    carries `Authorization: bearer <request_token>`, with the audience the request asks for. Yields the URL and
    the audiences asked for."""
    audiences: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"bearer {request_token}":
                self.send_error(401)
                return
            audience = parse_qs(urlsplit(self.path).query).get("audience", [""])[0]
            audiences.append(audience)
            token = issuer.mint({**_github_claims(), **claims, "aud": audience})
            data = json.dumps({"count": len(audiences), "value": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0", audiences
    finally:
        server.shutdown()
        server.server_close()


def _github_claims(repository: str = "acme/petstore-api") -> dict[str, Any]:
    return {
        "sub": f"repo:{repository}:ref:refs/heads/main",
        "repository": repository,
        "repository_owner": repository.split("/", maxsplit=1)[0],
        "repository_owner_id": "1234567",
        "ref": "refs/heads/main",
        "workflow_ref": f"{repository}/.github/workflows/publish.yml@refs/heads/main",
        "run_id": "9876543210",
    }
