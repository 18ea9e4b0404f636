"""Connection reversal: a parent nobody can dial connects to its child instead.

The tracker places a dialable child under a parent behind a home router by telling the
child to wait (`ParentOffer.reverse`) and the parent to dial (`DialChild`). Two sides:
- `ChildDialer` (the parent): connects to the child, opens with `Reverse` and the
  tracker's token, then serves the child on that connection like any other
  (`ChildrenHub.serve_dialled`: the child still presents its Join token).
- `ReversedLinks` (the child): our port hands the connection over once its token checks
  out (peer/joining.py); the parent link (peer/parent.py) takes it in place of dialling.
`ChildDialer` also carries out the parent's half of a hole punch (`PunchChild`, when the
child cannot be dialled either, peer/punching.py): no `Reverse` then, since the child
connects too and opens with its Join as on any link it dials.
The two orders leave the tracker together but may arrive in either order, so a link
that arrives first waits up to REVERSE_WAIT_S for the parent link to ask for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

import protocol as p
from peer import events as ev
from peer.connect import connect_failure, mark_low_delay
from peer.parent import CONNECT_TIMEOUT_S, Connect, open_tcp
from peer.punching import Punch, PunchFailed
from protocol.names import name_key

REVERSE_WAIT_S = 3.0  # how long either side waits for the other
SEND_TIMEOUT_S = 2.0
# Dials in progress at once; orders beyond them wait in a queue of MAX_WAITING_DIALS, and
# past that the newest is dropped (and said): the tracker places the child again.
MAX_DIALS = 8
MAX_WAITING_DIALS = 8

Order = p.DialChild | p.PunchChild  # connect to a child: reversal, or a hole punch


@attrs.define(eq=False)
class ReversedLinks:
    """Connections parents opened to us, passed from our port to our parent link."""

    _arrived: dict[str, trio.abc.Stream] = attrs.field(factory=dict)  # by parent name key
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def hand_over(self, parent: str, stream: trio.abc.Stream) -> bool:
        """Offer `parent`'s connection to our parent link; True once it took it, False
        if nobody asked for it within REVERSE_WAIT_S. Either way the caller may close
        `stream` itself: the link has its own descriptor."""
        key = name_key(parent)
        older = self._arrived.pop(key, None)
        if older is not None:
            await trio.aclose_forcefully(older)  # the same parent again: the newest counts
        stream = _own_descriptor(stream)
        mark_low_delay(stream)
        self._arrived[key] = stream
        self._wake()
        with trio.move_on_after(REVERSE_WAIT_S):
            while self._arrived.get(key) is stream:
                await self._changed.wait()
        if self._arrived.get(key) is stream:
            del self._arrived[key]
            await trio.aclose_forcefully(stream)
            return False
        return True

    async def take(self, parent: str) -> trio.abc.Stream:
        """The connection `parent` opens to us; TooSlowError after REVERSE_WAIT_S."""
        key = name_key(parent)
        with trio.fail_after(REVERSE_WAIT_S):
            while key not in self._arrived:
                await self._changed.wait()
        stream = self._arrived.pop(key)
        self._wake()
        return stream


def _own_descriptor(stream: trio.abc.Stream) -> trio.abc.Stream:
    """`stream`, on a descriptor of its own if it is a socket: the listener closes the
    connection it gave our port's handler once that returns (trio.serve_listeners), and
    a link handed over outlives it."""
    if not isinstance(stream, trio.SocketStream):
        return stream
    sock = stream.socket
    return trio.SocketStream(trio.socket.fromfd(sock.fileno(), sock.family, sock.type))


@attrs.define(eq=False)
class ChildDialer:
    """Dials the children the tracker sends us because they cannot dial us."""

    name: str
    serve: Callable[[trio.abc.Stream], Awaitable[None]]  # ChildrenHub.serve_dialled
    on_event: Callable[[ev.PeerEvent], None] = lambda event: None
    connect: Connect = open_tcp
    # Our half of a hole punch (host, port, delay in seconds), peer/punching.py.
    punch: Punch | None = None
    _send: trio.MemorySendChannel[Order] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[Order] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Order](MAX_WAITING_DIALS)

    def order(self, dial: Order) -> None:
        """The tracker asks us to connect to `dial.child` (never blocks)."""
        try:
            self._send.send_nowait(dial)
        except trio.WouldBlock:
            detail = "too many connections to children asked for at once"
            self.on_event(ev.ChildUnreachable(child=dial.child, detail=detail))

    async def run(self) -> None:
        """Carry out orders until cancelled, MAX_DIALS at a time."""
        limiter = trio.CapacityLimiter(MAX_DIALS)
        async with trio.open_nursery() as nursery:
            async for dial in self._receive:
                await limiter.acquire_on_behalf_of(dial)
                nursery.start_soon(self._dial, dial, limiter)

    async def _dial(self, dial: Order, limiter: trio.CapacityLimiter) -> None:
        try:
            if isinstance(dial, p.PunchChild):
                stream = await self._punch(dial)
            else:
                stream = await self._open(dial)
        finally:
            limiter.release_on_behalf_of(dial)
        if stream is not None:
            await self.serve(stream)

    async def _punch(self, dial: p.PunchChild) -> trio.abc.Stream | None:
        """Our half of a hole punch to the child, or None (said why)."""
        if self.punch is None:
            detail = "hole punching is not available here"
            self.on_event(ev.ChildUnreachable(child=dial.child, detail=detail))
            return None
        try:
            return await self.punch(dial.host, dial.port, dial.delay_ms / 1000)
        except PunchFailed as exc:
            self.on_event(ev.ChildUnreachable(child=dial.child, detail=exc.detail))
            return None

    async def _open(self, dial: p.DialChild) -> trio.abc.Stream | None:
        """A connection to the child that has had our `Reverse`, or None (said why)."""
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                stream = await self.connect(dial.host, dial.port)
        except trio.TooSlowError:
            self.on_event(ev.ChildUnreachable(child=dial.child, detail="timed out"))
            return None
        except OSError as exc:
            self.on_event(ev.ChildUnreachable(child=dial.child, detail=connect_failure(exc)))
            return None
        try:
            with trio.fail_after(SEND_TIMEOUT_S):
                await stream.send_all(p.encode(p.Reverse(parent=self.name, token=dial.token)))
        except (trio.TooSlowError, trio.BrokenResourceError):
            await trio.aclose_forcefully(stream)
            self.on_event(ev.ChildUnreachable(child=dial.child, detail="reset"))
            return None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return stream
