"""A relay's H.264 rules on its links, over memory streams on trio's MockClock: a new child
gets the GOP first (or only what it lacks), a child that lost a frame gets nothing more
until a keyframe, and keyframe requests travel from child to parent."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import protocol as p
from peer.children import ChildrenHub
from peer.gop import GopCache
from peer.parent import ParentFollower
from peer.wire import receive_message
from protocol.admission import mint_token
from tests.peer.test_links_virtual_time import relay_hub
from tests.polling import eventually

FROM_PARENT = (p.Accept, p.Reject, p.VideoFrame, p.Pong)
FROM_CHILD = (p.Join, p.Ping, p.Pong, p.KeyframeRequest, p.Goodbye)


def unit(seq: int, *, keyframe: bool = False) -> p.VideoFrame:
    header = p.FrameHeader(
        epoch=1, seq=seq, capture_ns=seq, width=64, height=36, codec=p.Codec.H264,
        keyframe=keyframe,
    )  # fmt: skip
    return p.VideoFrame(header=header, data=b"\x00\x00\x00\x01 unit %d" % seq)


@pytest.fixture(autouse=True)
def _wall_clock_for_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens carry Unix time; pin the gate's idea of it so virtual time cannot expire them."""
    monkeypatch.setattr("peer.children.time.time", lambda: 1e9)


def relay(cache: GopCache, requests: list[p.KeyframeRequest]) -> tuple[ChildrenHub, str]:
    return relay_hub(backlog=cache.after, on_keyframe_request=requests.append)


async def join(
    hub: ChildrenHub, key: str, nursery: trio.Nursery, *, last_seq: int = 0, lockstep: bool = False
) -> tuple[trio.abc.Stream, p.MessageDecoder]:
    pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
    ours, theirs = pair()
    nursery.start_soon(hub.handle, theirs, "10.0.0.2")
    token = mint_token(key, parent="relay", child="kid", now_s=1e9)
    join = p.Join(
        protocol_version=p.PROTOCOL_VERSION, name="kid", token=token, last_epoch=1,
        last_seq=last_seq,
    )  # fmt: skip
    await ours.send_all(p.encode(join))
    decoder = p.MessageDecoder(accept=FROM_PARENT)
    assert isinstance(await receive_message(ours, decoder), p.Accept)
    while "kid" not in hub.links:  # the hub serves the child once its Accept is read
        await trio.lowlevel.checkpoint()
    return ours, decoder


async def frames_until(
    stream: trio.abc.Stream, decoder: p.MessageDecoder, last_seq: int
) -> list[int]:
    seqs: list[int] = []
    while not seqs or seqs[-1] < last_seq:
        message = await receive_message(stream, decoder)
        assert isinstance(message, p.VideoFrame)
        seqs.append(message.header.seq)
    return seqs


