"""The whole pipeline on one machine, started and stopped as one thing.

moto's server (AWS), the stack's resources created from template.yaml's settings, the APIG
emulator, the local HTTP API in front of the real webhook handler and the SQS event source
driving the real poller handler. The functions' environment variables are set in this process
(the handlers read them, as in Lambda) and restored on exit.
"""

from __future__ import annotations

import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

from apig_emulator import ApigEmulator
from taskwatch import wiring
from taskwatch_local.event_source import SqsEventSource
from taskwatch_local.http_api import LocalHttpApi
from taskwatch_local.stack import LocalAws, StackSettings, aws_emulator, create_stack
from taskwatch_local.template_resources import TemplateStack, read_template_stack

# Demo scale: what differs from template.yaml, and only this.
DEMO_MIN_DELAY, DEMO_MAX_DELAY = 1, 3
DEMO_FUNCTION_TIMEOUT, DEMO_VISIBILITY_TIMEOUT = 5.0, 10
PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
INSTANCE_ID = "eddc4d25480b4cd6b512f270a1b8b341"
QUIET_LOGGERS = ("taskwatch-poller", "taskwatch-webhook")


@dataclass(frozen=True)
class DemoScale:
    """The settings the local run overrides, with the template's values, for saying so on screen."""

    template: StackSettings
    local: StackSettings

    def changes(self) -> list[str]:
        names = (
            ("poll_min_delay_seconds", "PollMinDelaySeconds", "s"),
            ("poll_max_delay_seconds", "PollMaxDelaySeconds", "s"),
            ("function_timeout", "poller Timeout", "s"),
            ("visibility_timeout", "poll queue VisibilityTimeout", "s"),
        )
        return [
            f"{label}: {getattr(self.template, field):g}{unit} in template.yaml -> {getattr(self.local, field):g}{unit}"
            for field, label, unit in names
            if getattr(self.template, field) != getattr(self.local, field)
        ]


def demo_scale(template: TemplateStack | None = None) -> DemoScale:
    from_template = (template or read_template_stack()).settings
    local = replace(
        from_template,
        poll_min_delay_seconds=DEMO_MIN_DELAY,
        poll_max_delay_seconds=DEMO_MAX_DELAY,
        function_timeout=DEMO_FUNCTION_TIMEOUT,
        visibility_timeout=DEMO_VISIBILITY_TIMEOUT,
    )
    return DemoScale(from_template, local)


@dataclass
class LocalEnvironment:
    stack: LocalAws
    apig: ApigEmulator
    webhook: LocalHttpApi
    source: SqsEventSource
    template: TemplateStack
    scale: DemoScale
    ak: str
    sk: str
    project_id: str = PROJECT_ID
    instance_id: str = INSTANCE_ID

    @property
    def aws_endpoint(self) -> str:
        return self.stack.endpoint

    @property
    def webhook_url(self) -> str:
        return self.webhook.url

    @property
    def apig_url(self) -> str:
        return self.apig.url


@contextmanager
def local_environment(
    *,
    waiting_seconds: float = 2.0,
    processing_seconds: float = 3.0,
    quiet: bool = True,
    template: TemplateStack | None = None,
) -> Iterator[LocalEnvironment]:
    """Start everything; stop everything (in reverse order) when the block ends, however it ends."""
    template = template or read_template_stack()
    scale = demo_scale(template)
    ak = "LOCAL" + secrets.token_hex(8).upper()
    sk = secrets.token_urlsafe(30)
    with aws_emulator() as endpoint, ExitStack() as stack_of_things:
        stack = create_stack(
            endpoint,
            settings=scale.local,
            huawei_credentials={"ak": ak, "sk": sk},
            name=f"taskwatch-{uuid.uuid4().hex[:6]}",
            resource_names={
                "queue": template.queue,
                "dead_letter_queue": template.dead_letter_queue,
                "bucket": template.bucket,
                "topic": template.topic,
                "table": template.table,
                "huawei_secret": template.huawei_secret,
                "webhook_secret": template.webhook_secret,
            },
        )
        apig = ApigEmulator(
            credentials={ak: sk}, waiting_seconds=waiting_seconds, processing_seconds=processing_seconds
        )
        apig.start()
        stack_of_things.callback(apig.stop)

        # Loaded before their loggers are quieted (Powertools creates them at import).
        poller_handler = template.handler(template.poller)
        webhook_handler = template.handler(template.webhook)
        stack_of_things.enter_context(_function_environment(stack.function_env(apig_endpoint=apig.url), quiet))

        webhook = LocalHttpApi(webhook_handler, function_name=template.webhook)
        webhook.start()
        stack_of_things.callback(webhook.stop)

        source = SqsEventSource(
            stack.client("sqs"),
            stack.queue_url,
            poller_handler,
            batch_size=scale.local.batch_size,
            function_timeout=scale.local.function_timeout,
            wait_seconds=1,
            function_name=template.poller,
        )
        source.start()
        stack_of_things.callback(source.stop)
        yield LocalEnvironment(stack, apig, webhook, source, template, scale, ak, sk)


@contextmanager
def _function_environment(env: dict[str, str], quiet: bool) -> Iterator[None]:
    extra = {"POWERTOOLS_METRICS_DISABLED": "true"} if quiet else {}
    saved = {key: os.environ.get(key) for key in {**env, **extra}}
    os.environ.update({**env, **extra})
    wiring.reset()
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    if quiet:
        # The handlers' JSON logs would drown the story; their outcomes are shown from the status API.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        wiring.reset()
