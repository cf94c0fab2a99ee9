"""What the client says on stderr: progress and notes, all in one format with the elapsed time.

`[   12.3s] task 6f1e...: polling, import_api, attempts 3, next poll 2026-01-01T00:00:10Z`

A progress line that repeats the previous one is not written again; on a terminal progress rewrites
one line in place, in a CI log every change is its own line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class Console:
    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        try:
            self._tty = stream.isatty()
        except (AttributeError, ValueError):
            self._tty = False
        self._last = ""
        self._open = False  # a progress line is on the terminal without its newline
        self._width = 0

    def elapsed(self) -> float:
        return self._clock() - self._started

    def _stamp(self, message: str) -> str:
        return f"[{self.elapsed():7.1f}s] {message}"

    def progress(self, message: str) -> None:
        """The state of what is being waited for (written when it changes)."""
        if message == self._last:
            return
        self._last = message
        line = self._stamp(message)
        if self._tty:
            self._stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line))
            self._open = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def say(self, message: str) -> None:
        """A note that stays: a task started, a retry, where a file was written."""
        self._close_line()
        self._stream.write(self._stamp(message) + "\n")
        self._stream.flush()

    def raw(self, line: str) -> None:
        """A line as it is (GitHub workflow commands)."""
        self._close_line()
        self._stream.write(line + "\n")
        self._stream.flush()

    def error(self, message: str) -> None:
        """The one line an error exit writes."""
        self._close_line()
        self._stream.write(f"taskwatch: error: {' '.join(message.split())}\n")
        self._stream.flush()

    def _close_line(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._open = False
            self._width = 0
