"""The CI client as the local stack, the demo and the tests use it: re-exported from taskwatch_cli.

`taskwatch submit`, `wait` and `status` live in the separately installable client (client/, the
`taskwatch-cli` package); this module keeps the names the local tooling imports.
"""

from __future__ import annotations

from typing import Any, TextIO

from taskwatch_cli.auth import DEFAULT_KEY_ENV
from taskwatch_cli.errors import CliError
from taskwatch_cli.waiting import RUNNING_STATUSES
from taskwatch_cli.webhook import HttpAnswer, WebhookClient, describe

__all__ = ["DEFAULT_KEY_ENV", "RUNNING_STATUSES", "CliError", "HttpAnswer", "WebhookClient", "submit_task"]


def submit_task(client: WebhookClient, message: dict[str, Any], *, err: TextIO) -> str:
    """POST the watch; returns the status URL. Raises CliError when the webhook refuses it."""
    answer = client.submit(message)
    if answer.status in (200, 202) and isinstance(answer.body, dict) and "status_url" in answer.body:
        return str(answer.body["status_url"])
    raise CliError(f"the webhook refused the watch: {describe(answer)}")
