"""Where the simulation runs its viewers: decoding spread evenly over the workers."""

from __future__ import annotations

from collections import Counter

import pytest

from peer.simulation.placement import place_viewer

MIX = "360p,480p,720p,1080p"


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_decoders_are_spread_evenly_over_the_workers(workers: int) -> None:
    placements = [place_viewer(i, workers, 0.05, MIX) for i in range(200 * workers)]
    viewers = Counter(p.worker for p in placements)
    decoders = Counter(p.worker for p in placements if p.decode)
    assert set(viewers.values()) == {200}
    assert set(decoders.values()) == {10}  # 5% of each worker's viewers


def test_the_decoders_take_every_resolution_of_the_mix() -> None:
    decoders = [p for i in range(640) if (p := place_viewer(i, 2, 0.05, MIX)).decode]
    assert Counter(p.resolution for p in decoders) == {r: 8 for r in MIX.split(",")}


def test_no_decoders_when_the_share_is_zero() -> None:
    assert not any(place_viewer(i, 2, 0.0, MIX).decode for i in range(100))


def test_a_fifth_of_a_hundred_viewers_decode_ten_on_each_of_two_workers() -> None:
    placements = [place_viewer(i, 2, 0.2, MIX) for i in range(100)]
    decoders = Counter(p.worker for p in placements if p.decode)
    assert decoders == {0: 10, 1: 10}
