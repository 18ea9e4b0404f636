"""The slots a peer offers grow only on proof and fall at once on starvation (pure)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from peer.capacity import (
    ADDITIVE_PROVE_S,
    FIRST_VIEWER_SLOTS,
    MAX_UTILISATION,
    PROVE_S,
    REPROBE_AFTER_SHED_S,
    SlotEstimate,
)


def serve_full(
    estimate: SlotEstimate,
    start_s: float,
    seconds: float,
    step_s: float = 0.5,
    utilisation: float = 0.1,
) -> float:
    """Every slot in use, nothing lost and the writers blocked `utilisation` of the time,
    for `seconds`; returns the time reached."""
    now = start_s
    blocked = 0.0
    while now < start_s + seconds:
        estimate.observe(now, children=estimate.slots, frames_dropped=0, send_blocked_s=blocked)
        blocked += utilisation * step_s * estimate.slots
        now += step_s
    return now


def test_a_viewer_starts_conservative_and_grows_while_it_proves_itself() -> None:
    estimate = SlotEstimate.for_viewer(ceiling=5)
    assert estimate.slots == FIRST_VIEWER_SLOTS
    seen = [estimate.slots]
    now = 0.0
    for _ in range(4):
        now = serve_full(estimate, now, PROVE_S + 0.5)
        seen.append(estimate.slots)
    assert seen == [2, 3, 4, 5, 5], "one more a second, up to the ceiling"


def test_an_upload_near_its_limit_takes_no_more_children() -> None:
    estimate = SlotEstimate.for_viewer(ceiling=8)
    # Two children keep the writers blocked 70% of the time: a third would need 105%.
    serve_full(estimate, 0.0, 20.0, utilisation=0.7)
    assert estimate.slots == 2
    assert MAX_UTILISATION < 0.7 * 3 / 2


def test_under_a_cap_its_busy_time_is_the_utilisation() -> None:
    # Two children fill a capped uplink to 90% though no writer ever blocked (the cap's
    # buffer took every frame at once): a third would need 135%.
    estimate = SlotEstimate.for_viewer(ceiling=8)
    for tick in range(40):
        now = tick * 0.5
        estimate.observe(now, children=2, frames_dropped=0, upload_busy_s=0.9 * now)
    assert estimate.slots == 2
    roomy = SlotEstimate.for_viewer(ceiling=8)
    for tick in range(8):
        now = tick * 0.5
        roomy.observe(now, children=roomy.slots, frames_dropped=0, upload_busy_s=0.1 * now)
    assert roomy.slots > 2, "a cap with room grows as before"


def test_idle_slots_prove_nothing() -> None:
    estimate = SlotEstimate.for_viewer(ceiling=8)
    for tick in range(40):
        estimate.observe(tick * 0.5, children=1, frames_dropped=0)
    assert estimate.slots == FIRST_VIEWER_SLOTS


def test_loss_and_a_busy_cpu_hold_growth_back() -> None:
    estimate = SlotEstimate.for_viewer(ceiling=8)
    for tick in range(40):
        estimate.observe(tick * 0.5, children=2, frames_dropped=tick)  # a frame lost each look
    assert estimate.slots == 2
    for tick in range(40, 80):
        estimate.observe(tick * 0.5, children=2, frames_dropped=40, cpu_behind=True)
    assert estimate.slots == 2


def test_a_shed_falls_at_once_then_probes_one_slot_at_a_time() -> None:
    estimate = SlotEstimate.for_viewer(ceiling=10)
    now = serve_full(estimate, 0.0, 10 * (PROVE_S + 0.5))
    assert estimate.slots == 10
    assert estimate.shed(now, keep=3) == 3
    changes: list[tuple[float, int]] = []
    step_s = 0.5
    for tick in range(int(60 / step_s)):
        at = now + tick * step_s
        before = estimate.slots
        if estimate.observe(at, children=estimate.slots, frames_dropped=0) != before:
            changes.append((at - now, estimate.slots))
    assert changes[0][0] >= REPROBE_AFTER_SHED_S, "what the upload carried stands a while"
    assert [slots for _, slots in changes] == list(range(4, 4 + len(changes))), "one at a time"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(changes)]
    assert all(gap >= ADDITIVE_PROVE_S for gap in gaps)


def test_a_source_starts_at_its_fanout() -> None:
    estimate = SlotEstimate.fixed(5)
    assert estimate.slots == 5
    assert estimate.shed(0.0, keep=2) == 2
    serve_full(estimate, 0.0, REPROBE_AFTER_SHED_S + 4 * ADDITIVE_PROVE_S)
    assert 2 < estimate.slots <= 5


def test_a_leaf_stays_a_leaf() -> None:
    estimate = SlotEstimate.for_viewer(ceiling=0)
    serve_full(estimate, 0.0, 20.0)
    assert estimate.slots == 0


@given(
    ceiling=st.integers(0, 64),
    looks=st.lists(
        st.tuples(st.integers(0, 64), st.booleans(), st.booleans(), st.integers(0, 64)),
        max_size=60,
    ),
)
def test_slots_stay_within_zero_and_the_ceiling(
    ceiling: int, looks: list[tuple[int, bool, bool, int]]
) -> None:
    estimate = SlotEstimate.for_viewer(ceiling)
    dropped = 0
    for index, (children, lose, shed, keep) in enumerate(looks):
        now = index * 0.5
        dropped += lose
        if shed:
            before = estimate.slots
            assert estimate.shed(now, keep) == min(before, keep)
        slots = estimate.observe(now, children=children, frames_dropped=dropped)
        assert 0 <= slots <= ceiling


def test_a_probe_raises_or_lowers_the_slots_but_never_makes_a_leaf_alone() -> None:
    # A probe that read less than one stream (a long path's window, a loss on the way)
    # leaves one slot: only a child that really starves makes the viewer a leaf.
    assert SlotEstimate.for_viewer(ceiling=8).probed(8) == 8
    assert SlotEstimate.for_viewer(ceiling=8).probed(1) == 1
    assert SlotEstimate.for_viewer(ceiling=8).probed(0) == 1
    assert SlotEstimate.for_viewer(ceiling=0).probed(0) == 0
    assert SlotEstimate.for_viewer(ceiling=3).probed(50) == 3
