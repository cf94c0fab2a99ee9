"""The ports: what the domain needs from the outside world, as Protocols.

Each has one real adapter (taskwatch.adapters) and one in-memory fake (tests/fakes.py); both pass
the same contract tests, so a fake cannot drift from the adapter it stands in for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from taskwatch.domain.credentials import HuaweiCredentials
from taskwatch.domain.identity import Caller
from taskwatch.domain.model import PollMessage, TaskState
from taskwatch.domain.notifications import Notification
from taskwatch.domain.records import Baseline, BaselineScope, ClaimResult, Decision, TaskRecord


class TaskReader(Protocol):
    """APIG's async-task API: one read of a task's state."""

    def get_task(self, message: PollMessage) -> TaskState: ...


class ExportStore(Protocol):
    """Where exports and import reports are kept (S3)."""

    bucket: str

    def put(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> bool:
        """Store the object once: False (and nothing written) when the key already holds one."""
        ...

    def get(self, key: str) -> bytes:
        """An object stored before (a baseline export, for the drift report); KeyError when it is gone."""
        ...


class Baselines(Protocol):
    """Per (instance, group, environment): the newest successful export, which the next one is compared with."""

    def get(self, scope: BaselineScope) -> Baseline | None: ...

    def advance(self, scope: BaselineScope, baseline: Baseline) -> bool:
        """Make `baseline` the pointer unless a newer export already is (ordered by Baseline.order)."""
        ...


class QueueMessage(Protocol):
    """A poll or a callback delivery: told apart by their bodies."""

    def to_json(self) -> str: ...


class PollQueue(Protocol):
    """The poll queue (SQS): the first poll, every re-poll and every callback delivery travel on it."""

    def send(self, message: QueueMessage, *, delay_seconds: int) -> str: ...


class DeadLetters(Protocol):
    """The poll queue's dead-letter queue, for messages that can never be handled."""

    def dead_letter(self, body: str, reason: str) -> bool: ...


class Notifier(Protocol):
    """The notification topic (SNS)."""

    def publish(self, notification: Notification) -> str: ...


class TaskRecords(Protocol):
    """The task table (DynamoDB): one record per watch, and the fences of the exactly-once protocol."""

    def claim(
        self,
        message: PollMessage,
        *,
        claim_id: str,
        now: float,
        lease_until: float,
        next_poll_at: float,
        first_poll_at: float,
        deadline: float,
    ) -> ClaimResult:
        """Advance `attempts` from message.attempt to message.attempt + 1, if nobody did yet."""
        ...

    def take_over(self, task_id: str, *, claim_id: str, now: float, lease_until: float) -> bool:
        """Renew an expired lease of `claim_id` (resuming a crashed delivery); False if still held."""
        ...

    def finish(self, task_id: str, *, claim_id: str, now: float, decision: Decision, notified: bool) -> None:
        """Write the outcome. Raises Fenced when the claim moved on."""
        ...

    def release(self, task_id: str, *, claim_id: str, now: float) -> None:
        """End the lease early and note that no successor is in flight (after a failed AWS call)."""
        ...

    def mark_notified(self, task_id: str, *, claim_id: str, now: float) -> None: ...

    def get(self, task_id: str) -> TaskRecord | None: ...

    def create_queued(self, message: PollMessage, *, now: float, caller: Caller | None = None) -> ClaimResult:
        """Record a new watch as `queued` (with the CI job that asked, if a token did); lost (with the
        existing record) when the task is already watched."""
        ...


class KeySource(Protocol):
    """The webhook's shared key: its current and previous versions."""

    def current(self) -> Sequence[str]:
        """The keys a signature may match (the current one first)."""
        ...

    def refresh(self) -> bool:
        """Read the keys again; False when they were read too recently to be worth it."""
        ...


class TokenVerifier(Protocol):
    """CI identity tokens (OpenID Connect), checked against the trust rules."""

    @property
    def enabled(self) -> bool: ...

    def verify(self, token: str) -> Caller:
        """The job the token proves; raises AuthFailed."""
        ...


class TokenLedger(Protocol):
    """Remembers used token ids until they expire."""

    def use_once(self, token_key: str, *, expires_at: float) -> bool:
        """True the first time `token_key` is seen; False for a replay."""
        ...


class CredentialSource(Protocol):
    """Huawei Cloud credentials for signing APIG requests."""

    def get(self, *, refresh: bool = False) -> HuaweiCredentials: ...
