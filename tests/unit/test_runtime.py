"""The wiring is built once per environment, and rebuilt when a host re-points the same process."""

from __future__ import annotations

import pytest

from taskwatch import wiring

ENV = {
    "TASK_QUEUE_URL": "http://127.0.0.1:1/queue/a",
    "TASK_TABLE": "tasks-a",
    "EXPORT_BUCKET": "bucket-a",
    "NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:a",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HUAWEI_CREDENTIALS_SECRET_ID", raising=False)
    monkeypatch.delenv("APIG_ENDPOINT", raising=False)


def test_warm_invocations_reuse_the_same_wiring() -> None:
    assert wiring.watcher() is wiring.watcher()
    assert wiring.poll_queue() is wiring.poll_queue()


def test_a_changed_environment_gets_fresh_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a warm watcher
    first = wiring.watcher()
    # When the same process is pointed at another APIG endpoint and table
    monkeypatch.setenv("APIG_ENDPOINT", "http://127.0.0.1:2")
    monkeypatch.setenv("TASK_TABLE", "tasks-b")
    # Then the next invocation uses them
    second = wiring.watcher()
    assert second is not first
    assert wiring.settings().apig_endpoint == "http://127.0.0.1:2"
    assert wiring.settings().task_table == "tasks-b"


def test_missing_configuration_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPORT_BUCKET")
    monkeypatch.delenv("NOTIFY_TOPIC_ARN")
    with pytest.raises(ValueError, match="EXPORT_BUCKET, NOTIFY_TOPIC_ARN"):
        wiring.watcher()
