"""A real Tracker over in-memory connections, for tests that run in virtual time.

The tracker serves a `MemoryListener` whose connections are `trio.testing` stream pairs
(the fake listener of trio's own `test_highlevel_serve_listeners.py`), so nothing
touches a socket or a thread and a test can run under `MockClock(autojump_threshold=0)`:
the clock jumps straight to the next deadline whenever every task waits, and minutes of
protocol time pass in milliseconds. Each `Peer` reads in a background task that stamps
every message with the virtual time it arrived, so tests assert exact times. The same
`Swarm` also runs over loopback TCP (in real time), to compare the two paths.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import trio
import trio.testing

import protocol as p
from tests.tracker.client import WAIT_S, Client, hello_message
from tracker.service import Tracker, TrackerConfig

M = TypeVar("M")
# What a healthy scripted peer reports: video arriving (the tracker gives no children to
# a viewer that shows none).
RECEIVING = p.PeerStats(fps=30.0, recv_fps=30.0)


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose connections are memory stream pairs made by `connect`."""

    def __init__(self) -> None:
        """A listener with no connection waiting."""
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](0)

    async def connect(self, *, lockstep: bool = False) -> trio.abc.Stream:
        """A new connection: the tracker accepts one end, the caller gets the other.

        A memory stream pair buffers without limit; a lockstep pair has no buffer at all,
        so a sender waits until the other side reads (a peer that stopped reading).
        """
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        client, server = pair()
        with trio.fail_after(WAIT_S):
            await self._send.send(server)
        return client

    async def accept(self) -> trio.abc.Stream:
        """The tracker's end of the next connection."""
        return await self._receive.receive()

    async def aclose(self) -> None:
        """Stop accepting."""
        self._receive.close()
        await trio.lowlevel.checkpoint()


@attrs.frozen
class Arrival:
    """One message as a peer received it, with the virtual time it arrived."""

    at_s: float
    message: p.Message


@attrs.define(eq=False)
class Peer:
    """A test peer: a Client whose incoming messages a background task records."""

    name: str
    client: Client
    arrivals: list[Arrival] = attrs.field(factory=list)
    closed_at_s: float | None = None  # when the tracker closed the connection
    _read_upto: int = 0  # arrivals already handed out by `next`
    _news: trio.Event = attrs.field(factory=trio.Event)
    _reading: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    async def read_forever(self) -> None:
        """Record every message until the tracker closes the connection (or stop_reading)."""
        with self._reading:
            while True:
                message = await self.client.receive(within_s=math.inf)
                now = trio.current_time()
                if message is None:
                    self.closed_at_s = now
                else:
                    self.arrivals.append(Arrival(now, message))
                self._news.set()
                self._news = trio.Event()
                if message is None:
                    return

    def stop_reading(self) -> None:
        """From now on, leave what the tracker sends unread (a peer that hung)."""
        self._reading.cancel()

    async def send(self, message: p.Message) -> None:
        """Send one message to the tracker."""
        await self.client.send(message)

    async def next(self, kind: type[M], within_s: float = WAIT_S) -> tuple[float, M]:
        """(time, message) of the next unread arrival of type `kind`, skipping others."""
        with trio.fail_after(within_s):
            while True:
                while self._read_upto < len(self.arrivals):
                    arrival = self.arrivals[self._read_upto]
                    self._read_upto += 1
                    if isinstance(arrival.message, kind):
                        return arrival.at_s, arrival.message
                if self.closed_at_s is not None:
                    raise AssertionError(f"{self.name}: closed while waiting for {kind.__name__}")
                await self._news.wait()

    async def closed(self, within_s: float = WAIT_S) -> float:
        """Wait until the tracker closes the connection; return when it did."""
        with trio.fail_after(within_s):
            while self.closed_at_s is None:
                await self._news.wait()
        return self.closed_at_s

    def since(self, start_s: float) -> list[tuple[float, type]]:
        """(time, type) of every message that arrived at or after `start_s`."""
        return [(a.at_s, type(a.message)) for a in self.arrivals if a.at_s >= start_s]

    def of(self, kind: type[M]) -> list[tuple[float, M]]:
        """(time, message) of every arrival of type `kind` so far."""
        return [(a.at_s, a.message) for a in self.arrivals if isinstance(a.message, kind)]


@attrs.define(eq=False)
class Swarm:
    """A running Tracker, a way to open connections to it, and a nursery for peer tasks."""

    tracker: Tracker
    nursery: trio.Nursery
    open_stream: Callable[[bool], Awaitable[trio.abc.Stream]]  # (lockstep) -> stream

    @classmethod
    async def in_memory(cls, nursery: trio.Nursery, config: TrackerConfig) -> Swarm:
        """A tracker with `config` serving memory connections (safe under a MockClock)."""
        tracker = Tracker(config)
        listener = MemoryListener()
        await nursery.start(tracker.serve_listeners, [listener])
        return cls(tracker, nursery, lambda lockstep: listener.connect(lockstep=lockstep))

    @classmethod
    async def over_tcp(cls, nursery: trio.Nursery, config: TrackerConfig) -> Swarm:
        """A tracker with `config` listening on loopback TCP (real time only)."""
        tracker = Tracker(config)
        host, port = await nursery.start(tracker.serve)

        async def open_tcp(lockstep: bool) -> trio.abc.Stream:
            assert not lockstep, "a TCP connection always buffers"
            with trio.fail_after(WAIT_S):
                return await trio.open_tcp_stream(host, port)

        return cls(tracker, nursery, open_tcp)

    async def connect(self, name: str = "raw", *, lockstep: bool = False) -> Peer:
        """A connected peer that has said nothing yet; its messages are recorded."""
        peer = Peer(name, Client(await self.open_stream(lockstep)))
        self.nursery.start_soon(peer.read_forever)
        return peer

    async def join(
        self, name: str, role: str = "viewer", *, capacity: int = 3, lockstep: bool = False
    ) -> Peer:
        """A peer that said Hello and was welcomed."""
        peer = await self.connect(name, lockstep=lockstep)
        await peer.send(hello_message(name, role, capacity=capacity))
        await peer.next(p.Welcome)
        return peer


async def heartbeat(peer: Peer, *, every_s: float, first_s: float, until_s: float) -> int:
    """Send a Heartbeat at first_s, first_s + every_s, ... up to until_s; return the count.

    Times are taken on a grid (first_s + n x every_s), so they do not drift. Stops early,
    quietly, once the tracker has closed the connection.
    """
    seq = 0
    while (at_s := first_s + seq * every_s) <= until_s:
        await trio.sleep_until(at_s)
        if peer.closed_at_s is not None:
            break
        seq += 1
        try:
            await peer.send(p.Heartbeat(seq=seq, stats=RECEIVING))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            break
    return seq
