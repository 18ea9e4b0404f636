"""Decisions of the pure Room, one story at a time (no sockets)."""

from __future__ import annotations

from typing import TypeVar

import protocol as p
from tracker.actions import Action, Send
from tracker.room import Room
from tracker.tree import Placement, Tree, ideal_depth


def hello(name: str, role: str = "viewer", capacity: int = 3, parent: str | None = None) -> p.Hello:
    return p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        name=name,
        role=role,
        listen_port=1,
        max_children=capacity,
        parent=parent,
    )


def join(room: Room, name: str, now: float = 0.0, **kw: object) -> list[Action]:
    reject, actions = room.hello(hello(name, **kw), now)  # type: ignore[arg-type]
    assert reject is None, reject
    return actions


M = TypeVar("M")


def room_of(source_capacity: int, **viewers: int) -> Room:
    """A Room with source `cam`, then the viewers joining in order with their capacities."""
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=source_capacity)
    for name, capacity in viewers.items():
        join(room, name, capacity=capacity)
    return room


def sent(actions: list[Action], to: str, kind: type[M]) -> list[M]:
    return [
        a.message
        for a in actions
        if isinstance(a, Send) and a.to == to and isinstance(a.message, kind)
    ]


def test_when_a_relay_dies_the_spare_relay_takes_its_slot_and_its_leaves() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=1)
    join(room, "relay", capacity=3)
    for name in ("l1", "l2", "l3"):
        join(room, name, capacity=0)
    join(room, "spare", capacity=3)  # full tree: a leaf yields to it
    assert not room.tree.detached_roots()
    room.leave("relay", 1.0)
    tree = room.tree
    assert tree["spare"].parent == "cam"
    assert {tree[name].parent for name in ("l1", "l2", "l3")} == {"spare"}
    assert not tree.detached_roots()


def test_placement_prefers_the_shallowest_slot_then_spare_capacity_then_latency() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=2)
    join(room, "a", capacity=2)
    join(room, "b", capacity=3)
    # Both a and b are at depth 1; b has more spare capacity. (The newcomers are
    # leaves: one with more slots than a would take a's place, see below.)
    join(room, "c", capacity=0)
    assert room.tree["c"].parent == "b"
    # Now a has 2 spare and b has 2 spare: the lower latency wins.
    room.heartbeat("a", p.Heartbeat(seq=1, stats=p.PeerStats(latency_ms=1.0)), 0)
    room.heartbeat("b", p.Heartbeat(seq=1, stats=p.PeerStats(latency_ms=9.0)), 0)
    join(room, "d", capacity=0)
    assert room.tree["d"].parent == "a"


def test_a_leaf_viewer_takes_no_children() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=1)
    join(room, "leaf", capacity=0)
    actions = join(room, "other", capacity=0)
    assert room.tree["other"].depth is None
    assert sent(actions, "other", p.Waiting)


def test_a_leaf_in_the_only_slot_yields_it_to_a_relay_and_moves_under_it() -> None:
    # The first viewer takes no children and holds the source's only slot: the relays
    # that join after it would all wait forever, though any of them could carry the rest.
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=1)
    join(room, "leaf", capacity=0)
    actions = join(room, "relay", capacity=3)
    assert room.tree["relay"].parent == "cam"
    assert room.tree["leaf"].parent == "relay"
    assert sent(actions, "relay", p.Assign) and sent(actions, "leaf", p.Assign)
    for name in ("r2", "r3"):
        join(room, name, capacity=3)
        assert room.tree[name].parent == "relay"
    assert not room.tree.detached_roots()


def test_depth_grows_like_log_k_of_n() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=3)
    for i in range(120):
        join(room, f"v{i}")
    assert room.tree.max_depth() == ideal_depth(120, 3, 3) == 4


def test_peers_re_registering_after_a_restart_keep_their_parent() -> None:
    room = Room(recovery_window_s=5.0, started_s=0.0)
    # The child comes back before its parent and the source.
    join(room, "leaf", now=0.1, parent="relay", capacity=0)
    assert room.tree["leaf"].parent is None
    join(room, "relay", now=0.2, parent="cam")
    assert room.tree["leaf"].parent == "relay"
    actions = join(room, "cam", now=0.3, role="source")
    assert room.tree["relay"].parent == "cam"
    assert room.tree["leaf"].depth == 2
    assert sent(actions, "relay", p.Assign)


def test_a_claim_that_is_not_honoured_in_time_is_placed_normally() -> None:
    room = Room(recovery_window_s=5.0, started_s=0.0)
    join(room, "cam", role="source")
    join(room, "ghost-child", now=1.0, parent="ghost")
    assert room.tree["ghost-child"].depth is None
    for key in room.members:
        room.seen(key, 6.0)
    actions = room.tick(6.0)
    assert room.tree["ghost-child"].parent == "cam"
    assert sent(actions, "ghost-child", p.Assign)


def test_the_lock_is_released_when_the_source_misses_heartbeats() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source")
    reject, _ = room.hello(hello("cam2", role="source"), 1.0)
    assert reject is not None and reject.code is p.RejectCode.STREAM_LIVE
    room.tick(10.0)
    reject, _ = room.hello(hello("cam2", role="source"), 10.0)
    assert reject is None


def test_backups_are_renewed_before_their_tokens_expire() -> None:
    room = room_of(2, a=1, b=1, child=0)
    first = room.members["child"].backup_offer
    assert first is not None
    for key in room.members:
        room.seen(key, 400.0)
    actions = room.tick(400.0)
    renewed = sent(actions, "child", p.BackupUpdate)
    assert renewed and renewed[0].backup is not None
    assert renewed[0].backup.token != first.token


