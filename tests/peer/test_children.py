"""A parent serves each child on its own: a stalled child costs its siblings nothing,
and only children the tracker placed are let in."""

from __future__ import annotations

import trio

import protocol as p
from peer.wire import receive_message
from tests.peer.conftest import PeerStarter, ReceivedFrames
from tests.polling import eventually
from tests.tracker.client import joined


async def test_a_stalled_child_costs_its_siblings_nothing(
    start_peer: PeerStarter, address: tuple[str, int]
) -> None:
    source = await start_peer("source", "cam", source="testsrc:1280x720@30", max_children=3)
    logs = [ReceivedFrames() for _ in range(2)]
    siblings = [
        await start_peer("viewer", f"s{i}", log.hooks(), max_children=0, decode=False)
        for i, log in enumerate(logs)
    ]
    # The staller registers like any viewer, joins its parent, then never reads again.
    staller = await joined(address, "staller", capacity=0)
    assign = await staller.expect(p.Assign)
    assert assign.parent.name == "cam"
    link = await trio.open_tcp_stream(assign.parent.host, assign.parent.port)
    join = p.Join(protocol_version=p.PROTOCOL_VERSION, name="staller", token=assign.parent.token)
    await link.send_all(p.encode(join))
    with trio.fail_after(5):
        accepted = await receive_message(link, p.MessageDecoder())
    assert isinstance(accepted, p.Accept)

    # From now until the staller's queue overflows, the siblings get every frame sent.
    first = source.counters.frames_sent + 1
    await eventually(
        lambda: source.hub.frames_dropped > 0, within_s=20, what="frames dropped for the staller"
    )
    last = source.counters.frames_sent
    await eventually(
        lambda: all(log.newest >= last for log in logs), within_s=10, what="the siblings caught up"
    )
    for sibling, log in zip(siblings, logs, strict=True):
        share = log.share_of(first, last)
        assert share >= 0.95, f"{sibling.config.name} got {share:.0%} of frames {first}-{last}"
    await eventually(
        lambda: "staller" not in source.hub.links,
        within_s=20,
        what="the staller being dropped",
    )
    assert all(s.counters.parent == "cam" for s in siblings)
    await trio.aclose_forcefully(link)


async def test_a_child_without_a_valid_token_is_refused(start_peer: PeerStarter) -> None:
    source = await start_peer("source", "cam", source="testsrc:160x120@10", max_children=3)
    assert source.hub.address is not None
    for token in ["", "123.abc.def", "9999999999.00.forged"]:
        stream = await trio.open_tcp_stream("127.0.0.1", source.hub.address[1])
        join = p.Join(protocol_version=p.PROTOCOL_VERSION, name="intruder", token=token)
        await stream.send_all(p.encode(join))
        with trio.fail_after(5):
            answer = await receive_message(stream, p.MessageDecoder())
        assert isinstance(answer, p.Reject)
        assert answer.code == "bad_token"
        await trio.aclose_forcefully(stream)
    assert not source.hub.links


async def test_garbage_on_the_child_port_is_dropped_and_the_parent_carries_on(
    start_peer: PeerStarter,
) -> None:
    source = await start_peer("source", "cam", source="testsrc:160x120@10", max_children=3)
    viewer = await start_peer("viewer", "v", max_children=0)
    assert source.hub.address is not None
    stream = await trio.open_tcp_stream("127.0.0.1", source.hub.address[1])
    await stream.send_all(b"\x00" * 64)
    with trio.fail_after(5):
        assert await stream.receive_some(100) == b""  # closed on us
    received = viewer.counters.loss.frames_received
    await eventually(
        lambda: viewer.counters.loss.frames_received > received + 5,
        within_s=5,
        what="the viewer still receiving",
    )
