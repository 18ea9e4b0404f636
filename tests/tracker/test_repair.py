"""When a peer vanishes, the tracker moves its children at once, backups first."""

from __future__ import annotations

import trio

import protocol as p
from tests.tracker.client import Client, joined
from tracker.service import Tracker, TrackerConfig


async def test_children_of_a_crashed_relay_are_reassigned_at_once(
    address: tuple[str, int],
) -> None:
    cam = await joined(address, "cam", "source", capacity=1)
    relay = await joined(address, "relay", capacity=2)
    assert (await relay.expect(p.Assign)).parent.name == "cam"
    leaves = [await joined(address, f"leaf{i}", capacity=0) for i in range(2)]
    for leaf in leaves:
        assert (await leaf.expect(p.Assign)).parent.name == "relay"

    await relay.aclose()  # a crash: no goodbye
    # The only free slot is the source's, so one leaf moves there; the other waits.
    outcomes = [await leaf.expect_one_of(p.Assign, p.Waiting) for leaf in leaves]
    assigned = [m for m in outcomes if isinstance(m, p.Assign)]
    assert len(assigned) == 1 and assigned[0].parent.name == "cam"
    assert cam.welcome is not None


async def test_an_orphan_is_moved_to_the_backup_it_was_given(address: tuple[str, int]) -> None:
    cam = await joined(address, "cam", "source", capacity=2)
    a = await joined(address, "a", capacity=1)
    await a.expect(p.Assign)
    b = await joined(address, "b", capacity=1)
    await b.expect(p.Assign)
    child = await joined(address, "child", capacity=0)
    assign = await child.expect(p.Assign)
    parent = assign.parent.name
    assert parent in ("a", "b")
    assert assign.backup is not None, "a backup outside the parent's subtree exists"
    assert assign.backup.name not in (parent, "child")

    await (a if parent == "a" else b).aclose()
    moved = await child.expect(p.Assign)
    assert moved.parent.name == assign.backup.name
    assert moved.parent.token == assign.backup.token, "the pre-authorised token stays valid"
    assert cam.welcome is not None


async def test_a_viewer_reporting_a_switch_is_reconciled(address: tuple[str, int]) -> None:
    cam = await joined(address, "cam", "source", capacity=2)
    relays = [await joined(address, name, capacity=1) for name in ("a", "b")]
    for relay in relays:
        await relay.expect(p.Assign)
    child = await joined(address, "child", capacity=0)
    assign = await child.expect(p.Assign)
    backup = assign.backup
    assert backup is not None and backup.name != assign.parent.name
    await child.send(
        p.ParentLost(parent=assign.parent.name, reason=p.LossReason.CLOSED, switched_to=backup.name)
    )
    observer = await joined(address, "ops", "observer")
    await observer.send(p.StatusRequest())
    status = await observer.expect(p.StatusReply)
    by_name = {peer.name: peer for peer in status.peers}
    assert by_name["child"].parent == backup.name
    assert cam.welcome is not None


async def test_a_child_dropped_by_its_parent_is_placed_elsewhere(
    address: tuple[str, int],
) -> None:
    cam = await joined(address, "cam", "source", capacity=2)
    relay = await joined(address, "relay", capacity=1)
    assert (await relay.expect(p.Assign)).parent.name == "cam"
    other = await joined(address, "other", capacity=0)
    await other.expect(p.Assign)
    leaf = await joined(address, "leaf", capacity=0)
    assert (await leaf.expect(p.Assign)).parent.name == "relay"
    await other.aclose()  # frees a slot at the source
    await relay.send(p.ChildDropped(child="leaf", reason=p.DropReason.STALLED))
    moved = await leaf.expect_that(p.Assign, lambda m: m.parent.name != "relay")
    assert moved.parent.name == "cam"
    assert cam.welcome is not None


async def heartbeat_until_assigned(beaters: list[Client], watcher: Client) -> p.Assign:
    """Heartbeat from `beaters` every 50 ms until `watcher` receives an Assign."""
    seq = 0
    while True:
        seq += 1
        for client in beaters:
            await client.send(p.Heartbeat(seq=seq))
        with trio.move_on_after(0.05):
            while True:
                message = await watcher.receive()
                if isinstance(message, p.Assign):
                    return message


async def test_a_silent_peer_is_declared_dead_and_its_child_moves(
    nursery: trio.Nursery,
) -> None:
    fast = Tracker(
        TrackerConfig(
            port=0, heartbeat_interval_s=0.2, recovery_window_s=0.0, check_reachability=False
        )
    )
    await nursery.start(fast.serve)
    assert fast.address is not None
    address = fast.address
    cam = await joined(address, "cam", "source", capacity=1)
    relay = await joined(address, "relay", capacity=1)
    await relay.expect(p.Assign)
    leaf = await joined(address, "leaf", capacity=0)
    assert (await leaf.expect(p.Assign)).parent.name == "relay"

    # cam and leaf heartbeat; relay is frozen with its connection open.
    with trio.fail_after(5):  # three missed 0.2 s heartbeats in this configuration
        moved = await heartbeat_until_assigned([cam, leaf], leaf)
    assert moved.parent.name == "cam"
    assert await relay.closed()
