"""Atomic DynamoDB requests in moto: a deliberate fix of a moto weakness, installed by the local stack.

DynamoDB evaluates a write's ConditionExpression and applies the write as one atomic step, and a
strongly consistent read sees every write acknowledged before it. The poller's exactly-once effects
rest on that (the `attempts` fence in taskwatch/domain/watcher.py: of two deliveries claiming the
same poll, exactly one may win).

moto does not provide it. Its server answers each request on its own thread, and its DynamoDB
backend checks a condition, then validates and applies the update expression, with no lock: two
threads can both pass the same condition and both write (tests/integration/test_concurrency.py shows
it). Under load it can even fail outright, one thread deep-copying an item while another adds
attributes to it ("dictionary changed size during iteration"), or answer a lost condition with a
half-written item.

The fix serialises every DynamoDB request the moto server answers with one lock, around the whole
request (moto's `DynamoHandler.call_action`) rather than the backend's write methods: the response
is built from live items (ReturnValues, ReturnValuesOnConditionCheckFailure, GetItem's answer), and
UpdateItem reads the old item and writes the new one in two backend calls, so only a lock around the
request makes a condition check, its write and the answer one step. A single lock is stronger than
DynamoDB's per-item isolation, and costs nothing at the local stack's request rates.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_MARK = "_taskwatch_atomic_original"


def install() -> None:
    """Serialise moto's DynamoDB requests. Idempotent; affects every moto server in this process."""
    from moto.dynamodb.responses import DynamoHandler

    if hasattr(DynamoHandler.call_action, _MARK):
        return
    original: Callable[..., Any] = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    setattr(call_action, _MARK, original)
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own behaviour (to show what the lock prevents)."""
    from moto.dynamodb.responses import DynamoHandler

    original = getattr(DynamoHandler.call_action, _MARK, None)
    if original is not None:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


def installed() -> bool:
    from moto.dynamodb.responses import DynamoHandler

    return hasattr(DynamoHandler.call_action, _MARK)
