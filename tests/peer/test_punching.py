"""Connections that leave from the listen port (peer/punching.py), over real loopback
sockets: a punch leaves from it while the listener keeps accepting, a listener still
refuses a port another socket holds, and a peer's connection to the real tracker comes
from its listen port. Punches from both sides at once, through routers, are
tests/faults/test_hole_punching.py."""

from __future__ import annotations

import socket

import pytest
import trio

from peer.addresses import open_listener
from peer.punching import (
    PUNCH_TIMEOUT_S,
    ListenPortDialer,
    PunchFailed,
    connect_from_port,
    punch,
)
from tracker.service import Tracker

LOOPBACK = "127.0.0.1"


def port_of(listener: trio.SocketListener) -> int:
    return int(listener.socket.getsockname()[1])


def unused_port() -> int:
    """A loopback port nobody listens on (the system picked it, then it was let go)."""
    with socket.socket() as spare:
        spare.bind((LOOPBACK, 0))
        return int(spare.getsockname()[1])


async def test_a_punch_leaves_from_our_listen_port_which_still_accepts() -> None:
    # Both sides at once need routers that drop the first SYN (tests/faults has them);
    # here the other side's listener answers, as when its router lets our SYN through.
    ours, theirs = await open_listener(LOOPBACK, 0), await open_listener(LOOPBACK, 0)
    with trio.fail_after(5):
        stream = await punch(LOOPBACK, port_of(theirs), port_of(ours), delay_s=0.01)
        accepted = await theirs.accept()
        assert stream.socket.getsockname()[1] == port_of(ours)
        assert accepted.socket.getpeername()[1] == port_of(ours)
        await stream.send_all(b"join")
        assert await accepted.receive_some(16) == b"join"
        # Our listener shares its port with that connection and still takes new ones.
        async with await trio.open_tcp_stream(LOOPBACK, port_of(ours)), await ours.accept():
            pass
    for resource in (stream, accepted, ours, theirs):
        await resource.aclose()


async def test_a_listener_refuses_a_port_another_socket_holds() -> None:
    holder = socket.socket()
    holder.bind((LOOPBACK, 0))
    holder.listen()
    try:
        with pytest.raises(OSError):
            await open_listener(LOOPBACK, holder.getsockname()[1])
    finally:
        holder.close()
    ours = await open_listener("::", 0)
    with pytest.raises(OSError):
        await open_listener("::", port_of(ours))  # a second peer on our port
    await ours.aclose()


async def test_connect_from_port_fails_plainly_where_nobody_listens() -> None:
    listener = await open_listener(LOOPBACK, 0)
    nobody = unused_port()
    with pytest.raises(OSError):
        await connect_from_port(LOOPBACK, nobody, port_of(listener))
    await listener.aclose()


async def test_a_punch_refused_at_first_connects_once_the_other_side_is_there() -> None:
    # A router that resets a SYN it has no mapping for: the other side is not there
    # yet (here: nobody listens), so the punch tries again until it is.
    ours = await open_listener(LOOPBACK, 0)
    theirs_port = unused_port()
    late: list[trio.SocketListener] = []

    async def arrive_late() -> None:
        await trio.sleep(0.3)
        late.append(await open_listener(LOOPBACK, theirs_port))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(arrive_late)
            stream = await punch(LOOPBACK, theirs_port, port_of(ours), delay_s=0.0)
        assert stream.socket.getpeername()[1] == theirs_port
    for resource in (stream, ours, *late):
        await resource.aclose()


async def test_a_punch_nobody_answers_gives_up_at_its_deadline() -> None:
    # Wall clock (the refusals are real): the deadline, with a loaded machine's slack.
    ours = await open_listener(LOOPBACK, 0)
    nobody = unused_port()
    start = trio.current_time()
    with pytest.raises(PunchFailed, match="hole punch timed out"):
        await punch(LOOPBACK, nobody, port_of(ours), delay_s=0.0)
    took_s = trio.current_time() - start
    assert PUNCH_TIMEOUT_S <= took_s < PUNCH_TIMEOUT_S + 2.0, took_s
    await ours.aclose()


async def test_the_tracker_sees_a_connection_from_our_listen_port(tracker: Tracker) -> None:
    listener = await open_listener("::", 0)
    dialer = ListenPortDialer(listen_port=port_of(listener))
    assert tracker.address is not None
    stream = await dialer.connect_tracker(*tracker.address)
    assert dialer.tracker_from_listen_port
    assert isinstance(stream, trio.SocketStream)
    assert stream.socket.getsockname()[1] == port_of(listener)
    await stream.aclose()
    # Not listening where a router could map us: any port will do.
    plain = ListenPortDialer(listen_port=0)
    other = await plain.connect_tracker(*tracker.address)
    assert not plain.tracker_from_listen_port
    await other.aclose()
    await listener.aclose()
