"""`taskwatch local up` as a user runs it: a process that serves until SIGINT and then frees its ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from taskwatch_local.apig_tasks import ApigTasks
from taskwatch_local.ci import WebhookClient

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for_state(path: Path, process: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.exists():
            loaded: dict[str, Any] = json.loads(path.read_text())
            return loaded
        time.sleep(0.1)
    raise AssertionError("the state file was not written")


def accepts(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def test_local_up_serves_a_watch_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskwatch_local.cli",
            "local",
            "up",
            "--state-file",
            str(state_file),
            "--waiting",
            "0.5",
            "--processing",
            "0.5",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / p) for p in ("local", "layers/common", "emulator")),
        },
    )
    try:
        state = wait_for_state(state_file, process)
        apig = ApigTasks(
            state["apig_endpoint"],
            state["huaweicloud_sdk_ak"],
            state["huaweicloud_sdk_sk"],
            state["project_id"],
            state["instance_id"],
        )
        task_id = apig.start_export("petstore")
        client = WebhookClient(state["webhook_url"], state["webhook_key"])
        submitted = client.submit(
            {
                "project_id": state["project_id"],
                "instance_id": state["instance_id"],
                "task_id": task_id,
                "expected_type": "export_api",
            }
        )
        assert submitted.status == 202, submitted

        deadline = time.monotonic() + 30
        record: dict[str, Any] = {}
        while time.monotonic() < deadline:
            answer = client.status(task_id)
            assert answer.status == 200, answer
            record = answer.body
            if record["status"] not in ("queued", "polling"):
                break
            time.sleep(0.5)
        assert record["status"] == "succeeded", record
        assert record["export"]["bucket"] == state["bucket"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, err
    assert state["webhook_url"] in out and state["webhook_key"] in out
    assert "taskwatch local create-task" in out
    for name in ("webhook_url", "aws_endpoint", "apig_endpoint"):
        assert not accepts(state[name]), f"{name} still accepts connections"
