"""A viewer's link to its parent, and what it does when that parent goes away.

`ParentFollower.run` connects to whichever parent the tracker assigned, presents the
admission token, and receives frames, pinging every PING_INTERVAL_S. The link is lost
on a close, a reset, or PARENT_SILENCE_S without a frame or a pong. Then, without
asking anyone, it connects to the backup parent the tracker named in advance, and only
afterwards tells the tracker (`ParentLost` with `switched_to`). If the backup fails
too, it asks the tracker for a new parent and waits for the Assign. A new Assign for a
different parent always wins: the tracker's word is final.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import attrs
import trio

import protocol as p
from peer.tracker_link import connect_failure
from peer.wire import extend_deadline, receive_message
from protocol.names import name_key

PING_INTERVAL_S = 0.5
PARENT_SILENCE_S = 1.5
SILENCE_SLACK_S = 0.25  # silence is detected after 1.25 to 1.5 s
CONNECT_TIMEOUT_S = 1.0
ACCEPT_TIMEOUT_S = 2.0
ASSIGNMENT_QUEUE = 16
FROM_PARENT = (p.Accept, p.Reject, p.VideoFrame, p.Ping, p.Pong, p.StreamEnded, p.Goodbye)


class LinkEnded(Exception):
    """The link to a parent ended; `refused` if the parent turned us away."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused


