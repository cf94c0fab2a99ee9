"""The poll policy: when to look at a task again, and when to give up.

The delay grows with the time the task has already run, so the detection lag stays within
max(2 x min delay, 10 % of the task's duration) while a long task costs few polls: a task that
finishes at time D is seen by the first poll after D, and every delay scheduled before D was at
most 10 % of the elapsed time (or the short-task floor). Jitter spreads a burst of tasks so their
polls do not reach APIG in synchronized waves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from taskwatch.domain.limits import SQS_MAX_DELAY_SECONDS

GROWTH = 0.10  # delay as a share of the time the task has run so far
JITTER_LOW = 0.75  # delays are drawn from [JITTER_LOW, 1] x the target


@dataclass(frozen=True)
class PollPolicy:
    min_delay: int = 5
    max_delay: int = 300
    max_wait: int = 3600

    def __post_init__(self) -> None:
        if not 0 <= self.min_delay <= SQS_MAX_DELAY_SECONDS:
            raise ValueError("min delay must be between 0 and 900 seconds")
        if not self.min_delay <= self.max_delay:
            raise ValueError("max delay must not be below min delay")
        if self.max_wait < 1:
            raise ValueError("max wait must be positive")

    @property
    def ceiling(self) -> int:
        return min(self.max_delay, SQS_MAX_DELAY_SECONDS)

    def deadline(self, first_poll_at: float, max_wait_seconds: int | None) -> float:
        return first_poll_at + (max_wait_seconds if max_wait_seconds is not None else self.max_wait)

    def next_delay(self, attempt: int, elapsed: float, random: Callable[[], float]) -> int:
        """Seconds until the next poll, after poll number `attempt` (1-based) at `elapsed` seconds.

        `random` returns a float in [0, 1); pass a seeded source for reproducible schedules.
        """
        if attempt <= 1:
            target = self.min_delay * (1.0 + 0.2 * random())
        else:
            floor = 2 * self.min_delay
            target = max(GROWTH * max(elapsed, 0.0), floor) * (JITTER_LOW + (1 - JITTER_LOW) * random())
        return int(min(max(math.floor(target), self.min_delay), self.ceiling))

    def delay_within_deadline(
        self, attempt: int, now: float, first_poll_at: float, deadline: float, random: Callable[[], float]
    ) -> int | None:
        """The next delay, shortened towards the deadline but never below the min delay (so the last
        poll lands at most one min delay after it); None once the deadline has passed."""
        remaining = deadline - now
        if remaining <= 0:
            return None
        delay = self.next_delay(attempt, now - first_poll_at, random)
        return max(self.min_delay, min(delay, math.ceil(remaining)))