async def test_a_new_child_gets_the_gop_so_far_then_the_live_frames(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    cache = GopCache()
    for seq in range(1, 41):  # 40 frames since the keyframe, more than any queue's bound
        cache.add(unit(seq, keyframe=seq == 1))
    hub, key = relay(cache, [])
    child, decoder = await join(hub, key, nursery)
    for seq in range(41, 45):  # the live frames that fit beside the backlog, unsent yet
        hub.forward(unit(seq), arrival_ns=0, path_latency_us=0)
    assert await frames_until(child, decoder, 44) == list(range(1, 45))


async def test_a_switching_child_gets_only_what_comes_after_its_newest_frame(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    cache = GopCache()
    for seq in range(1, 31):
        cache.add(unit(seq, keyframe=seq == 1))
    hub, key = relay(cache, [])
    child, decoder = await join(hub, key, nursery, last_seq=27)
    hub.forward(unit(31), arrival_ns=0, path_latency_us=0)
    assert await frames_until(child, decoder, 31) == [28, 29, 30, 31]


async def test_a_child_that_lost_a_frame_gets_nothing_more_until_a_keyframe(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    requests: list[p.KeyframeRequest] = []
    hub, key = relay(GopCache(), requests)
    child, decoder = await join(hub, key, nursery, lockstep=True)  # reads only when asked
    # The child reads nothing for a while: its queue (4 frames) overflows.
    for seq in range(1, 21):
        hub.forward(unit(seq, keyframe=seq == 1), arrival_ns=0, path_latency_us=0)
        await trio.sleep(1 / 30)
    link = hub.links["kid"]
    assert link.awaiting_keyframe and len(link.queue) == 0
    assert requests and requests[0] == p.KeyframeRequest(epoch=1)  # asked up the tree
    dropped_before = hub.frames_dropped
    hub.forward(unit(21), arrival_ns=0, path_latency_us=0)  # not a keyframe: not sent
    assert hub.frames_dropped == dropped_before + 1
    hub.forward(unit(22, keyframe=True), arrival_ns=0, path_latency_us=0)
    hub.forward(unit(23), arrival_ns=0, path_latency_us=0)
    got = await frames_until(child, decoder, 23)
    # What it receives is decodable: whatever it got before the loss, then 22 and 23.
    assert got[-2:] == [22, 23]
    before = got[:-2]
    assert before == list(range(1, len(before) + 1)), "only a prefix of the first GOP"


async def test_an_h264_childs_queue_holds_half_a_second_before_it_drops(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    hub, key = relay(GopCache(), [])
    hub.set_codec(p.Codec.H264)
    await join(hub, key, nursery, lockstep=True)  # reads nothing
    for seq in range(1, 17):  # one in flight, fifteen queued
        hub.forward(unit(seq, keyframe=seq == 1), arrival_ns=0, path_latency_us=0)
        await trio.sleep(1 / 30)
    link = hub.links["kid"]
    assert len(link.queue) == 15 and not link.awaiting_keyframe
    hub.forward(unit(17), arrival_ns=0, path_latency_us=0)
    assert link.awaiting_keyframe


async def test_a_keyframe_request_goes_from_the_child_to_the_parent(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    requests: list[p.KeyframeRequest] = []
    hub, key = relay(GopCache(), requests)
    ours, theirs = trio.testing.memory_stream_pair()
    nursery.start_soon(hub.handle, theirs, "10.0.0.2")
    token = mint_token(key, parent="relay", child="kid", now_s=1e9)
    await ours.send_all(
        p.encode(p.Join(protocol_version=p.PROTOCOL_VERSION, name="kid", token=token))
    )
    decoder = p.MessageDecoder(accept=FROM_PARENT)
    assert isinstance(await receive_message(ours, decoder), p.Accept)
    await ours.send_all(p.encode(p.KeyframeRequest(epoch=1)))
    await eventually(lambda: bool(requests), within_s=5, what="the request at the parent")
    assert requests == [p.KeyframeRequest(epoch=1)]


async def test_a_follower_says_its_newest_frame_and_sends_requests_up(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    ours, theirs = trio.testing.memory_stream_pair()

    async def connect(host: str, port: int) -> trio.abc.Stream:
        return ours

    follower = ParentFollower(
        name="kid",
        on_frame=lambda frame, arrival_ns: None,
        on_parent=lambda name, depth: None,
        on_rtt=lambda rtt_s: None,
        on_stream_ended=lambda ended: None,
        report=lambda message: True,
        last_frame=lambda: (3, 1234),
        connect=connect,
    )
    nursery.start_soon(follower.run)
    follower.assign(
        p.Assign(
            parent=p.ParentOffer(name="relay", host="10.0.0.1", port=1, token="t"),
            depth=1,
            epoch=3,
            backup=None,
            stream_key=None,
        )
    )
    decoder = p.MessageDecoder(accept=FROM_CHILD, max_frame_payload_bytes=0)
    join = await receive_message(theirs, decoder)
    assert isinstance(join, p.Join) and (join.last_epoch, join.last_seq) == (3, 1234)
    await theirs.send_all(p.encode(p.Accept(parent="relay", depth=0, epoch=3)))
    await eventually(lambda: follower.current is not None, within_s=5, what="attached")
    assert follower.send_up(p.KeyframeRequest(epoch=3))
    while True:
        message = await receive_message(theirs, decoder)
        if isinstance(message, p.KeyframeRequest):
            break
        assert isinstance(message, p.Ping)
    assert message == p.KeyframeRequest(epoch=3)
