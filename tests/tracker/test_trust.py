"""The Room hands out the stream key and stops trusting relays that tamper with frames."""

from __future__ import annotations

import protocol as p
from tests.tracker.test_room import hello, join, sent
from tracker.room import Room
from tracker.trust import TAMPER_REPORTS_TO_DISTRUST

KEY = "ab" * 256


def source_hello(name: str = "cam", capacity: int = 1) -> p.Hello:
    return p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        name=name,
        role="source",
        listen_port=1,
        max_children=capacity,
        stream_key=KEY,
    )


def tampered(parent: str, switched_to: str | None = None) -> p.ParentLost:
    return p.ParentLost(
        parent=parent,
        switched_to=switched_to,
        reason=p.LossReason.TAMPERED,
        detail="3 frames failed the signature",
    )


def test_every_assign_carries_the_sources_key_until_it_leaves() -> None:
    room = Room(recovery_window_s=0)
    room.hello(source_hello(), 0)
    (assign,) = sent(join(room, "v"), "v", p.Assign)
    assert assign.stream_key == KEY
    room.leave("cam", 1)
    assert room.stream_key is None


def test_a_relay_reported_by_enough_children_loses_them_all_and_gets_no_more() -> None:
    room = Room(recovery_window_s=0)
    room.hello(source_hello(capacity=2), 0)
    join(room, "bad", capacity=3)
    join(room, "good", capacity=3)
    for name in ("v1", "v2", "v3"):
        room.hello(hello(name, capacity=3), 0)
        room.tree.detach(name)
        room.tree.attach(name, "bad")
    assert room.tree["bad"].children == ["v1", "v2", "v3"]
    for reporter in ["v1", "v2"][:TAMPER_REPORTS_TO_DISTRUST]:
        actions = room.parent_lost(reporter, tampered("bad"), 1.0)
    assert "bad" in room.distrusted
    assert room.tree["bad"].children == []
    for name in ("v1", "v2", "v3"):
        # Placed again, away from bad (one may take bad's own place: it offers no slots
        # now, so it yields the shallow one and moves under a viewer that does).
        assert room.tree[name].parent not in ("bad", None)
        assert room.tree[name].depth is not None
        assert sent(actions, name, p.Assign) or name == "v1"
    join(room, "late", now=2.0)
    assert room.tree["late"].parent != "bad"
    # Coming back under the same name does not clear the record.
    room.leave("bad", 3.0)
    room.hello(hello("bad", capacity=3), 3.0)
    assert room.tree["bad"].capacity == 0


def test_one_report_moves_the_reporter_but_does_not_condemn_the_relay() -> None:
    room = Room(recovery_window_s=0)
    room.hello(source_hello(capacity=2), 0)
    join(room, "relay", capacity=2)
    join(room, "other", capacity=2)
    room.hello(hello("v", capacity=2), 0)  # no more slots than other: it does not displace it
    room.tree.detach("v")
    room.tree.attach("v", "relay")
    room.parent_lost("v", tampered("relay"), 1.0)
    assert "relay" not in room.distrusted
    assert room.tree["v"].parent == "other"


def test_reports_against_the_source_are_not_counted() -> None:
    room = Room(recovery_window_s=0)
    room.hello(source_hello(), 0)
    join(room, "v")
    join(room, "w")
    room.parent_lost("v", tampered("cam"), 1.0)
    room.parent_lost("w", tampered("cam"), 1.0)
    assert room.distrusted == set()
