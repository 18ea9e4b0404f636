"""A link closed in the middle of a message is a peer leaving, not a peer misbehaving.

A child moves on while its uplink probe is being sent, a parent drops a child in the
middle of a frame, a peer crashes: the other side sees the connection end part-way
through a message. That is said and reported as a close; only bytes that break the
protocol count as bad data.
"""

from __future__ import annotations

from functools import partial

import pytest
import trio

import protocol as p
from peer import events as ev
from peer.children import ChildrenHub
from peer.wire import receive_message
from tests.peer.test_links_virtual_time import join_child, relay_hub
from tests.peer.test_parent_link import FRAME, reporting_follower
from tests.polling import eventually

PROBE = p.encode(p.UplinkProbe(padding_bytes=1000))


@pytest.fixture(autouse=True)
def _wall_clock_for_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's tokens are minted at Unix time 1e9; pin the gate's clock to it."""
    monkeypatch.setattr("peer.children.time.time", lambda: 1e9)


async def joined_child(
    nursery: trio.Nursery,
) -> tuple[ChildrenHub, list[tuple[float, ev.ChildDropped]], trio.abc.Stream]:
    """A relay's hub with one child joined; the drops it reports land in the list."""
    dropped: list[tuple[float, ev.ChildDropped]] = []
    hub, key = relay_hub(dropped)
    return hub, dropped, await join_child(hub, key, nursery, lockstep=False)


async def test_a_child_that_closes_mid_probe_has_left_and_is_not_reported(
    nursery: trio.Nursery,
) -> None:
    hub, dropped, child = await joined_child(nursery)
    await child.send_all(PROBE[: len(PROBE) // 2])
    await child.aclose()
    await eventually(lambda: "kid" not in hub.links, within_s=5, what="the child gone")
    assert dropped == [], "leaving part-way through a message is no misbehaviour"


async def test_a_child_that_sends_garbage_is_still_dropped_as_misbehaving(
    nursery: trio.Nursery,
) -> None:
    _, dropped, child = await joined_child(nursery)
    await child.send_all(b"\xde\xad\xbe\xef" * 8)
    await eventually(lambda: bool(dropped), within_s=5, what="the child dropped")
    assert dropped[0][1].reason is p.DropReason.MISBEHAVED


async def parent_that_closes_mid_frame(stream: trio.SocketStream) -> None:
    """Accept any Join, send half a frame, and close."""
    with trio.move_on_after(10):
        assert isinstance(await receive_message(stream, p.MessageDecoder()), p.Join)
        frame = p.encode(FRAME)
        await stream.send_all(p.encode(p.Accept(parent="fake", depth=0, epoch=1)) + frame[:-2])
    await stream.aclose()


async def test_a_parent_that_closes_mid_frame_is_reported_as_closed(nursery: trio.Nursery) -> None:
    reports: list[p.Message] = []
    follower = reporting_follower(reports)
    nursery.start_soon(follower.run)
    listeners = await nursery.start(
        partial(trio.serve_tcp, parent_that_closes_mid_frame, 0, host="127.0.0.1")
    )
    port = int(listeners[0].socket.getsockname()[1])
    follower.assign(
        p.Assign(parent=p.ParentOffer(name="cut", host="127.0.0.1", port=port, token="t"),
                 depth=1, epoch=1)
    )  # fmt: skip
    await eventually(lambda: bool(reports), within_s=5, what="a report to the tracker")
    lost = reports[0]
    assert isinstance(lost, p.ParentLost) and lost.parent == "cut"
    assert lost.reason is p.LossReason.CLOSED