@attrs.define(eq=False)
class ParentFollower:
    """Keeps a viewer attached to the parent the tracker chose (or its backup)."""

    name: str
    on_frame: Callable[[p.VideoFrame, int], None]
    on_parent: Callable[[str | None, int], None]
    on_rtt: Callable[[float], None]
    on_stream_ended: Callable[[p.StreamEnded], None]
    report: Callable[[p.Message], bool]
    on_notice: Callable[[str], None] = lambda text: None
    max_frame_payload_bytes: int = p.limits.MAX_FRAME_PAYLOAD_BYTES
    backup: p.ParentOffer | None = None
    current: p.ParentOffer | None = None
    switches: int = 0
    _send: trio.MemorySendChannel[p.Assign] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[p.Assign] = attrs.field(init=False)
    _nonce: itertools.count[int] = attrs.field(init=False, factory=lambda: itertools.count(1))
    _switch_reason: str = attrs.field(init=False, default="")

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[p.Assign](ASSIGNMENT_QUEUE)

    def assign(self, assign: p.Assign) -> None:
        """The tracker placed us (again): follow it."""
        self.backup = assign.backup
        try:
            self._send.send_nowait(assign)
        except trio.WouldBlock:
            self.on_notice("too many assignments queued; ignoring one")

    def set_backup(self, backup: p.ParentOffer | None) -> None:
        """The tracker named a new backup parent."""
        self.backup = backup

    async def run(self) -> None:
        """Follow assignments forever; recover from parent loss via the backup."""
        offer: p.ParentOffer | None = None
        switched_from: str | None = None
        while True:
            if offer is None:
                offer = (await self._receive.receive()).parent
                switched_from = None
            kind, detail = await self._attach(offer, switched_from)
            if kind == "replaced":
                assert isinstance(detail, p.ParentOffer)
                offer, switched_from = detail, None
                continue
            lost = offer.name
            self.current = None
            self.on_parent(None, 0)
            backup = self.backup
            usable = backup is not None and name_key(backup.name) != name_key(lost)
            if switched_from is None and backup is not None and usable:
                self.on_notice(f"parent {lost} lost ({detail}); switching to backup {backup.name}")
                offer, switched_from = backup, lost
                self._switch_reason = str(detail)
                self.backup = None
                continue
            self.on_notice(f"parent {lost} lost ({detail}); asking the tracker for another")
            self.report(p.ParentLost(parent=switched_from or lost, reason=str(detail)))
            offer, switched_from = None, None

    async def _attach(
        self, offer: p.ParentOffer, switched_from: str | None
    ) -> tuple[str, p.ParentOffer | str]:
        outcome: tuple[str, p.ParentOffer | str] = ("lost", "closed")
        async with trio.open_nursery() as nursery:

            async def watch_assignments() -> None:
                nonlocal outcome
                while True:
                    assign = await self._receive.receive()
                    if name_key(assign.parent.name) != name_key(offer.name):
                        outcome = ("replaced", assign.parent)
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(watch_assignments)
            try:
                await self._link(offer, switched_from)
            except LinkEnded as exc:
                outcome = ("lost", str(exc))
            nursery.cancel_scope.cancel()
        return outcome

    async def _link(self, offer: p.ParentOffer, switched_from: str | None) -> None:
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                stream = await trio.open_tcp_stream(offer.host, offer.port)
        except trio.TooSlowError:
            raise LinkEnded("cannot connect: timed out") from None
        except OSError as exc:
            raise LinkEnded(f"cannot connect: {connect_failure(exc)}") from None
        try:
            decoder = p.MessageDecoder(
                accept=FROM_PARENT, max_frame_payload_bytes=self.max_frame_payload_bytes
            )
            join = p.Join(protocol_version=p.PROTOCOL_VERSION, name=self.name, token=offer.token)
            try:
                with trio.fail_after(ACCEPT_TIMEOUT_S):
                    await stream.send_all(p.encode(join))
                    answer = await receive_message(stream, decoder)
            except (trio.TooSlowError, trio.BrokenResourceError, p.ProtocolError) as exc:
                raise LinkEnded(f"no answer to join: {exc}") from None
            if isinstance(answer, p.Reject):
                raise LinkEnded(f"refused: {answer.message}", refused=True)
            if not isinstance(answer, p.Accept):
                raise LinkEnded("closed during join")
            self.current = offer
            self.on_parent(offer.name, answer.depth + 1)
            if switched_from is not None:
                self.switches += 1
                lost = p.ParentLost(
                    parent=switched_from, switched_to=offer.name, reason=self._switch_reason
                )
                self.report(lost)
            ended: LinkEnded | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping, stream)
                try:
                    await self._receive_frames(stream, decoder)
                except LinkEnded as exc:
                    ended = exc  # raised outside the nursery, so it is not wrapped in a group
                nursery.cancel_scope.cancel()
            if ended is not None:
                raise ended
        finally:
            await trio.aclose_forcefully(stream)

    async def _ping(self, stream: trio.SocketStream) -> None:
        try:
            while True:
                ping = p.Ping(nonce=next(self._nonce), sent_ns=time.perf_counter_ns())
                with trio.fail_after(PARENT_SILENCE_S):
                    await stream.send_all(p.encode(ping))
                await trio.sleep(PING_INTERVAL_S)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            return  # the reader notices the silence

    async def _receive_frames(self, stream: trio.SocketStream, decoder: p.MessageDecoder) -> None:
        with trio.CancelScope() as silence:
            while True:
                extend_deadline(silence, PARENT_SILENCE_S, SILENCE_SLACK_S)
                try:
                    message = await receive_message(stream, decoder)
                except p.ProtocolError as exc:
                    raise LinkEnded(f"bad data from parent ({exc.reason.value})") from None
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise LinkEnded("connection reset") from None
                self._handle(message)
        raise LinkEnded(f"silent for {PARENT_SILENCE_S} s")

    def _handle(self, message: p.Message | None) -> None:
        """Act on one message from the parent; LinkEnded ends the link."""
        if message is None or isinstance(message, p.Goodbye):
            raise LinkEnded("closed")
        if isinstance(message, p.VideoFrame):
            self.on_frame(message, time.time_ns())
        elif isinstance(message, p.Pong):
            self.on_rtt((time.perf_counter_ns() - message.echo_ns) / 1e9)
        elif isinstance(message, p.StreamEnded):
            self.on_stream_ended(message)
        elif not isinstance(message, p.Ping):  # parents do not ping; a ping is harmless
            raise LinkEnded(f"unexpected {type(message).__name__} from parent")
