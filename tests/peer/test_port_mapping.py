"""Port mapping's rules with a gateway that stands in for a home router: map at once,
renew at half the lease, retry failures later and later, say a failure once, and
remove the mapping on every way out. The real router (miniupnpd in a namespace) is in
tests/faults/test_port_mapping_lab.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import attrs
import pytest
import trio
import trio.testing

from peer import events as ev
from peer.config import PeerConfig
from peer.node import Peer
from peer.port_mapping import (
    FIRST_RETRY_S,
    LEASE_S,
    MAX_RETRY_S,
    Mapping,
    MappingSchedule,
    PortMapper,
    PortMappingError,
)
from tests.polling import eventually
from tracker.service import Tracker

EXTERNAL = 51000
T = TypeVar("T")


async def inline(function: Callable[..., T], *args: object, abandon_on_cancel: bool = False) -> T:
    """Make a gateway call on the spot (virtual time must not run on while it runs)."""
    return function(*args)


@attrs.define
class FakeGateway:
    """A router that maps ports when `working`, and records what it was asked."""

    working: bool = True
    present: bool = True
    searches: int = 0
    added: list[tuple[float, int]] = attrs.field(factory=list)  # (time, internal port)
    removed: list[int] = attrs.field(factory=list)

    def discover(self, delay_ms: int) -> FakeGateway:
        self.searches += 1
        if not self.present:
            raise PortMappingError(f"no UPnP gateway answered within {delay_ms} ms")
        return self

    def add(self, internal_port: int, lease_s: int, description: str) -> Mapping:
        if not self.working:
            raise PortMappingError("the gateway refused to map the port (Action Failed)")
        self.added.append((trio.current_time(), internal_port))
        return Mapping(
            external_port=EXTERNAL,
            internal_host="192.168.1.2",
            internal_port=internal_port,
            lease_s=lease_s,
            external_host="198.51.100.7",
        )

    def remove(self, mapping: Mapping) -> None:
        self.removed.append(mapping.external_port)


@attrs.define
class Watcher:
    """What a PortMapper said."""

    changes: list[Mapping | None] = attrs.field(factory=list)
    events: list[ev.PeerEvent] = attrs.field(factory=list)

    def mapper(self, gateway: FakeGateway) -> PortMapper:
        return PortMapper(
            name="home",
            on_change=self.changes.append,
            on_event=self.events.append,
            discover=gateway.discover,
            blocking=inline,
        )

    def failures(self) -> list[ev.PortMappingFailed]:
        return [e for e in self.events if isinstance(e, ev.PortMappingFailed)]


def test_the_schedule_renews_at_half_the_lease_and_backs_off_after_failures() -> None:
    schedule = MappingSchedule()
    assert schedule.next_s < 0, "the first attempt is at once"
    schedule.mapped(100.0, 1200)
    assert schedule.next_s == 700.0
    schedule.failed(700.0)
    schedule.failed(730.0)
    assert (schedule.next_s, schedule.retry_s) == (730.0 + 2 * FIRST_RETRY_S, 4 * FIRST_RETRY_S)
    for _ in range(20):
        schedule.failed(1000.0)
    assert schedule.retry_s == MAX_RETRY_S
    schedule.mapped(2000.0, 0)  # permanent: re-added now and then, in case it was lost
    assert schedule.next_s > 2000.0 and schedule.retry_s == FIRST_RETRY_S


async def test_a_port_is_mapped_at_once_renewed_at_half_its_lease_and_removed_on_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway, watcher = FakeGateway(), Watcher()
    mapper = watcher.mapper(gateway)
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mapper.run, 40000)
            await eventually(lambda: bool(gateway.added), within_s=5, what="a mapping")
            start = gateway.added[0][0]
            await trio.sleep(LEASE_S * 0.75)
            scope.cancel()
    assert [at - start for at, _ in gateway.added] == [0, LEASE_S / 2]
    assert len(watcher.changes) == 1, "a renewal of the same mapping is no news"
    assert watcher.changes[0] is not None
    (mapped,) = [e for e in watcher.events if isinstance(e, ev.PortMapped)]
    assert (mapped.external_port, mapped.internal) == (EXTERNAL, "192.168.1.2:40000")
    assert gateway.removed == [EXTERNAL], "cancelled, and still removed"
    assert mapper.mapping is None


async def test_no_gateway_is_said_once_and_searched_for_later_and_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway, watcher = FakeGateway(present=False), Watcher()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher.mapper(gateway).run, 40000)
        await trio.sleep(FIRST_RETRY_S * 7 + 1)  # searches at 0, 30, 90 and 210 s
        assert gateway.searches == 4
        assert len(watcher.failures()) == 1, "one line for the user, not one per search"
        assert "no UPnP gateway answered" in watcher.failures()[0].detail
        gateway.present = True  # a router that came up late
        await trio.sleep(FIRST_RETRY_S * 8)
        assert gateway.added and watcher.changes and watcher.changes[-1] is not None
        nursery.cancel_scope.cancel()
    assert watcher.changes[0] is not None, "nothing to withdraw before the first mapping"


async def test_a_lease_the_gateway_stops_renewing_is_withdrawn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway, watcher = FakeGateway(), Watcher()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher.mapper(gateway).run, 40000)
        await eventually(lambda: bool(watcher.changes), within_s=5, what="a mapping")
        gateway.working = False
        await trio.sleep(LEASE_S / 2 + 1)
        assert watcher.changes[-1] is None, "the tracker must stop counting on it"
        assert len(watcher.failures()) == 1
        nursery.cancel_scope.cancel()
    assert gateway.removed == [], "nothing left to remove"


async def start_mapped_peer(
    nursery: trio.Nursery,
    address: tuple[str, int],
    gateway: FakeGateway,
    listen: tuple[str, int] = ("::", 0),
) -> Peer:
    config = PeerConfig(
        role="viewer", name="home", tracker=address, port_mapping=True, decode=False, listen=listen
    )
    peer = Peer(config)
    peer.reach.mapper.discover = gateway.discover
    peer.reach.mapper.blocking = inline
    started: Peer = await nursery.start(peer.run)
    return started


async def test_the_tracker_hears_of_the_mapping_and_it_is_removed_when_the_peer_leaves(
    nursery: trio.Nursery, tracker: Tracker, address: tuple[str, int]
) -> None:
    gateway = FakeGateway()
    home = await start_mapped_peer(nursery, address, gateway)
    await eventually(
        lambda: (
            "home" in tracker.room.members and tracker.room.members["home"].mapped_port == EXTERNAL
        ),
        within_s=10,
        what="the tracker told of the mapping",
    )
    assert home.stats()["mapped_port"] == EXTERNAL
    assert home.hub.address is not None
    assert gateway.added[0][1] == home.hub.address[1], "the port we listen on is mapped"
    await home.leave("bye")
    await eventually(lambda: home.finished.is_set(), within_s=10, what="the peer gone")
    assert gateway.removed == [EXTERNAL]


@pytest.mark.parametrize("listen", [("127.0.0.1", 0), ("::", 0)], ids=["loopback", "all"])
async def test_a_peer_only_asks_when_a_router_could_forward_to_it(
    nursery: trio.Nursery, address: tuple[str, int], listen: tuple[str, int]
) -> None:
    gateway = FakeGateway()
    home = await start_mapped_peer(nursery, address, gateway, listen=listen)
    if listen[0] == "::":
        await eventually(lambda: bool(gateway.added), within_s=10, what="a mapping")
    else:
        assert home.reach.port_to_map() is None, "no router forwards to a loopback listener"
    home.kill()
    await eventually(lambda: home.finished.is_set(), within_s=10, what="the peer gone")
    assert gateway.removed == ([EXTERNAL] if listen[0] == "::" else [])
