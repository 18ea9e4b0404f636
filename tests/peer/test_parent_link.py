"""A viewer's link to its parent survives a parent that misbehaves: it leaves and reports."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import trio

import protocol as p
from peer.parent import ParentFollower
from peer.wire import receive_message
from tests.polling import eventually

FRAME = p.VideoFrame(
    header=p.FrameHeader(epoch=1, seq=1, capture_ns=1, width=2, height=2, hops=1), data=b"jpeg"
)


def recorder(sink: list[p.Message]) -> Callable[[p.Message], bool]:
    """A `report` callback that keeps what it is given."""

    def report(message: p.Message) -> bool:
        sink.append(message)
        return True

    return report


def reporting_follower(
    reports: list[p.Message], on_frame: Callable[[p.VideoFrame, int], None] = lambda f, _: None
) -> ParentFollower:
    """A follower whose reports to the tracker land in `reports`."""
    return ParentFollower(
        name="me",
        on_frame=on_frame,
        on_parent=lambda name, depth: None,
        on_rtt=lambda rtt: None,
        on_stream_ended=lambda ended: None,
        report=recorder(reports),
    )


async def fake_parent(behaviour: bytes, stream: trio.SocketStream) -> None:
    """Accept any Join, then send `behaviour` and keep the connection open."""
    with trio.move_on_after(10):
        join = await receive_message(stream, p.MessageDecoder())
        assert isinstance(join, p.Join)
        await stream.send_all(p.encode(p.Accept(parent="fake", depth=0, epoch=1)) + behaviour)
        await trio.sleep_forever()


async def serve(nursery: trio.Nursery, behaviour: bytes) -> int:
    listeners = await nursery.start(
        partial(trio.serve_tcp, partial(fake_parent, behaviour), 0, host="127.0.0.1")
    )
    return int(listeners[0].socket.getsockname()[1])


async def test_garbage_from_the_parent_ends_the_link_and_is_reported(
    nursery: trio.Nursery,
) -> None:
    reports: list[p.Message] = []
    frames: list[p.VideoFrame] = []
    follower = reporting_follower(reports, lambda frame, _: frames.append(frame))
    nursery.start_soon(follower.run)
    bad_port = await serve(nursery, b"\xde\xad\xbe\xef" * 8)
    offer = p.ParentOffer(name="bad", host="127.0.0.1", port=bad_port, token="t")
    follower.assign(p.Assign(parent=offer, depth=1, epoch=1))
    await eventually(lambda: bool(reports), within_s=5, what="a report to the tracker")
    lost = reports[0]
    assert isinstance(lost, p.ParentLost)
    assert lost.parent == "bad" and lost.switched_to is None
    assert lost.reason is p.LossReason.BAD_DATA

    good_port = await serve(nursery, p.encode(FRAME))
    offer = p.ParentOffer(name="good", host="127.0.0.1", port=good_port, token="t")
    follower.assign(p.Assign(parent=offer, depth=1, epoch=1))
    await eventually(lambda: bool(frames), within_s=5, what="a frame from the good parent")
    assert bytes(frames[0].data) == b"jpeg"


async def test_a_parent_that_refuses_us_is_reported_to_the_tracker(
    nursery: trio.Nursery,
) -> None:
    reports: list[p.Message] = []

    async def refusing(stream: trio.SocketStream) -> None:
        with trio.move_on_after(10):
            await receive_message(stream, p.MessageDecoder())
            await stream.send_all(p.encode(p.Reject(code=p.RejectCode.FULL, message="no room")))

    listeners = await nursery.start(partial(trio.serve_tcp, refusing, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    follower = reporting_follower(reports)
    nursery.start_soon(follower.run)
    refusing_offer = p.ParentOffer(name="full", host="127.0.0.1", port=port, token="t")
    follower.assign(p.Assign(parent=refusing_offer, depth=1, epoch=1))
    await eventually(lambda: bool(reports), within_s=5, what="a report to the tracker")
    lost = reports[0]
    assert isinstance(lost, p.ParentLost) and "refused" in lost.reason
