"""The tracker's time rules, in virtual time: liveness, the Hello timeout, acks, backups.

The real Tracker service runs over memory streams under `MockClock(autojump_threshold=0)`
(pytest-trio's `autojump_clock`), so ten minutes of protocol time take milliseconds and
every time below is exact: the tick step is a binary fraction (0.25 s), so tick times
add up without rounding, and a message arrives at the very virtual time it was sent.
"""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing

import protocol as p
from protocol.admission import TOKEN_LIFETIME_S, token_expiry_s
from tests.tracker.swarm import Peer, Swarm, heartbeat
from tracker.backups import TOKEN_CHECK_INTERVAL_S
from tracker.service import TrackerConfig
from tracker.session import OUTBOX_FULL, OUTBOX_MESSAGES, WRITE_TIMED_OUT, WRITE_TIMEOUT_S

TICK_S = 0.25
HEARTBEAT_S = 1.0
MISSED = 3
DEAD_AFTER_S = HEARTBEAT_S * MISSED
HELLO_TIMEOUT_S = 5.0
CONFIG = TrackerConfig(
    port=0,
    heartbeat_interval_s=HEARTBEAT_S,
    missed_heartbeats=MISSED,
    hello_timeout_s=HELLO_TIMEOUT_S,
    recovery_window_s=0.0,
    tick_interval_s=TICK_S,
)
FOREVER_S = 10_000.0  # heartbeat tasks run until the test ends


@pytest.fixture
async def swarm(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> Swarm:
    """A tracker serving memory connections, started at virtual time 0.

    Tests take `autojump_clock` too: pytest-trio runs a test under the clock among its
    own arguments.
    """
    assert trio.current_time() == 0.0
    return await Swarm.in_memory(nursery, CONFIG)


def keep_beating(nursery: trio.Nursery, peer: Peer, first_s: float = 0.0) -> None:
    """Heartbeat every HEARTBEAT_S from `first_s` until the test ends."""
    nursery.start_soon(
        lambda: heartbeat(peer, every_s=HEARTBEAT_S, first_s=first_s, until_s=FOREVER_S)
    )


# -- liveness ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_beat_s", "dead_at_s"),
    [(0.0, 3.25), (0.1, 3.25), (0.5, 3.75), (0.75, 4.0), (0.9, 4.0), (2.0, 5.25)],
)
async def test_a_peer_that_stops_heartbeating_is_dead_at_the_first_tick_past_three_intervals(
    swarm: Swarm,
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    last_beat_s: float,
    dead_at_s: float,
) -> None:
    cam = await swarm.join("cam", "source", capacity=1)
    keep_beating(nursery, cam)
    viewer = await swarm.join("v", capacity=0)
    await trio.sleep_until(last_beat_s)
    await viewer.send(p.Heartbeat(seq=1))

    closed_at_s = await viewer.closed()

    # Dead strictly after last_beat + 3 s, on the next tick: the window is one tick wide.
    assert last_beat_s + DEAD_AFTER_S < closed_at_s <= last_beat_s + DEAD_AFTER_S + TICK_S
    assert closed_at_s == dead_at_s
    assert viewer.since(0.0) == [
        (0.0, p.Welcome),
        (0.0, p.Assign),
        (0.0, p.ChatHistory),
        (last_beat_s, p.HeartbeatAck),
        (dead_at_s, p.Goodbye),
    ]
    (_, goodbye) = viewer.of(p.Goodbye)[0]
    assert goodbye.reason == "missed heartbeats"
    assert "v" not in swarm.tracker.room.members
    assert "cam" in swarm.tracker.room.members and cam.closed_at_s is None


