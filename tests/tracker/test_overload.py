"""A parent whose upload cannot carry its children says so; the tracker believes it."""

from __future__ import annotations

import protocol as p
from tests.tracker.test_room import join, sent
from tracker.room import Room


def overloaded_relay() -> Room:
    """cam (fanout 1) -> relay (3 slots) -> a, b, c (2 slots each)."""
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=1)
    join(room, "relay", capacity=3)
    for name in "abc":
        join(room, name, capacity=2)
    assert [room.tree[n].parent for n in "abc"] == ["relay"] * 3
    return room


def test_a_child_let_go_for_overload_lowers_its_parents_capacity() -> None:
    room = overloaded_relay()
    actions = room.child_dropped(
        "relay", p.ChildDropped(child="c", reason=p.DropReason.OVERLOADED), 1.0
    )
    assert room.tree["relay"].capacity == 2
    assert room.members["relay"].max_children == 2
    (assign,) = sent(actions, "c", p.Assign)
    assert assign.parent.name in ("a", "b")
    # No newcomer is put in the slot the relay gave up.
    join(room, "d", now=2.0, capacity=0)
    assert room.tree["d"].parent != "relay"
    status = {peer.name: peer for peer in room.status().peers}
    assert status["relay"].max_children == 2


def test_capacity_drops_even_when_the_child_reported_the_loss_first() -> None:
    room = overloaded_relay()
    room.parent_lost("c", p.ParentLost(parent="relay", reason=p.LossReason.CLOSED), 1.0)
    new_parent = room.tree["c"].parent
    assert new_parent in ("a", "b")
    room.child_dropped("relay", p.ChildDropped(child="c", reason=p.DropReason.OVERLOADED), 1.1)
    assert room.tree["relay"].capacity == 2
    assert room.tree["c"].parent == new_parent


def test_other_reasons_leave_the_capacity_alone() -> None:
    room = overloaded_relay()
    room.child_dropped("relay", p.ChildDropped(child="c", reason=p.DropReason.STALLED), 1.0)
    assert room.tree["relay"].capacity == 3


def test_a_peer_cannot_lower_anyone_elses_capacity() -> None:
    room = overloaded_relay()
    room.child_dropped("a", p.ChildDropped(child="b", reason=p.DropReason.OVERLOADED), 1.0)
    assert room.tree["relay"].capacity == 3
    assert room.tree["b"].parent == "relay"
