"""The poll policy: bounds, deadline and the lag it promises."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskwatch.domain.policy import PollPolicy

unit = st.floats(min_value=0, max_value=0.999999)


@given(
    min_delay=st.integers(0, 900),
    spread=st.integers(0, 900),
    attempt=st.integers(1, 10_000),
    elapsed=st.floats(min_value=0, max_value=10 * 604_800),
    r=unit,
)
def test_delay_stays_within_min_max_and_sqs_limit(
    min_delay: int, spread: int, attempt: int, elapsed: float, r: float
) -> None:
    policy = PollPolicy(min_delay, min(min_delay + spread, 2000), 3600)
    delay = policy.next_delay(attempt, elapsed, lambda: r)
    assert min_delay <= delay <= min(policy.max_delay, 900)


def test_first_re_poll_uses_the_min_delay() -> None:
    assert PollPolicy(5, 300, 3600).next_delay(1, 0.0, lambda: 0.0) == 5


@given(elapsed=st.floats(min_value=0, max_value=3600), r=unit, attempt=st.integers(2, 500))
def test_delay_keeps_detection_lag_within_ten_seconds_or_ten_percent(elapsed: float, r: float, attempt: int) -> None:
    # A task finishing just after a poll at `elapsed` is seen `delay` seconds later.
    delay = PollPolicy(5, 300, 3600).next_delay(attempt, elapsed, lambda: r)
    assert delay <= max(10.0, 0.1 * elapsed)


@given(now_offset=st.floats(min_value=0, max_value=7200), max_wait=st.integers(1, 3600), r=unit)
def test_polls_stop_at_the_deadline_and_never_overshoot_it_by_more_than_the_min_delay(
    now_offset: float, max_wait: int, r: float
) -> None:
    policy = PollPolicy(5, 300, 3600)
    first = 1_000_000.0
    deadline = policy.deadline(first, max_wait)
    delay = policy.delay_within_deadline(3, first + now_offset, first, deadline, lambda: r)
    if first + now_offset >= deadline:
        assert delay is None
    else:
        assert delay is not None and 5 <= delay <= 300
        assert first + now_offset + delay <= max(deadline + 1, first + now_offset + 5)


def test_message_deadline_overrides_the_default() -> None:
    policy = PollPolicy(5, 300, 3600)
    assert policy.deadline(100.0, None) == 3700.0
    assert policy.deadline(100.0, 60) == 160.0


def test_a_sixty_minute_task_costs_far_fewer_polls_than_fixed_thirty_seconds() -> None:
    policy, rng, elapsed, polls = PollPolicy(5, 300, 7200), random.Random(7), 0.0, 0
    while elapsed < 3600:
        polls += 1
        elapsed += policy.next_delay(polls, elapsed, rng.random)
    assert polls <= 120 / 2


@pytest.mark.parametrize(("low", "high"), [(-1, 10), (10, 5), (901, 950)])
def test_inconsistent_bounds_are_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError):
        PollPolicy(low, high, 3600)