async def test_with_the_default_tick_a_silent_peer_dies_within_one_tick_of_three_intervals(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    config = TrackerConfig(port=0, recovery_window_s=0.0)
    assert config.tick_interval_s == 0.2  # 0.2 is not a binary fraction: compare a window
    swarm = await Swarm.in_memory(nursery, config)
    viewer = await swarm.join("v", capacity=0)
    await trio.sleep_until(0.5)
    await viewer.send(p.Heartbeat(seq=1))

    closed_at_s = await viewer.closed()

    limit_s = config.heartbeat_interval_s * config.missed_heartbeats
    assert 0.5 + limit_s < closed_at_s <= 0.5 + limit_s + config.tick_interval_s + 1e-9
    assert viewer.of(p.Goodbye)[0][0] == closed_at_s


@pytest.mark.parametrize("gap_s", [HEARTBEAT_S, 2.9])
async def test_a_heartbeating_peer_is_never_dropped_over_ten_minutes(
    swarm: Swarm, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, gap_s: float
) -> None:
    cam = await swarm.join("cam", "source", capacity=1)
    keep_beating(nursery, cam)
    viewer = await swarm.join("v", capacity=0)

    sent = await heartbeat(viewer, every_s=gap_s, first_s=gap_s, until_s=600.0)
    await trio.sleep(DEAD_AFTER_S)  # the last heartbeat still counts this long

    acks = viewer.of(p.HeartbeatAck)
    assert [ack.seq for _, ack in acks] == list(range(1, sent + 1))
    assert [at_s for at_s, _ in acks] == [gap_s + n * gap_s for n in range(sent)]
    assert viewer.closed_at_s is None and not viewer.of(p.Goodbye)
    assert "v" in swarm.tracker.room.members


async def test_every_heartbeat_is_acknowledged_in_order_with_the_trackers_clock(
    swarm: Swarm,
    autojump_clock: trio.testing.MockClock,
) -> None:
    viewer = await swarm.join("v", capacity=0)
    await trio.sleep_until(1.0)
    await viewer.client.send_raw(b"".join(p.encode(p.Heartbeat(seq=n)) for n in (7, 8, 9)))
    await trio.sleep_until(2.5)
    await viewer.send(p.Heartbeat(seq=10))
    await trio.sleep_until(2.75)  # the clock moves on only once everything before is done

    acks = viewer.of(p.HeartbeatAck)

    assert [(at_s, ack.seq) for at_s, ack in acks] == [(1.0, 7), (1.0, 8), (1.0, 9), (2.5, 10)]
    # server_time_ns is Unix time in ns: 1.5 s of virtual time apart (to float rounding).
    apart_ns = acks[3][1].server_time_ns - acks[0][1].server_time_ns
    assert abs(apart_ns - 1_500_000_000) < 1_000


async def test_a_connection_that_never_says_hello_is_refused_at_the_hello_timeout(
    swarm: Swarm,
    autojump_clock: trio.testing.MockClock,
) -> None:
    mute = await swarm.connect("mute")
    late = await swarm.connect("late")
    await trio.testing.wait_all_tasks_blocked()
    assert swarm.tracker.unregistered == 2
    hello_at_s = HELLO_TIMEOUT_S - 0.1
    await trio.sleep_until(hello_at_s)
    await late.send(p.Hello(protocol_version=p.PROTOCOL_VERSION, name="late", role="viewer"))

    assert await mute.closed() == HELLO_TIMEOUT_S
    assert mute.since(0.0) == [(HELLO_TIMEOUT_S, p.Reject)]
    (_, reject) = mute.of(p.Reject)[0]
    assert reject.code is p.RejectCode.HELLO_TIMEOUT
    assert late.since(0.0) == [
        (hello_at_s, p.Welcome),
        (hello_at_s, p.Waiting),  # no stream is live
        (hello_at_s, p.ChatHistory),
    ]
    assert late.closed_at_s is None
    assert swarm.tracker.unregistered == 0


# -- backups -------------------------------------------------------------------------


async def two_relays_and_a_child(swarm: Swarm) -> tuple[Peer, p.Assign, dict[str, Peer]]:
    """cam (fanout 2) -> relays a and b (1 slot each); child under one, the other its backup."""
    peers = {"cam": await swarm.join("cam", "source", capacity=2)}
    for name in ("a", "b"):
        peers[name] = await swarm.join(name, capacity=1)
    child = await swarm.join("child", capacity=0)
    _, assign = await child.next(p.Assign)
    assert assign.backup is not None
    assert {assign.parent.name, assign.backup.name} == {"a", "b"}
    return child, assign, peers


async def test_the_children_of_a_dead_relay_are_moved_to_their_backup_when_it_is_declared_dead(
    swarm: Swarm, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    child, first, peers = await two_relays_and_a_child(swarm)
    assert first.backup is not None
    parent, backup = peers[first.parent.name], peers[first.backup.name]
    for peer in (peers["cam"], backup, child):
        keep_beating(nursery, peer)  # the parent says nothing after its Hello at 0

    assert await parent.closed() == 3.25
    at_s, moved = await child.next(p.Assign)

    assert at_s == 3.25
    assert moved.parent.name == first.backup.name
    assert moved.parent.token == first.backup.token, "the token it holds stays valid"
    assert moved.depth == 2
    # The new backup is the slot the dead relay left at the source.
    assert moved.backup is not None and moved.backup.name == "cam"
    assert swarm.tracker.room.tree["child"].parent == first.backup.name


async def test_a_child_that_switched_to_its_backup_is_not_moved_again_and_gets_a_new_backup(
    swarm: Swarm, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    child, first, peers = await two_relays_and_a_child(swarm)
    assert first.backup is not None
    for peer in peers.values():
        keep_beating(nursery, peer)
    keep_beating(nursery, child)
    await trio.sleep_until(1.1)

    await child.send(
        p.ParentLost(
            parent=first.parent.name, reason=p.LossReason.CLOSED, switched_to=first.backup.name
        )
    )
    _, update = await child.next(p.BackupUpdate)

    # The tracker follows the switch (no Assign) and names the old parent, which now has
    # a free slot outside the new parent's subtree, as the backup at the next tick.
    assert swarm.tracker.room.tree["child"].parent == first.backup.name
    assert [kind for _, kind in child.since(1.1) if kind is not p.HeartbeatAck] == [p.BackupUpdate]
    assert child.of(p.BackupUpdate)[0][0] == 1.25
    assert update.backup is not None and update.backup.name == first.parent.name


async def test_backup_tokens_are_renewed_at_half_their_lifetime(
    swarm: Swarm, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    child, first, peers = await two_relays_and_a_child(swarm)
    assert first.backup is not None
    for peer in [*peers.values(), child]:
        keep_beating(nursery, peer)
    # Tokens are checked on the first tick (0.25 s), then every TOKEN_CHECK_INTERVAL_S
    # (10 s); the first check more than half the lifetime (300 s) after minting renews.
    assert (TOKEN_LIFETIME_S, TOKEN_CHECK_INTERVAL_S) == (600, 10.0)
    renew_at_s = 300.25

    await trio.sleep_until(renew_at_s + TOKEN_CHECK_INTERVAL_S - TICK_S)

    updates = child.of(p.BackupUpdate)
    assert [at_s for at_s, _ in updates] == [renew_at_s]
    (_, update) = updates[0]
    assert update.backup is not None and update.backup.name == first.backup.name
    assert update.backup.token != first.backup.token
    old_expiry, new_expiry = token_expiry_s(first.backup.token), token_expiry_s(update.backup.token)
    assert old_expiry is not None and new_expiry is not None
    assert new_expiry - old_expiry in (300, 301)  # whole seconds of Unix time
    assert child.closed_at_s is None


# -- peers that stop reading ---------------------------------------------------------


async def a_source_that_will_stop_reading(swarm: Swarm, nursery: trio.Nursery) -> tuple[Peer, Peer]:
    """A lockstep source (its stream buffers nothing) and a viewer that keeps beating."""
    cam = await swarm.join("cam", "source", capacity=1, lockstep=True)
    viewer = await swarm.join("v", capacity=0)
    keep_beating(nursery, viewer)
    return cam, viewer


async def test_a_source_that_floods_requests_without_reading_is_cut_off_when_its_outbox_fills(
    swarm: Swarm, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    cam, viewer = await a_source_that_will_stop_reading(swarm, nursery)
    await trio.sleep_until(1.0)
    cam.stop_reading()  # and a lockstep stream buffers nothing
    flood = b"".join(p.encode(p.StatusRequest()) for _ in range(OUTBOX_MESSAGES + 10))
    nursery.start_soon(send_and_ignore_the_end, cam, flood)

    at_s, ended = await viewer.next(p.StreamEnded)

    assert at_s == 1.0, "cut off at once, long before the write timeout"
    assert ended.reason == OUTBOX_FULL
    assert (await viewer.next(p.Waiting))[1].reason is p.WaitReason.STREAM_ENDED
    assert "cam" not in swarm.tracker.room.members


async def test_a_source_that_stops_reading_is_cut_off_after_the_write_timeout(
    swarm: Swarm, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    cam, viewer = await a_source_that_will_stop_reading(swarm, nursery)
    await cam.next(p.ChatHistory)  # the last of what registering brings
    cam.stop_reading()  # and a lockstep stream buffers nothing
    # It keeps heartbeating, so it is alive; its first ack (at 1.0) is never taken.
    keep_beating(nursery, cam, first_s=1.0)

    at_s, ended = await viewer.next(p.StreamEnded)

    assert at_s == 1.0 + WRITE_TIMEOUT_S
    assert ended.reason == WRITE_TIMED_OUT
    assert "cam" not in swarm.tracker.room.members


async def send_and_ignore_the_end(peer: Peer, data: bytes) -> None:
    """Send `data`; the tracker may hang up before taking it all."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await peer.client.stream.send_all(data)
