"""A flood of connections to a relay's child port cannot keep real children out."""

from __future__ import annotations

import trio

import protocol as p
from peer.joining import MAX_JOINING_PER_ADDRESS
from peer.wire import receive_message
from tests.peer.conftest import PeerStarter, VideoMaker
from tests.polling import eventually


async def connect_from(source_ip: str, address: tuple[str, int]) -> trio.SocketStream:
    sock = trio.socket.socket()
    await sock.bind((source_ip, 0))
    await sock.connect(address)
    return trio.SocketStream(sock)


async def test_half_open_joins_are_capped_per_address(
    make_video: VideoMaker, start_peer: PeerStarter
) -> None:
    video = make_video("avi", width=320, height=240, fps=30, frames=60)
    await start_peer("source", "cam", source=str(video), loop=True, max_children=1)
    relay = await start_peer("viewer", "relay", max_children=2)
    assert relay.hub.address is not None
    flood = [
        await connect_from("127.0.0.9", ("127.0.0.1", relay.hub.address[1]))
        for _ in range(MAX_JOINING_PER_ADDRESS)
    ]
    await eventually(
        lambda: relay.hub.joining == MAX_JOINING_PER_ADDRESS, within_s=5, what="the flood held"
    )
    extra = await connect_from("127.0.0.9", ("127.0.0.1", relay.hub.address[1]))
    with trio.fail_after(5):
        refusal = await receive_message(extra, p.MessageDecoder())
    assert isinstance(refusal, p.Reject) and refusal.code == "busy"
    # A real child, placed under the relay by the tracker, still gets in and gets video.
    child = await start_peer("viewer", "child", max_children=0)
    await eventually(child.receiving.is_set, within_s=10, what="the child's video")
    assert child.counters.parent == "relay"
    for stream in [*flood, extra]:
        await stream.aclose()
    await eventually(lambda: relay.hub.joining == 0, within_s=5, what="the flood released")