def test_ideal_depth() -> None:
    assert ideal_depth(0, 3, 3) == 0
    assert ideal_depth(3, 3, 3) == 1
    assert ideal_depth(12, 3, 3) == 2
    assert ideal_depth(13, 3, 3) == 3
    assert ideal_depth(5, 1, 1) == 5
    assert ideal_depth(5, 3, 0) == 2
    assert Tree().depth_limit() == 0


def test_a_source_restarting_under_the_same_name_takes_its_viewers_back_at_once() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source")
    join(room, "v")
    room.leave("cam", 1.0)
    # The viewer reports its lost parent after the tracker already knows it left.
    room.parent_lost(
        "v", p.ParentLost(parent="cam", switched_to=None, reason=p.LossReason.CLOSED), 1.1
    )
    actions = join(room, "cam", now=1.5, role="source")
    assert room.tree["v"].parent == "cam"
    assert sent(actions, "v", p.Assign)


def test_a_parent_a_viewer_cannot_reach_is_avoided_while_it_stays() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source", capacity=1)
    join(room, "relay")
    join(room, "v")
    assert room.tree["v"].parent == "relay"
    room.parent_lost(
        "v", p.ParentLost(parent="relay", switched_to=None, reason=p.LossReason.REFUSED), 1.0
    )
    assert room.tree["v"].parent != "relay"


def test_a_heartbeat_from_a_peer_already_declared_dead_changes_nothing() -> None:
    room = Room(recovery_window_s=0)
    join(room, "cam", role="source")
    join(room, "late")
    room.heartbeat("cam", p.Heartbeat(seq=1), 3.5)
    room.tick(3.5)  # "late" missed three heartbeats: gone
    assert "late" not in room.members
    assert room.heartbeat("late", p.Heartbeat(seq=4), 3.6) == [], "no ack, no crash"
    assert "late" not in room.members and "late" not in room.tree


def measured(room: Room, key: str, slots: int, now: float) -> list[Action]:
    """`key`'s heartbeat saying its upload serves `slots` children now."""
    return room.heartbeat(key, p.Heartbeat(seq=1, stats=p.PeerStats(slots=slots)), now)


def settle(room: Room, now: float) -> list[Action]:
    """A few ticks, as the tracker runs five a second, until nothing more moves."""
    actions: list[Action] = []
    for _ in range(20):
        tick = room.tick(now)
        if not tick:
            break
        actions += tick
    return actions


def test_a_viewer_whose_measured_slots_grow_climbs_above_its_poorer_parent() -> None:
    room = room_of(1, a=1, b=1, c=0)  # a chain: cam -> a -> b -> c
    assert room.tree["b"].parent == "a"
    measured(room, "b", 3, 1.0)
    actions = settle(room, 1.0)
    tree = room.tree
    assert tree["b"].parent == "cam" and tree["a"].parent == "b"
    assert tree["c"].parent in ("a", "b")
    assert sent(actions, "b", p.Assign) and sent(actions, "a", p.Assign)
    assert tree.max_depth() <= tree.sorted_depth() + 1


def test_a_tree_restored_after_a_restart_is_not_reshaped_until_everybody_is_back() -> None:
    room = Room(recovery_window_s=5.0, started_s=0.0)
    join(room, "cam", now=0.1, role="source", capacity=1)
    join(room, "a", now=0.1, parent="cam", capacity=1)
    join(room, "b", now=0.1, parent="a", capacity=1)
    measured(room, "b", 3, 0.5)  # b would climb above a, but a peer may be coming back
    settle(room, 0.5)
    assert (room.tree["a"].parent, room.tree["b"].parent) == ("cam", "a")
    for key in room.members:
        room.seen(key, 6.0)
    settle(room, 6.0)  # the recovery window is over
    assert (room.tree["b"].parent, room.tree["a"].parent) == ("cam", "b")


def test_a_deep_subtree_rises_into_a_slot_freed_high_up() -> None:
    room = room_of(1, a=1, b=1, c=1, d=0)  # cam -> a -> b -> c -> d
    measured(room, "a", 3, 1.0)  # a at the top can now carry three
    settle(room, 1.0)
    tree = room.tree
    # The best tree for these capacities is 2 deep (a, then b, c and d); a viewer is
    # moved only while the tree is more than a level deeper than that.
    assert tree.sorted_depth() == 2
    assert tree.max_depth() == 3, {k: n.depth for k, n in tree.nodes.items()}
    assert len(tree["a"].children) == 2


def test_the_baseline_placement_neither_lifts_nor_raises() -> None:
    room = Room(recovery_window_s=0, tree=Tree(placement=Placement.SHALLOWEST))
    join(room, "cam", role="source", capacity=1)
    for name in ("a", "b", "c"):
        join(room, name, capacity=1)
    measured(room, "c", 3, 1.0)
    settle(room, 1.0)
    assert [room.tree[k].depth for k in ("a", "b", "c")] == [1, 2, 3]


def test_slots_a_peer_measured_replace_its_hello_unless_it_is_distrusted() -> None:
    room = room_of(2, a=3)
    measured(room, "a", 5, 1.0)
    assert room.tree["a"].capacity == 5
    room.heartbeat("a", p.Heartbeat(seq=2, stats=p.PeerStats()), 2.0)  # no measurement
    assert room.tree["a"].capacity == 5
    room.distrusted.add("a")
    measured(room, "a", 4, 3.0)
    assert room.tree["a"].capacity == 5, "a distrusted peer's word changes nothing"
