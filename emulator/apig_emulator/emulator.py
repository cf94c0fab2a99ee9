"""``ApigEmulator``: the emulator's public face, wiring authentication, tasks, routing and the server together."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from .answers import ScriptedAnswer
from .auth import Authenticator
from .handler import RequestHandler
from .recording import RecordedRequest, RequestLog
from .routes import Router
from .server import BackgroundServer
from .tasks import TaskStore


class ApigEmulator:
    """Emulates APIG's async import/export task API on ``127.0.0.1``.

    ``clock`` drives task progress and the X-Sdk-Date skew check (so a fake clock should start
    near the real time when SDK-signed requests are used).
    """

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        temporary: Mapping[str, tuple[str, str]] | None = None,
        tokens: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        waiting_seconds: float = 1.0,
        processing_seconds: float = 2.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock
        self.url = ""
        self._stopping = threading.Event()
        self._auth = Authenticator(credentials, temporary, tokens, clock)
        self._tasks = TaskStore(clock, waiting_seconds, processing_seconds)
        self._log = RequestLog()
        router = Router(self._auth, self._tasks, self._stopping)
        handler = functools.partial(RequestHandler, router=router, log=self._log, clock=clock)
        self._server = BackgroundServer(handler, host, port, self._stopping)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a background thread; returns the base URL ``http://127.0.0.1:<port>``."""
        self.url = self._server.start()
        return self.url

    def stop(self) -> None:
        """Stop serving: finish answers in progress, close every connection, free the port, join the threads."""
        self._server.stop()

    @property
    def port(self) -> int:
        return self._server.port

    def __enter__(self) -> ApigEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (used by ``python -m apig_emulator``)."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    # -- configuration -----------------------------------------------------------------------------
    @property
    def waiting_seconds(self) -> float:
        return self._tasks.waiting_seconds

    @waiting_seconds.setter
    def waiting_seconds(self, seconds: float) -> None:
        self._tasks.waiting_seconds = seconds

    @property
    def processing_seconds(self) -> float:
        return self._tasks.processing_seconds

    @processing_seconds.setter
    def processing_seconds(self, seconds: float) -> None:
        self._tasks.processing_seconds = seconds

    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        """Replace the accepted permanent AK/SK pairs (temporary credentials are kept)."""
        self._auth.set_credentials(credentials)

    def set_temporary(self, temporary: Mapping[str, tuple[str, str]]) -> None:
        """Replace the accepted temporary credentials ``{AK: (SK, security_token)}``."""
        self._auth.set_temporary(temporary)

    def set_tokens(self, tokens: Iterable[str]) -> None:
        """Replace the accepted X-Auth-Token values."""
        self._auth.set_tokens(tokens)

    def script(
        self,
        task_id: str,
        answers: list[ScriptedAnswer],
        task_type: str = "export_api",
        project_id: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        """Script a task: each GET consumes the next answer; the last answer repeats forever.

        ``project_id``/``instance_id`` of ``None`` match any value in the path.
        """
        self._tasks.script(task_id, answers, task_type, project_id, instance_id)

    def create_task(
        self,
        task_type: str,
        project_id: str,
        instance_id: str,
        outcome: ScriptedAnswer | None = None,
    ) -> str:
        """Create a task that is waiting, then processing, then answers ``outcome``.

        The default outcome is an empty import report (import_api) or a generated export (export_api).
        Returns the new task id (32 hex characters).
        """
        return self._tasks.create(task_type, project_id, instance_id, outcome)

    # -- inspection ------------------------------------------------------------------------------
    def calls(self, task_id: str) -> int:
        """How many GETs (that passed authentication) reached this task."""
        return self._tasks.calls(task_id)

    def wait_for_calls(self, task_id: str, count: int, timeout: float) -> bool:
        """Block until ``calls(task_id) >= count``; ``False`` if ``timeout`` seconds passed first.

        A GET is counted before a slow answer starts waiting, so this also tells that it is waiting.
        """
        return self._tasks.wait_for_calls(task_id, count, timeout)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the answered requests, oldest first."""
        return self._log.snapshot()

    def task_status(self, task_id: str) -> str:
        """The task's current state.

        Created tasks: computed from the clock (``waiting``/``processing``/``succeed``/``failed``).
        Scripted tasks: the state of the answer given last (or of the first answer before any GET);
        HTTP-level answers report ``error:<status>`` / ``raw:<status>``. Unknown task: ``KeyError``.
        """
        return self._tasks.status(task_id)
