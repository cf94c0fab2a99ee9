"""Server lifecycle: serve HTTP from background threads, start only once accepting, stop promptly and free the port."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import HTTPServer
from socketserver import BaseRequestHandler
from typing import Any

HandlerFactory = Callable[[Any, Any, "ConnectionTrackingServer"], BaseRequestHandler]

#: How long stop() lets answers already being written finish before it cuts their connections.
ANSWER_GRACE_SECONDS = 1.0
JOIN_SECONDS = 5.0


class ConnectionTrackingServer(HTTPServer):
    """Serves each connection in its own daemon thread and tracks them, so stop() need not wait for idle clients."""

    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: HandlerFactory) -> None:
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._answering: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._closing = False
        super().__init__(address, handler)

    @property
    def closing(self) -> bool:
        """Set by :meth:`close_idle_connections`: connections close after the answer in progress."""
        with self._lock:
            return self._closing

    @contextlib.contextmanager
    def answering(self, connection: socket.socket) -> Iterator[None]:
        """Mark a connection as writing an answer, which :meth:`close_idle_connections` lets finish."""
        with self._lock:
            self._answering.add(connection)
        try:
            yield
        finally:
            with self._lock:
                self._answering.discard(connection)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="apig-emulator-conn", daemon=True
        )
        with self._lock:
            self._connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Broken connections (clients timing out, stop() closing sockets) are expected here.
        return

    def close_idle_connections(self) -> None:
        with self._lock:
            self._closing = True
            for connection in self._connections - self._answering:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def close_connections(self) -> None:
        with self._lock:
            self._closing = True
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class BackgroundServer:
    """Runs a :class:`ConnectionTrackingServer` on ``host:port`` (0 picks a free port) from a background thread.

    ``stopping`` is set first thing in :meth:`stop`, so handlers waiting on it answer at once.
    """

    def __init__(self, handler: HandlerFactory, host: str, port: int, stopping: threading.Event) -> None:
        self._handler = handler
        self._address = (host, port)
        self._stopping = stopping
        self._server: ConnectionTrackingServer | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._url = ""

    def start(self) -> str:
        """Start accepting; returns the base URL ``http://<host>:<port>`` once connections are being accepted."""
        if self._server is not None:
            return self._url
        self._stopping.clear()
        server = ConnectionTrackingServer(self._address, self._handler)
        wake = socket.socketpair()
        accepting = threading.Event()
        thread = threading.Thread(
            target=self._accept_loop, args=(server, wake[0], accepting), name="apig-emulator", daemon=True
        )
        self._server, self._thread, self._wake = server, thread, wake
        thread.start()
        if not accepting.wait(JOIN_SECONDS):
            self.stop()
            raise RuntimeError("the emulator did not start accepting connections")
        host, port = server.server_address[:2]
        self._url = f"http://{host if isinstance(host, str) else host.decode()}:{port}"
        return self._url

    def stop(self) -> None:
        """Stop accepting, let answers in progress finish, close every connection and free the port."""
        server, thread, wake = self._server, self._thread, self._wake
        if server is None:
            return
        self._stopping.set()
        if wake is not None:
            wake[1].send(b"\0")
        if thread is not None:
            thread.join(JOIN_SECONDS)
        server.server_close()
        server.close_idle_connections()
        server.join_handlers(ANSWER_GRACE_SECONDS)
        server.close_connections()
        server.join_handlers(JOIN_SECONDS)
        if wake is not None:
            for end in wake:
                end.close()
        self._server, self._thread, self._wake = None, None, None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @staticmethod
    def _accept_loop(server: ConnectionTrackingServer, wake: socket.socket, accepting: threading.Event) -> None:
        # Our own loop instead of serve_forever(): a wake-up socket makes stop() immediate rather than a poll away.
        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            accepting.set()
            while True:
                for key, _ in selector.select():
                    if key.fileobj is wake:
                        return
                    _accept_one(server)


def _accept_one(server: ConnectionTrackingServer) -> None:
    try:
        request, client_address = server.get_request()
    except OSError:
        return
    try:
        server.process_request(request, client_address)
    except Exception:
        server.handle_error(request, client_address)
        server.shutdown_request(request)
