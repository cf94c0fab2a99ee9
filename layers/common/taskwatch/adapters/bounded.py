"""One deadline for a whole HTTP exchange, whatever the server's pace (APIG reads, callback deliveries)."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class Watchdog:
    """Shuts the guarded socket down when the deadline passes: every blocked read returns at once, so no
    pace of the server (a byte every few seconds, in headers or body) can stretch the exchange."""

    def __init__(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.expired = False

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def guard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired:
            self._shutdown(sock)

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
