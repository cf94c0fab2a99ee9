"""The composition root: the real adapters built from Settings, once per execution environment.

Everything is built on first use and kept while the function is warm. In Lambda the environment
never changes under a running process; a host that re-points the same process at other resources
(a test harness, the local stack) gets fresh wiring, because the cache follows the variables it
was built from.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, cast

from taskwatch.adapters.apig import ApigClient
from taskwatch.adapters.aws import LazyClient, client, session
from taskwatch.adapters.callbacks import HttpCallbackSender, SocketResolver
from taskwatch.adapters.dynamodb import DynamoBaselines, DynamoTaskRecords, DynamoTokenLedger
from taskwatch.adapters.s3 import S3ExportStore
from taskwatch.adapters.secrets import EnvCredentials, SecretCredentials, WebhookKeys
from taskwatch.adapters.sns import SnsNotifier
from taskwatch.adapters.sqs import SqsPollQueue
from taskwatch.config import Settings
from taskwatch.domain.callbacks import CallbackDeliverer
from taskwatch.domain.identity import TrustRule
from taskwatch.domain.ports import CredentialSource, TokenVerifier
from taskwatch.domain.submissions import WatchService
from taskwatch.domain.watcher import Watcher, WatchSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

_INPUTS = (
    "TASK_QUEUE_URL",
    "EXPORT_BUCKET",
    "EXPORT_PREFIX",
    "NOTIFY_TOPIC_ARN",
    "NOTIFY_ON_SUCCESS",
    "NOTIFY_ON_DRIFT",
    "NOTIFY_ON_DRIFT",
    "TASK_TABLE",
    "HUAWEI_CREDENTIALS_SECRET_ID",
    "WEBHOOK_SECRET_ID",
    "APIG_ENDPOINT",
    "HUAWEI_REGION",
    "POLL_MIN_DELAY_SECONDS",
    "POLL_MAX_DELAY_SECONDS",
    "POLL_MAX_WAIT_SECONDS",
    "OIDC_TRUST",
    "CALLBACK_ALLOWED_HOSTS",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
)
_built_from: tuple[str | None, ...] | None = None


def _follow_environment() -> None:
    global _built_from  # noqa: PLW0603 - the one piece of module state: what the caches were built from
    current = tuple(os.environ.get(name) for name in _INPUTS)
    if current != _built_from:
        if _built_from is not None:
            reset()
        _built_from = current


def settings() -> Settings:
    _follow_environment()
    return _settings()


def watcher() -> Watcher:
    """The poller's Watcher with the real adapters; built on the first record, kept while warm."""
    _follow_environment()
    return _watcher()


def deliverer() -> CallbackDeliverer:
    """The poller's callback deliveries; the webhook key (which signs them) is read on the first one."""
    _follow_environment()
    return _deliverer()


def poll_queue() -> SqsPollQueue:
    _follow_environment()
    return _poll_queue()


def watch_service() -> WatchService:
    """The webhook's logic with the real adapters; the keys cache lives while the function is warm."""
    _follow_environment()
    return _watch_service()


def huawei_credentials() -> CredentialSource:
    _follow_environment()
    return _huawei_credentials()


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


@functools.cache
def _huawei_credentials() -> CredentialSource:
    secret_id = _settings().huawei_credentials_secret_id
    if secret_id:
        return SecretCredentials(secret_id, client("secretsmanager"))
    return EnvCredentials()


@functools.cache
def _watcher() -> Watcher:
    config = _settings()
    config.require("task_queue_url", "task_table", "export_bucket", "notify_topic_arn")
    return Watcher(
        settings=WatchSettings(config.policy, config.export_prefix, config.notify_on_success, config.notify_on_drift),
        apig=ApigClient(_huawei_credentials(), endpoint=config.apig_endpoint, default_region=config.huawei_region),
        records=DynamoTaskRecords(config.task_table, client("dynamodb")),
        queue=_poll_queue(),
        store=S3ExportStore(config.export_bucket or "", cast("S3Client", LazyClient("s3"))),
        notifier=SnsNotifier(config.notify_topic_arn or "", cast("SNSClient", LazyClient("sns"))),
        callback_rules=config.callback_rules,
        resolver=SocketResolver(),
        baselines=DynamoBaselines(config.task_table, client("dynamodb")),
    )


@functools.cache
def _deliverer() -> CallbackDeliverer:
    config = _settings()
    config.require("task_queue_url", "task_table")
    return CallbackDeliverer(
        rules=config.callback_rules,
        records=DynamoTaskRecords(config.task_table, client("dynamodb")),
        sender=HttpCallbackSender(SocketResolver()),
        queue=_poll_queue(),
        # Only a delivery reads the key: a poller that never delivers a callback never builds this client.
        keys=WebhookKeys(config.webhook_secret_id or "", cast("SecretsManagerClient", LazyClient("secretsmanager"))),
    )


@functools.cache
def _poll_queue() -> SqsPollQueue:
    return SqsPollQueue(_settings().task_queue_url, client("sqs"))


@functools.cache
def _watch_service() -> WatchService:
    config = _settings()
    config.require("task_queue_url", "task_table", "webhook_secret_id")
    dynamodb = client("dynamodb")
    return WatchService(
        records=DynamoTaskRecords(config.task_table, dynamodb),
        queue=_poll_queue(),
        keys=WebhookKeys(config.webhook_secret_id or "", client("secretsmanager")),
        callback_rules=config.callback_rules,
        resolver=SocketResolver(),
        # PyJWT loads only when trust rules are configured: a shared-key-only webhook never pays for it.
        tokens=_oidc_verifier(config.oidc_trust, DynamoTokenLedger(config.task_table, dynamodb))
        if config.oidc_trust
        else None,
    )


def _oidc_verifier(rules: tuple[TrustRule, ...], ledger: DynamoTokenLedger) -> TokenVerifier:
    from taskwatch.adapters.oidc import OidcVerifier

    return OidcVerifier(rules, ledger)


def reset() -> None:
    """Forget cached configuration and clients (tests that change the environment call this)."""
    for cached in (_settings, _huawei_credentials, _watcher, _deliverer, _poll_queue, _watch_service, client, session):
        cached.cache_clear()
