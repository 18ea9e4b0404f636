"""The source sends frames on time, never drifts, and skips rather than lags after a stall."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer.pacing import PacingSchedule


def test_a_day_long_stream_does_not_drift() -> None:
    fps = 29.97
    start_s = 12_345.678
    schedule = PacingSchedule(fps=fps, start_s=start_s)
    for _ in range(100_000):
        assert schedule.sent(schedule.deadline()) == 0
    assert schedule.index == 100_000
    assert schedule.deadline() == pytest.approx(start_s + 100_000 / fps, rel=1e-9, abs=0)
    assert schedule.skipped == 0


def test_a_half_second_stall_skips_the_frames_whose_time_has_passed() -> None:
    schedule = PacingSchedule(fps=30.0, start_s=0.0)
    assert schedule.sent(0.0) == 0
    # Frame 1 was due at 1/30 s but only goes out at 0.5 s. Frames 2..15 were due at
    # 2/30 .. 15/30 = 0.5 s, all at or before now: 14 frames skipped. Frame 16 (0.533 s)
    # is the first whose time has not come, so it is sent next.
    assert schedule.sent(0.5) == 14
    assert schedule.index == 16
    assert schedule.deadline() == pytest.approx(16 / 30)
    assert schedule.skipped == 14
    # Back on schedule afterwards.
    assert schedule.sent(schedule.deadline()) == 0
    assert schedule.index == 17


def test_a_frame_sent_a_little_late_is_caught_up_without_skipping() -> None:
    schedule = PacingSchedule(fps=30.0, start_s=100.0)
    assert schedule.sent(100.0) == 0
    # Frame 1 goes out 0.9 of an interval late, still before frame 2 is due.
    assert schedule.sent(100.0 + 1.9 / 30) == 0
    assert schedule.deadline() == pytest.approx(100.0 + 2 / 30)
    # Frame 2 goes out 1.5 intervals late: frame 3 is already due, so it goes at once.
    late_s = 100.0 + 3.5 / 30
    assert schedule.sent(late_s) == 0
    assert schedule.index == 3
    assert schedule.deadline() == pytest.approx(100.0 + 3 / 30)
    assert schedule.deadline() < late_s
    assert schedule.sent(late_s + 0.001) == 0
    assert schedule.deadline() == pytest.approx(100.0 + 4 / 30)
    assert schedule.skipped == 0


@pytest.mark.parametrize("fps", [0.0, -30.0, math.inf, math.nan])
def test_a_frame_rate_that_is_not_a_positive_number_is_refused(fps: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        PacingSchedule(fps=fps, start_s=0.0)


def test_a_clock_far_from_zero_keeps_every_frame_within_one_interval() -> None:
    # Monotonic clocks read millions of seconds; at 4.35e6 s a frame sent exactly two
    # intervals late lands within rounding of the skip boundary (found by search).
    fps = 30.0
    schedule = PacingSchedule(fps=fps, start_s=4_351_028.346327276)
    for _ in range(392):
        schedule.sent(schedule.deadline())
    now_s = schedule.deadline() + 2 / fps
    schedule.sent(now_s)
    assert schedule.deadline() > now_s - 1 / fps
    assert schedule.index - schedule.skipped == 393


# A processing delay is either any time or a whole number of frame intervals, which puts
# the send time right on the skip boundary.
delays = st.one_of(st.floats(0.0, 2.0), st.integers(0, 4))


@given(
    fps=st.floats(1.0, 240.0),
    start_s=st.floats(0.0, 1e7),
    delays_s=st.lists(delays, min_size=1, max_size=300),
)
def test_any_processing_delays_keep_the_schedule_honest(
    fps: float, start_s: float, delays_s: list[float | int]
) -> None:
    schedule = PacingSchedule(fps=fps, start_s=start_s)
    now_s = start_s
    previous_deadline_s = -math.inf
    for delay in delays_s:
        deadline_s = schedule.deadline()
        assert deadline_s > previous_deadline_s
        previous_deadline_s = deadline_s
        delay_s = delay / fps if isinstance(delay, int) else delay
        now_s = max(now_s, deadline_s) + delay_s  # sleep until due, then encode and send
        skipped = schedule.sent(now_s)
        assert schedule.deadline() > now_s - 1 / fps
        if skipped:
            assert schedule.deadline() > now_s  # only frames already due were skipped
    assert schedule.index - schedule.skipped == len(delays_s)
    assert schedule.deadline() > previous_deadline_s
