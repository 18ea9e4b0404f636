"""Connection reversal's time rules over memory streams, on trio's MockClock: the
parent's connection and the tracker's Assign may arrive in either order, and each side
waits 3 s for the other."""

from __future__ import annotations

import trio
import trio.testing

import protocol as p
from peer.parent import ParentFollower
from peer.reversal import ReversedLinks
from peer.wire import receive_message
from tests.polling import eventually

REVERSE_WAIT_S = 3.0  # as the design states it (not read from the code under test)
FROM_CHILD = (p.Join, p.Ping, p.Pong, p.Goodbye)


def reverse_offer(name: str) -> p.ParentOffer:
    return p.ParentOffer(name=name, host="10.0.0.1", port=1, token="t", link=p.LinkKind.REVERSED)


def viewer(
    links: ReversedLinks, frames: list[int], reports: list[tuple[float, p.Message]]
) -> ParentFollower:
    def report(message: p.Message) -> bool:
        reports.append((trio.current_time(), message))
        return True

    async def never_dial(host: str, port: int) -> trio.abc.Stream:
        raise AssertionError("a reversed parent is never dialled")

    return ParentFollower(
        name="me",
        on_frame=lambda frame, _: frames.append(frame.header.seq),
        on_parent=lambda name, depth: None,
        on_rtt=lambda rtt: None,
        on_stream_ended=lambda ended: None,
        report=report,
        connect=never_dial,
        reversed_link=links.take,
    )


async def parent(stream: trio.abc.Stream, name: str) -> None:
    """A parent on a connection it opened: reads the child's Join, accepts, sends frames."""
    await receive_message(stream, p.MessageDecoder(accept=FROM_CHILD, max_frame_payload_bytes=0))
    await stream.send_all(p.encode(p.Accept(parent=name, depth=0, epoch=1)))
    for seq in range(1, 31):
        header = p.FrameHeader(epoch=1, seq=seq, capture_ns=seq, width=64, height=36)
        await stream.send_all(b"".join(p.frame_wire_parts(p.VideoFrame(header, b"\xff\xd8"))))
        await trio.sleep(1 / 30)
    await trio.sleep_forever()


async def test_a_parent_that_connects_before_the_assign_arrives_is_taken(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    links = ReversedLinks()
    frames: list[int] = []
    reports: list[tuple[float, p.Message]] = []
    follower = viewer(links, frames, reports)
    nursery.start_soon(follower.run)
    ours, theirs = trio.testing.memory_stream_pair()
    nursery.start_soon(parent, theirs, "nat")
    taken: list[bool] = []

    async def arrive() -> None:
        taken.append(await links.hand_over("NAT", ours))  # names match whatever the case

    nursery.start_soon(arrive)
    await trio.sleep(REVERSE_WAIT_S - 0.5)  # the Assign comes late, but within the wait
    follower.assign(p.Assign(parent=reverse_offer("nat"), depth=1, epoch=1))
    await eventually(lambda: len(frames) == 30, within_s=60, what="every frame")
    assert taken == [True] and follower.link is p.LinkKind.REVERSED and not reports


async def test_a_parent_that_never_connects_is_reported_unreachable_after_3_s(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    links = ReversedLinks()
    reports: list[tuple[float, p.Message]] = []
    follower = viewer(links, [], reports)
    nursery.start_soon(follower.run)
    assigned_at = trio.current_time()
    follower.assign(p.Assign(parent=reverse_offer("nat"), depth=1, epoch=1))
    await eventually(lambda: bool(reports), within_s=60, what="the loss reported")
    at, lost = reports[0]
    assert at - assigned_at == REVERSE_WAIT_S
    assert isinstance(lost, p.ParentLost) and lost.parent == "nat"
    assert lost.reason is p.LossReason.UNREACHABLE


async def test_a_connection_nobody_asks_for_is_let_go_after_3_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    links = ReversedLinks()
    ours, theirs = trio.testing.memory_stream_pair()
    started = trio.current_time()
    assert not await links.hand_over("nat", ours)
    assert trio.current_time() - started == REVERSE_WAIT_S
    with trio.fail_after(1):
        assert await theirs.receive_some() == b""  # closed: the parent sees it at once
