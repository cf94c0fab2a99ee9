"""Wiring: the real adapters built from Settings, once per execution environment."""

from __future__ import annotations

import functools

from taskwatch.apig import ApigClient
from taskwatch.aws import LazyClient, client, session
from taskwatch.config import Settings
from taskwatch.credentials import CredentialSource, EnvCredentials, SecretCredentials
from taskwatch.dynamodb import DynamoTaskRecords
from taskwatch.s3 import S3ExportStore
from taskwatch.sns import SnsNotifier
from taskwatch.sqs import SqsPollQueue
from taskwatch.watcher import Watcher, WatchSettings
from taskwatch.webhook import Webhook, WebhookKeys


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def huawei_credentials() -> CredentialSource:
    secret_id = settings().huawei_credentials_secret_id
    if secret_id:
        return SecretCredentials(secret_id, client("secretsmanager"))
    return EnvCredentials()


@functools.cache
def watcher() -> Watcher:
    """The poller's Watcher with the real adapters; built on the first record, kept while warm."""
    config = settings()
    config.require("task_queue_url", "task_table", "export_bucket", "notify_topic_arn")
    return Watcher(
        settings=WatchSettings(config.policy, config.export_prefix, config.notify_on_success),
        apig=ApigClient(huawei_credentials(), endpoint=config.apig_endpoint, default_region=config.huawei_region),
        records=DynamoTaskRecords(config.task_table, client("dynamodb")),
        queue=poll_queue(),
        store=S3ExportStore(config.export_bucket or "", LazyClient("s3")),
        notifier=SnsNotifier(config.notify_topic_arn or "", LazyClient("sns")),
    )


@functools.cache
def poll_queue() -> SqsPollQueue:
    return SqsPollQueue(settings().task_queue_url, client("sqs"))


@functools.cache
def webhook() -> Webhook:
    """The webhook's logic with the real adapters; the keys cache lives while the function is warm."""
    config = settings()
    config.require("task_queue_url", "task_table", "webhook_secret_id")
    return Webhook(
        records=DynamoTaskRecords(config.task_table, client("dynamodb")),
        queue=poll_queue(),
        keys=WebhookKeys(config.webhook_secret_id or "", client("secretsmanager")),
    )


def reset() -> None:
    """Forget cached configuration and clients (tests that change the environment call this)."""
    for cached in (settings, huawei_credentials, watcher, poll_queue, webhook, client, session):
        cached.cache_clear()
