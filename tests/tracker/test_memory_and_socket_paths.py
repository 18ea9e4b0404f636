"""The tracker says the same things over memory streams as over real sockets.

The virtual-time tests drive the tracker over memory streams, where every read goes
through `receive_some` and every answer through the outbox; over plain TCP the tracker
reads the socket directly and answers heartbeats with one system call from the reader.
This runs one conversation (joins, heartbeats, chat, status, a backup switch, a
dropped child, a bad chat line, a goodbye, garbage) both ways, in real time, and
compares what every peer received, message by message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
import trio

import protocol as p
from tests.polling import eventually
from tests.tracker.swarm import Swarm
from tracker.service import TrackerConfig
from tracker.session import Session

# Nobody is declared dead during the conversation, whatever the machine's load; ticks
# (which name backups) come often, so waiting for them is short.
CONFIG = TrackerConfig(
    port=0,
    heartbeat_interval_s=60.0,
    recovery_window_s=0.0,
    tick_interval_s=0.02,
    check_reachability=False,  # the scripted peers listen nowhere (tests/tracker/conftest.py)
)
# Fields that differ between any two runs (random keys and tokens, clocks).
# observed_host: a socket has a peer address, a memory stream none.
UNREPEATABLE = {"admission_key", "token", "server_time_ns", "time_ns", "observed_host"}
SETTLE_S = 5.0


def comparable(value: Any) -> Any:
    """A message as plain data, without the fields no two runs share."""
    if attrs.has(type(value)):
        fields = {
            name: comparable(item)
            for name, item in attrs.asdict(value, recurse=False).items()
            if name not in UNREPEATABLE
        }
        return (type(value).__name__, fields)
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


async def settled(swarm: Swarm) -> None:
    """Wait until the tracker has named backups for the tree as it is now."""
    room = swarm.tracker.room
    await eventually(
        lambda: room.backups_checked_at == room.tree.version, within_s=SETTLE_S, what="backups"
    )
    # A tick queued any BackupUpdate before it marked the tree checked; let it go out.
    sessions = list(swarm.tracker.sessions.values())
    await eventually(
        lambda: all(session.queued == 0 for session in sessions), within_s=SETTLE_S, what="sent"
    )


async def conversation(swarm: Swarm) -> dict[str, list[Any]]:
    """Play the conversation; return what each peer received, comparable."""
    cam = await swarm.join("cam", "source", capacity=2)
    peers = {"cam": cam}
    for name, capacity in (("a", 1), ("b", 1), ("child", 0)):
        peers[name] = await swarm.join(name, capacity=capacity)
        await peers[name].next(p.Assign)
        await settled(swarm)
    child = peers["child"]

    for peer in peers.values():
        await peer.send(p.Heartbeat(seq=1, stats=p.PeerStats(latency_ms=5.0)))
        await peer.next(p.HeartbeatAck)

    await peers["a"].send(p.ChatSend(text="hello, everyone"))
    for peer in peers.values():
        await peer.next(p.ChatMessage)

    await child.send(p.StatusRequest())
    await child.next(p.StatusReply)

    (_, assign) = child.of(p.Assign)[0]
    assert assign.backup is not None
    parent, backup = assign.parent.name, assign.backup.name
    await child.send(p.ParentLost(parent=parent, reason=p.LossReason.CLOSED, switched_to=backup))
    await child.next(p.BackupUpdate)
    await settled(swarm)

    # The backup it switched to drops it: it goes back under its first parent, and the
    # relay that dropped it is its backup again (a backup may be a recent parent).
    await peers[backup].send(p.ChildDropped(child="child", reason=p.DropReason.STALLED))
    _, moved = await child.next(p.Assign)
    assert moved.parent.name == parent
    await settled(swarm)

    await peers["a"].send(p.ChatSend(text="x" * 501))
    await peers["a"].next(p.Error)

    # The relay that is not its parent leaves: its slot at the source is the new backup.
    await peers[backup].send(p.Goodbye(reason="done"))
    await peers[backup].closed()
    _, update = await child.next(p.BackupUpdate)
    assert update.backup is not None and update.backup.name == "cam"
    await settled(swarm)

    for peer in (cam, peers[parent]):
        await peer.send(p.Heartbeat(seq=2))
        await peer.next(p.HeartbeatAck)

    await child.client.send_raw(b"not the protocol")
    await child.closed()
    return {name: [comparable(a.message) for a in peer.arrivals] for name, peer in peers.items()}


async def run_over(
    make: Callable[[trio.Nursery, TrackerConfig], Awaitable[Swarm]],
) -> dict[str, list[Any]]:
    """The conversation against a fresh tracker reached through `make`."""
    async with trio.open_nursery() as nursery:
        swarm = await make(nursery, CONFIG)
        transcript = await conversation(swarm)
        nursery.cancel_scope.cancel()
    return transcript


@pytest.mark.parametrize("_", range(3))  # timing differs run to run; the words must not
async def test_memory_streams_and_sockets_carry_the_same_conversation(
    _: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_writes = 0
    write_now = Session.write_now

    def counted(session: Session, data: bytes) -> None:
        nonlocal fast_writes
        fast_writes += 1
        write_now(session, data)

    monkeypatch.setattr(Session, "write_now", counted)
    over_tcp = await run_over(Swarm.over_tcp)
    fast_over_tcp, fast_writes = fast_writes, 0
    in_memory = await run_over(Swarm.in_memory)

    assert over_tcp == in_memory
    # Both paths were really taken: heartbeats over TCP were answered by the fast write.
    assert fast_over_tcp > 0 and fast_writes == 0
    # And the conversation is the one intended, not two runs failing alike.
    kinds = [kind for kind, _ in in_memory["child"]]
    assert kinds[:4] == ["Welcome", "Assign", "ChatHistory", "HeartbeatAck"]
    assert kinds.count("Assign") >= 2 and "BackupUpdate" in kinds and "StatusReply" in kinds
    assert (
        kinds[-1] == "Reject" and in_memory["child"][-1][1]["code"] is p.RejectCode.PROTOCOL_ERROR
    )
    assert ("Error", {"code": p.ErrorCode.CHAT_TOO_LONG}) in [
        (kind, {"code": fields.get("code")}) for kind, fields in in_memory["a"]
    ]


def test_the_comparison_ignores_only_unrepeatable_fields() -> None:
    one = p.HeartbeatAck(seq=3, server_time_ns=1)
    other = p.HeartbeatAck(seq=3, server_time_ns=2)
    assert comparable(one) == comparable(other)
    assert comparable(one) != comparable(p.HeartbeatAck(seq=4, server_time_ns=1))
