"""Exit codes and the one error type that ends a command with exit code 2."""

from __future__ import annotations

EXIT_SUCCEEDED = 0  # the outcome is `succeeded` (or a task was started / a watch accepted, without waiting)
EXIT_OUTCOME = 1  # any other outcome
EXIT_ERROR = 2  # usage, configuration, authentication or HTTP error
EXIT_TIMEOUT = 3  # still running when --timeout ran out


class CliError(Exception):
    """Ends the command with exit code 2: the message on stderr (one line) and as {"error": ...} on stdout."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id
