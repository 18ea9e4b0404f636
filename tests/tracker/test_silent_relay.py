"""Children's reports of a silent relay: evidence enough to declare it gone at once."""

from __future__ import annotations

import protocol as p
from tests.tracker.test_room import join, room_of, sent
from tracker.actions import Action, Close
from tracker.room import Room


def silent(parent: str) -> p.ParentLost:
    return p.ParentLost(parent=parent, reason=p.LossReason.SILENT, detail="nothing for 1.5 s")


def closed(actions: list[Action], key: str) -> bool:
    return any(isinstance(a, Close) and a.to == key for a in actions)


def frozen_relay_room() -> Room:
    """cam (2 slots) holds relay and side; relay holds a and b. Everyone heartbeats at 0.

    Everyone offers two slots: a viewer offering fewer would give its place to a or b.
    """
    room = room_of(2, relay=3, side=2, a=2, b=2)
    assert room.tree["a"].parent == room.tree["b"].parent == "relay"
    return room


def beat(room: Room, key: str, now: float) -> None:
    room.heartbeat(key, p.Heartbeat(seq=int(now * 10), stats=p.PeerStats()), now)


def test_one_report_and_a_missed_heartbeat_declare_the_relay_gone() -> None:
    room = frozen_relay_room()
    for key in ("cam", "side", "a", "b"):
        beat(room, key, 1.8)  # everyone but the relay (frozen since about 0.3 s)
    actions = room.parent_lost("a", silent("relay"), 1.8)
    assert closed(actions, "relay")
    assert "relay" not in room.tree
    # The source still holds the frozen relay's link: it is told to let it go.
    [gone] = sent(actions, "cam", p.ChildDropped)
    assert gone.child == "relay" and gone.reason is p.DropReason.GONE
    # Its slot under the source is free again and its children have parents.
    assert room.tree["a"].depth is not None and room.tree["b"].depth is not None
    assert sent(actions, "a", p.Assign) or sent(actions, "b", p.Assign)


def test_one_report_against_a_relay_that_heartbeats_is_not_enough() -> None:
    room = frozen_relay_room()
    for key in ("cam", "relay", "side", "a", "b"):
        beat(room, key, 1.8)
    actions = room.parent_lost("a", silent("relay"), 1.8)
    assert not closed(actions, "relay")
    assert room.tree["b"].parent == "relay"  # only the reporter moves
    assert room.tree["a"].parent != "relay"


def test_two_children_reporting_declare_it_gone_even_while_it_heartbeats() -> None:
    room = frozen_relay_room()
    for key in ("cam", "relay", "side", "a", "b"):
        beat(room, key, 1.8)
    room.parent_lost("a", silent("relay"), 1.8)
    actions = room.parent_lost("b", silent("relay"), 2.0)
    assert closed(actions, "relay")
    assert "relay" not in room.tree


def test_reports_against_the_source_never_end_the_stream() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=2)
    join(room, "a")
    join(room, "b")
    room.parent_lost("a", silent("cam"), 5.0)
    actions = room.parent_lost("b", silent("cam"), 5.0)
    assert not closed(actions, "cam")
    assert room.tree.source == "cam"
