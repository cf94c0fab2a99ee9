"""`taskwatch demo`: the whole pipeline on this machine, told as a CI story.

A pipeline starts three APIG tasks over HTTP (an export, an import with one failing API, an
import of a definition APIG rejects), hands each to the webhook as CI would (`taskwatch submit`'s
own client, Standard Webhooks signatures), and follows them through the status API while the real
poller polls the APIG emulator with real (demo-scale) delays. The summary shows where the export
landed, the notifications a subscriber received and the status API's answers; the exit code says
whether the story ended as scripted.

`story` is the script, `run` plays it against the local stack, `checks` decides whether it ended as
scripted, `render` writes what is seen, `command` is the subcommand.
"""

from __future__ import annotations

from taskwatch_local.demo.command import register
from taskwatch_local.demo.story import ORDERS_SWAGGER

# `register` is what cli.py looks up on every subcommand module; local_up reuses the orders definition.
__all__ = ["ORDERS_SWAGGER", "register"]
