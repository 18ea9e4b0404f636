"""No viewer is placed under a viewer that has no video: the pure Room, in its own time."""

from __future__ import annotations

import protocol as p
from tracker.members import NO_VIDEO_GRACE_S
from tracker.room import Room

NO_VIDEO = p.PeerStats(recv_fps=0.0, slots=2)
VIDEO = p.PeerStats(recv_fps=30.0, slots=2)


def hello(name: str, role: str = "viewer", capacity: int = 2) -> p.Hello:
    return p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        name=name,
        role=role,
        listen_host="127.0.0.1",
        listen_port=9000,
        max_children=capacity,
    )


def tick(room: Room, now_s: float) -> None:
    """The tracker's tick, with every member heard from just now."""
    for key in room.members:
        room.seen(key, now_s)
    room.tick(now_s)


def room_with_a_relay() -> Room:
    """A source with one slot, taken by relay `a`, which can feed two."""
    room = Room(recovery_window_s=0)
    for message in (hello("cam", "source", capacity=1), hello("a")):
        reject, _ = room.hello(message, 0.0)
        assert reject is None
    assert room.tree["a"].parent == "cam"
    return room


def test_a_viewer_whose_video_never_came_gets_no_children_until_it_does() -> None:
    room = room_with_a_relay()
    now = NO_VIDEO_GRACE_S
    room.heartbeat("a", p.Heartbeat(seq=1, stats=NO_VIDEO), now)
    room.hello(hello("b"), now)
    tick(room, now)
    assert room.tree["b"].depth is None, "placed under a viewer with no video"

    now += 1.0
    room.heartbeat("a", p.Heartbeat(seq=2, stats=VIDEO), now)
    assert room.tree["b"].parent == "a"


def test_a_newly_placed_viewer_takes_children_before_its_first_frame() -> None:
    # Joins are fast and chains form at once: a viewer without video yet is not dark
    # until the grace period is over.
    room = room_with_a_relay()
    now = NO_VIDEO_GRACE_S - 0.5
    room.heartbeat("a", p.Heartbeat(seq=1, stats=NO_VIDEO), now)
    room.hello(hello("b"), now)
    assert room.tree["b"].parent == "a"


def test_a_viewer_that_goes_dark_is_not_named_a_backup() -> None:
    room = Room(recovery_window_s=0)
    for name in ("cam", "a", "r", "b"):
        room.hello(hello(name, "source" if name == "cam" else "viewer"), 0.0)
    parent = room.tree["b"].parent
    backup = room.members["b"].backup
    assert parent in ("a", "r") and backup in ("a", "r") and backup != parent
    now = NO_VIDEO_GRACE_S
    for name in ("a", "r", "b"):
        stats = NO_VIDEO if name == backup else VIDEO
        room.heartbeat(name, p.Heartbeat(seq=1, stats=stats), now)
    tick(room, now)
    assert room.members["b"].backup is None


def test_a_short_outage_is_not_a_viewer_without_video() -> None:
    # A repair takes about 1.5 s: the relay keeps its place for newcomers meanwhile, and
    # loses it only once it has been dark for the whole grace period.
    room = room_with_a_relay()
    room.heartbeat("a", p.Heartbeat(seq=1, stats=VIDEO), 1.0)
    now = 1.0 + NO_VIDEO_GRACE_S - 0.5
    room.heartbeat("a", p.Heartbeat(seq=2, stats=NO_VIDEO), now)
    room.hello(hello("b"), now)
    assert room.tree["b"].parent == "a"

    room.heartbeat("a", p.Heartbeat(seq=3, stats=NO_VIDEO), 1.0 + NO_VIDEO_GRACE_S)
    room.hello(hello("c"), 1.0 + NO_VIDEO_GRACE_S)
    assert room.tree["c"].parent != "a"
