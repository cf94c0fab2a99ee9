"""Configuration, read from the environment once and validated (names: docs/contract.md, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from taskwatch.domain.callbacks import CallbackRules
from taskwatch.domain.identity import TrustConfigError, TrustRule, parse_trust
from taskwatch.domain.policy import PollPolicy

DEFAULT_REGION = "cn-north-4"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    task_queue_url: str
    task_table: str
    export_bucket: str | None = None
    export_prefix: str = "exports/"
    notify_topic_arn: str | None = None
    notify_on_success: bool = False
    notify_on_drift: bool = True
    huawei_credentials_secret_id: str | None = None
    webhook_secret_id: str | None = None
    apig_endpoint: str | None = None
    huawei_region: str = DEFAULT_REGION
    poll_min_delay_seconds: int = 5
    poll_max_delay_seconds: int = 300
    poll_max_wait_seconds: int = 3600
    oidc_trust: tuple[TrustRule, ...] = ()
    callback_rules: CallbackRules = field(default_factory=CallbackRules)

    @property
    def policy(self) -> PollPolicy:
        return PollPolicy(self.poll_min_delay_seconds, self.poll_max_delay_seconds, self.poll_max_wait_seconds)

    def require(self, *names: str) -> None:
        missing = [name.upper() for name in names if not getattr(self, name)]
        if missing:
            raise ConfigError(f"missing environment variables: {', '.join(missing)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer")
                return default
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high}")
            return value

        try:
            oidc_trust = parse_trust(env.get("OIDC_TRUST"))
        except TrustConfigError as exc:
            problems.append(str(exc))
            oidc_trust = ()
        prefix = env.get("EXPORT_PREFIX", "exports/")
        settings = cls(
            task_queue_url=text("TASK_QUEUE_URL") or "",
            task_table=text("TASK_TABLE") or "",
            export_bucket=text("EXPORT_BUCKET"),
            export_prefix=prefix,
            notify_topic_arn=text("NOTIFY_TOPIC_ARN"),
            notify_on_success=(text("NOTIFY_ON_SUCCESS") or "false").lower() in ("1", "true", "yes", "on"),
            notify_on_drift=(text("NOTIFY_ON_DRIFT") or "true").lower() in ("1", "true", "yes", "on"),
            huawei_credentials_secret_id=text("HUAWEI_CREDENTIALS_SECRET_ID"),
            webhook_secret_id=text("WEBHOOK_SECRET_ID"),
            apig_endpoint=text("APIG_ENDPOINT"),
            huawei_region=text("HUAWEI_REGION") or DEFAULT_REGION,
            poll_min_delay_seconds=number("POLL_MIN_DELAY_SECONDS", 5, 0, 900),
            poll_max_delay_seconds=number("POLL_MAX_DELAY_SECONDS", 300, 0, 900),
            poll_max_wait_seconds=number("POLL_MAX_WAIT_SECONDS", 3600, 1, 604_800),
            oidc_trust=oidc_trust,
            callback_rules=CallbackRules.parse(env.get("CALLBACK_ALLOWED_HOSTS")),
        )
        if settings.poll_max_delay_seconds < settings.poll_min_delay_seconds:
            problems.append("POLL_MAX_DELAY_SECONDS must not be below POLL_MIN_DELAY_SECONDS")
        if problems:
            raise ConfigError("; ".join(problems))
        return settings
