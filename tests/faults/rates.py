"""Frame rates as the peers' own statistics lines show them."""

from __future__ import annotations

import itertools

from tests.faults.programs import Program, Stats


def received_rates(viewer: Program, start_s: float, end_s: float) -> list[float]:
    """Frames received per second between consecutive statistics lines in the window.

    The line just before `start_s` is included, so the first interval covers the start.
    """
    samples = [s for s in viewer.stats if s["_at"] <= end_s]
    first = max(
        0, next((i for i, s in enumerate(samples) if s["_at"] >= start_s), len(samples)) - 1
    )
    window = samples[first:]
    return [
        (later["frames_received"] - earlier["frames_received"]) / (later["t"] - earlier["t"])
        for earlier, later in itertools.pairwise(window)
        if later["t"] > earlier["t"]
    ]


def source_rate(source: Program, start_s: float, end_s: float) -> float:
    """The source's mean sending rate (its fps) over the window."""
    rates = [float(s["fps"]) for s in source.stats_between(start_s, end_s)]
    return sum(rates) / len(rates) if rates else 0.0


def frame_rate_floor(viewer: Program, source: Program, start_s: float, end_s: float) -> float:
    """The lowest 1 s receiving rate of `viewer` in the window, as a share of the source's."""
    rates = received_rates(viewer, start_s, end_s)
    sent = source_rate(source, start_s, end_s)
    assert rates and sent > 0, f"no statistics from {viewer.name} or the source in the window"
    return min(rates) / sent


def latest_at(program: Program, at_s: float) -> Stats | None:
    """The newest statistics line that had arrived by `at_s`."""
    found = None
    for stats in program.stats:
        if stats["_at"] > at_s:
            break
        found = stats
    return found
