"""The one-way estimate is the path's own delay: queueing on a saturated uplink does not
inflate latency_ms, and a genuinely longer path shows within the minimum's window."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer.stats import MIN_RTT_WINDOW_S, LatencyEstimate, PeerCounters, WindowedMinimum

PING_INTERVAL_S = 2.0  # as the parent follower pings while frames flow
PATH_US = 1_000  # what the frame header says of the path above the parent


def pinged(estimate: LatencyEstimate, rtts_ms: list[float], *, start_s: float = 0.0) -> float:
    """Feed one round trip per ping interval from start_s; return the time after the last."""
    now_s = start_s
    for rtt_ms in rtts_ms:
        estimate.observe_rtt(rtt_ms / 1000, now_s=now_s)
        now_s += PING_INTERVAL_S
    return now_s


def latency_now(estimate: LatencyEstimate) -> float:
    estimate.observe_frame(PATH_US)
    return estimate.latency_ms


def test_the_first_round_trip_is_the_minimum_and_the_smoothed_rtt() -> None:
    estimate = LatencyEstimate()
    assert latency_now(estimate) == pytest.approx(1.0)  # no round trip yet: the path alone
    estimate.observe_rtt(0.004, now_s=100.0)
    assert (estimate.rtt_ms, estimate.min_rtt_ms) == pytest.approx((4.0, 4.0))
    assert latency_now(estimate) == pytest.approx(1.0 + 2.0)


def test_pings_queued_behind_our_video_do_not_make_frames_late() -> None:
    estimate = LatencyEstimate()
    pinged(estimate, [2.0, 2.2, 80.0, 140.0, 95.0, 60.0])  # the uplink fills at 4 s

    assert estimate.rtt_ms > 40  # what the link feels like: queueing shows here...
    assert estimate.min_rtt_ms == pytest.approx(2.0)
    assert latency_now(estimate) == pytest.approx(1.0 + 1.0)  # ...and not here


def test_a_longer_path_shows_once_the_old_minimum_has_left_the_window() -> None:
    estimate = LatencyEstimate()
    moved_s = pinged(estimate, [2.0, 2.0, 2.0])  # then the route changes: 30 ms from now on
    seen_s = None
    now_s = moved_s
    while now_s <= moved_s + 2 * MIN_RTT_WINDOW_S:
        estimate.observe_rtt(0.030, now_s=now_s)
        if seen_s is None and estimate.min_rtt_ms == pytest.approx(30.0):
            seen_s = now_s
        now_s += PING_INTERVAL_S
    assert seen_s is not None
    # The last 2 ms round trip was at moved_s - 2 s: it counts for a whole window, no longer.
    assert moved_s - PING_INTERVAL_S + MIN_RTT_WINDOW_S < seen_s
    assert seen_s <= moved_s - PING_INTERVAL_S + MIN_RTT_WINDOW_S + PING_INTERVAL_S
    assert latency_now(estimate) == pytest.approx(1.0 + 15.0)


def test_a_shorter_path_shows_at_its_first_round_trip() -> None:
    estimate = LatencyEstimate()
    now_s = pinged(estimate, [30.0, 31.0, 29.5])
    estimate.observe_rtt(0.003, now_s=now_s)
    assert estimate.min_rtt_ms == pytest.approx(3.0)


@pytest.mark.parametrize("hostile_s", [math.nan, -0.001, math.inf, -math.inf])
def test_a_round_trip_that_is_no_time_at_all_is_ignored(hostile_s: float) -> None:
    estimate = LatencyEstimate()
    estimate.observe_rtt(0.005, now_s=0.0)
    estimate.observe_rtt(hostile_s, now_s=1.0)
    assert (estimate.rtt_ms, estimate.min_rtt_ms, estimate.rtt_samples) == (5.0, 5.0, 1)
    assert latency_now(estimate) == pytest.approx(1.0 + 2.5)


def test_a_new_parent_starts_a_new_minimum() -> None:
    counters = PeerCounters(name="ann", role="viewer", resolution="360p", parent="near")
    counters.latency.observe_rtt(0.001, now_s=0.0)
    counters.parent = "near"  # the same parent again: the same path
    counters.latency.observe_rtt(0.004, now_s=1.0)
    assert counters.latency.min_rtt_ms == pytest.approx(1.0)

    counters.parent = "far"
    assert counters.latency.min_rtt_ms == pytest.approx(1.0)  # until its first round trip
    counters.latency.observe_rtt(0.040, now_s=2.0)
    assert counters.latency.min_rtt_ms == pytest.approx(40.0)


def test_without_a_time_the_estimate_reads_the_monotonic_clock() -> None:
    estimate = LatencyEstimate()  # the parent follower's hook passes the round trip alone
    estimate.observe_rtt(0.006)
    estimate.observe_rtt(0.009)
    assert estimate.min_rtt_ms == pytest.approx(6.0)
    assert estimate.rtt_samples == 2


def test_an_empty_filter_has_no_minimum_and_a_reset_one_starts_over() -> None:
    window = WindowedMinimum(window_s=10.0)
    assert window.minimum == math.inf
    assert window.add(5.0, 3.0) == 3.0
    window.reset()
    assert window.minimum == math.inf
    assert window.add(6.0, 7.0) == 7.0


@pytest.mark.parametrize("window_s", [0.0, -1.0, math.nan, math.inf])
def test_a_window_must_be_a_positive_time(window_s: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        WindowedMinimum(window_s=window_s)


# Gaps between samples from "at once" to longer than a window; values with repeats.
gaps_s = st.one_of(st.just(0.0), st.floats(0.0, 25.0))
samples = st.lists(st.tuples(gaps_s, st.integers(0, 50)), min_size=1, max_size=120)


@given(samples=samples)
def test_the_minimum_is_never_stale_and_never_below_the_window(
    samples: list[tuple[float, int]],
) -> None:
    window_s = 10.0
    window = WindowedMinimum(window_s=window_s)
    seen: list[tuple[float, int]] = []
    now_s = 0.0
    for gap_s, value in samples:
        now_s += gap_s
        seen.append((now_s, value))
        minimum = window.add(now_s, value)
        assert minimum == window.minimum
        in_window = [v for t, v in seen if now_s - t <= window_s]
        # Never below what is still in the window (an expired best is gone)...
        assert minimum >= min(in_window)
        # ...and always the smallest of the samples since some time inside it, so
        # never above the newest one.
        suffix_minima = {
            min(v for _, v in seen[i:]) for i, (t, _) in enumerate(seen) if now_s - t <= window_s
        }
        assert minimum in suffix_minima
        assert minimum <= value
