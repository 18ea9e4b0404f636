"""A flood of connections that never say Hello cannot crowd out real peers."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import protocol as p
from tests.polling import eventually
from tests.tracker.client import Client
from tracker.service import Tracker, TrackerConfig


@pytest.fixture
def tracker_config() -> TrackerConfig:
    """A small cap per address, a larger one in all, and a long hello timeout."""
    return TrackerConfig(port=0, max_unregistered=12, max_unregistered_per_ip=5)


async def connect_from(source_ip: str, address: tuple[str, int]) -> Client:
    """A raw client whose connection comes from `source_ip` (any 127/8 address works)."""
    sock = trio.socket.socket()
    await sock.bind((source_ip, 0))
    await sock.connect(address)
    return Client(trio.SocketStream(sock))


async def test_half_open_connections_are_capped_per_address_and_in_all(
    tracker: Tracker, address: tuple[str, int]
) -> None:
    flood = [await connect_from("127.0.0.9", address) for _ in range(5)]
    await eventually(lambda: tracker.unregistered == 5, within_s=5, what="five pending")
    extra = await connect_from("127.0.0.9", address)
    refusal = await extra.expect(p.Reject)
    assert refusal.code is p.RejectCode.BUSY and "127.0.0.9" in refusal.message
    # Another address is still served, and registering frees its slot at once.
    friend = await connect_from("127.0.0.2", address)
    await friend.send(p.Hello(protocol_version=p.PROTOCOL_VERSION, name="friend", role="viewer"))
    await friend.expect(p.Welcome)
    assert tracker.unregistered == 5
    # The global cap holds whatever the addresses.
    for index in range(7):
        flood.append(await connect_from(f"127.0.1.{index}", address))
    await eventually(lambda: tracker.unregistered == 12, within_s=5, what="twelve pending")
    late = await connect_from("127.0.2.1", address)
    assert (await late.expect(p.Reject)).code is p.RejectCode.BUSY
    # Closing the flood frees every slot.
    for client in flood:
        await client.stream.aclose()
    await eventually(lambda: tracker.unregistered == 0, within_s=5, what="the flood gone")
    assert set(tracker.room.members) == {"friend"}


async def test_a_stream_served_from_elsewhere_counts_under_the_address_it_comes_with(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    tracker = Tracker(TrackerConfig(port=0, max_unregistered_per_ip=2))
    await nursery.start(tracker.serve_listeners, [])  # no listener: streams come by hand
    clients = []
    for address in ("10.0.0.7", "10.0.0.7", "10.0.0.7", "10.0.0.8"):
        client_end, tracker_end = trio.testing.memory_stream_pair()
        nursery.start_soon(tracker.serve_stream, tracker_end, address)
        clients.append(Client(client_end))
        await trio.testing.wait_all_tasks_blocked()  # served in this order

    assert tracker.unregistered_by_address == {"10.0.0.7": 2, "10.0.0.8": 1}
    refusal = await clients[2].expect(p.Reject)
    assert refusal.code is p.RejectCode.BUSY and "10.0.0.7" in refusal.message
    assert trio.current_time() == 0.0, "refused at once"


async def test_serving_a_stream_needs_the_tracker_running() -> None:
    client_end, tracker_end = trio.testing.memory_stream_pair()
    with pytest.raises(RuntimeError, match="serve_listeners"):
        await Tracker(TrackerConfig(port=0)).serve_stream(tracker_end, "10.0.0.7")
    assert await client_end.receive_some() == b""  # closed, not left open
