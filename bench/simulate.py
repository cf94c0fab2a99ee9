"""Virtual-time simulators: 3. how well a poll schedule detects finished tasks, and 5. the APIG request rate of
a burst of tasks behind a fixed number of pollers. Seeded, no sleeping, no AWS."""

from __future__ import annotations

import heapq
import itertools
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import p

Schedule = Callable[[int, float, Callable[[], float]], int | None]  # (attempt, elapsed, random) -> delay


def policy_schedule(max_wait: int) -> Schedule:
    from taskwatch.domain.policy import PollPolicy

    policy = PollPolicy(max_wait=max_wait)

    def next_delay(attempt: int, elapsed: float, rnd: Callable[[], float]) -> int | None:
        return policy.delay_within_deadline(attempt, elapsed, 0.0, float(max_wait), rnd)

    return next_delay


def fixed_schedule(seconds: int) -> Schedule:
    return lambda attempt, elapsed, rnd: seconds


def watch(duration: float, schedule: Schedule, rnd: Callable[[], float]) -> tuple[float, int]:
    """(detection lag, APIG calls) for a task that finishes `duration` s after its first poll at 0."""
    now, attempt = 0.0, 1
    while now < duration:
        delay = schedule(attempt, now, rnd)
        if delay is None:
            return math.inf, attempt
        now += max(delay, 1)
        attempt += 1
    return now - duration, attempt


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


@dataclass
class BucketStats:
    low: float
    high: float
    n: int
    lag_p50: float
    lag_p95: float
    share_p50: float
    share_p95: float
    calls_mean: float
    calls_p95: float
    bound_p95: float  # p95 of lag / max(10 s, 10 % of the task's duration): the goal holds when <= 1


def bench_schedule(samples: int) -> dict[str, list[BucketStats]]:
    rng = random.Random(20260601)
    durations = [log_uniform(rng, 5, 3600) for _ in range(samples)]
    edges = [5 * (3600 / 5) ** (i / 6) for i in range(7)]
    policies = {
        "PollPolicy defaults (5/300 s)": policy_schedule(max_wait=7200),
        "fixed 10 s": fixed_schedule(10),
        "fixed 30 s": fixed_schedule(30),
    }
    result: dict[str, list[BucketStats]] = {}
    for name, schedule in policies.items():
        jitter = random.Random(7)
        observed = [(d, *watch(d, schedule, jitter.random)) for d in durations]
        buckets = []
        for low, high in itertools.pairwise(edges):
            rows = [(d, lag, calls) for d, lag, calls in observed if low <= d < high or (high == edges[-1] == d)]
            lags = [lag for _, lag, _ in rows]
            shares = [lag / d for d, lag, _ in rows]
            calls = [float(c) for _, _, c in rows]
            bound = [lag / lag_goal(d) for d, lag, _ in rows]
            buckets.append(
                BucketStats(
                    low,
                    high,
                    len(rows),
                    p(lags, 0.5),
                    p(lags, 0.95),
                    p(shares, 0.5),
                    p(shares, 0.95),
                    statistics.fmean(calls),
                    p(calls, 0.95),
                    p(bound, 0.95),
                )
            )
        result[name] = buckets
    return result


def lag_goal(duration: float) -> float:
    return max(10.0, 0.1 * duration)


def calls_for(duration: float, schedule: Schedule, runs: int = 200) -> float:
    jitter = random.Random(11)
    return statistics.fmean(watch(duration, schedule, jitter.random)[1] for _ in range(runs))


@dataclass
class Scale:
    per_second: list[int]
    peak_after_minute: int
    mean_after_minute: float
    last_second: int
    polls: int
    lag_p50: float
    lag_p95: float
    backlog_wait_p95: float


def bench_scale(tasks: int, pollers: int, service_s: float) -> Scale:
    """Event-driven: SQS hands each visible message to the first free poller; a poll holds the poller
    for `service_s` and calls APIG once at its start; a running task goes back with the policy's delay."""
    from taskwatch.domain.policy import PollPolicy

    policy = PollPolicy(max_wait=7200)
    rng, jitter = random.Random(5), random.Random(6)
    submitted = [rng.uniform(0, 60) for _ in range(tasks)]
    duration = [log_uniform(rng, 5, 3600) for _ in range(tasks)]
    # visible queue: (visible_at, seq, task, attempt, first_poll_at)
    ready: list[tuple[float, int, int, int, float]] = [(submitted[t], t, t, 1, math.nan) for t in range(tasks)]
    heapq.heapify(ready)
    free = [0.0] * pollers
    seq = tasks
    calls: Counter[int] = Counter()
    lags: list[float] = []
    waits: list[float] = []
    while ready:
        visible, _, task, attempt, first = heapq.heappop(ready)
        worker_free = heapq.heappop(free)
        start = max(visible, worker_free)
        waits.append(start - visible)
        first = start if math.isnan(first) else first
        calls[int(start)] += 1
        finish = start + service_s
        heapq.heappush(free, finish)
        done_at = submitted[task] + duration[task]
        if start >= done_at:
            lags.append(start - done_at)
            continue
        delay = policy.delay_within_deadline(attempt, start, first, first + policy.max_wait, jitter.random)
        if delay is None:
            continue
        seq += 1
        heapq.heappush(ready, (finish + delay, seq, task, attempt + 1, first))
    last = max(calls)
    series = [calls.get(s, 0) for s in range(last + 1)]
    after = series[60:] or [0]
    return Scale(
        series, max(after), statistics.fmean(after), last, sum(series), p(lags, 0.5), p(lags, 0.95), p(waits, 0.95)
    )
