"""The project's own error types. Callers decide on the type, never on message text."""

from __future__ import annotations


class TaskwatchError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidMessage(TaskwatchError):
    """A poll message or webhook body that does not follow the contract.

    `details` names every invalid or missing field, so one answer tells the caller all of it.
    """

    def __init__(self, details: list[str]) -> None:
        super().__init__("; ".join(details))
        self.details = details


class ApigError(TaskwatchError):
    """APIG answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.error_msg = message


class TransientApigError(ApigError):
    """Throttling, 5xx, timeouts, connection errors: try again later."""


class TaskNotFound(ApigError):
    """404 APIG.3093: the task does not exist."""


class Unauthorized(ApigError):
    """401/403: the credentials are wrong, expired or lack permission."""


class PermanentApigError(ApigError):
    """Any other 4xx: retrying the same request cannot help."""


class DependencyError(TaskwatchError):
    """One of the project's own AWS calls (S3, SNS, SQS, DynamoDB, Secrets Manager) failed.

    The poller reports the record as failed so SQS redelivers it.
    """


class CredentialsError(TaskwatchError):
    """The Huawei credentials are missing or malformed (a configuration problem, not a task outcome)."""
