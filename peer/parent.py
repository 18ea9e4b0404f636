"""A viewer's link to its parent: the trio layer around `peer.parent_plan.ParentPlan`.

`ParentFollower.run` connects to whichever parent the plan says, presents the
admission token, and receives frames (a parent that cannot be dialled connects to us
instead: `reversed_link`, peer/reversal.py), pinging every PING_INTERVAL_S when no frames come
(every BUSY_PING_INTERVAL_S while they do, for the RTT alone). The link is lost
on a close, a reset, bad bytes, or PARENT_SILENCE_S without a frame or a pong; the plan
then decides between the backup and the tracker. Links run over any `trio.abc.Stream`
(`connect` opens them; tests pass memory streams) and every time comes from trio's
clock, so the silence rule runs under MockClock. The Join says the newest frame we
have, so a new parent sends only what comes after it; `send_up` carries a keyframe
request to the parent. A move the tracker orders is made before the old link breaks
(`_attach`). `open_tcp` marks the link for low delay, so our pings do not
wait behind our own video to children (`peer.connect.mark_low_delay`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Awaitable, Callable

import attrs
import trio

import protocol as p
from peer import events as ev
from peer.connect import connect_failure, mark_low_delay
from peer.parent_plan import ParentPlan
from peer.punching import Punch, PunchFailed
from peer.uplink_probe import StreamRate, UplinkProber
from peer.wire import extend_deadline, receive_message

PING_INTERVAL_S = 0.5
# While frames flow they prove the parent alive, so pings are only for the RTT.
BUSY_PING_INTERVAL_S = 2.0
PARENT_SILENCE_S = 1.5
SILENCE_SLACK_S = 0.25  # silence is detected after 1.25 to 1.5 s
CONNECT_TIMEOUT_S = 1.0
ACCEPT_TIMEOUT_S = 2.0
MID_MESSAGE = "closed in the middle of a message"
# Assignments wait here while a link is being made; more than this at once is a
# misbehaving tracker: the newest is dropped (and said).
ASSIGNMENT_QUEUE = 16
# Messages for the parent (keyframe requests) waiting for the link's sender; when full,
# the newest is dropped: a request repeats itself if it is still needed.
UPSTREAM_QUEUE = 4
FROM_PARENT = (p.Accept, p.Reject, p.VideoFrame, p.Ping, p.Pong, p.StreamEnded, p.Goodbye)

Connect = Callable[[str, int], Awaitable[trio.abc.Stream]]


async def open_tcp(host: str, port: int) -> trio.abc.Stream:
    """A TCP connection to a parent (the default `connect`), marked for low delay."""
    stream = await trio.open_tcp_stream(host, port)
    mark_low_delay(stream)
    return stream


class LinkEnded(Exception):
    """The link to a parent ended, for `reason` (a wire code), with a detail for people."""

    def __init__(self, reason: p.LossReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


@attrs.frozen
class Joined:
    """A parent that accepted us: its stream, the stream's decoder, and our depth there."""

    stream: trio.abc.Stream
    decoder: p.MessageDecoder
    depth: int


@attrs.frozen
class Move:
    """How a link ended: moved to `offer` (maybe `joined` already), or `ended` for a reason."""

    offer: p.ParentOffer | None
    joined: Joined | None = None
    ended: LinkEnded | None = None


def _now_ns() -> int:
    return int(trio.current_time() * 1e9)


@attrs.define(eq=False)
class ParentFollower:
    """Keeps a viewer attached to the parent the tracker chose (or its backup)."""

    name: str
    on_frame: Callable[[p.VideoFrame, int], None]
    on_parent: Callable[[str | None, int], None]
    on_rtt: Callable[[float], None]
    on_stream_ended: Callable[[p.StreamEnded], None]
    report: Callable[[p.Message], bool]
    on_event: Callable[[ev.PeerEvent], None] = lambda event: None
    # (epoch, seq) of the newest frame we have; (0, 0) for none.
    last_frame: Callable[[], tuple[int, int]] = lambda: (0, 0)
    connect: Connect = open_tcp
    # The connection a parent that cannot be dialled opens to us (peer/reversal.py);
    # TooSlowError if it does not come. None: we never wait for one.
    reversed_link: Callable[[str], Awaitable[trio.abc.Stream]] | None = None
    # Our half of a hole punch to a parent behind another router (peer/punching.py):
    # host, port, delay in seconds.
    punch: Punch | None = None
    link: p.LinkKind | None = None  # how the link now up was made (None: none is up)
    max_frame_payload_bytes: int = p.limits.MAX_FRAME_PAYLOAD_BYTES
    plan: ParentPlan = attrs.field(factory=ParentPlan)
    # Times our uplink once, on the link to the parent (peer/uplink_probe.py).
    prober: UplinkProber | None = None
    _send: trio.MemorySendChannel[p.Assign] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[p.Assign] = attrs.field(init=False)
    _up_send: trio.MemorySendChannel[p.Message] = attrs.field(init=False)
    _up_receive: trio.MemoryReceiveChannel[p.Message] = attrs.field(init=False)
    _nonce: itertools.count[int] = attrs.field(init=False, factory=lambda: itertools.count(1))
    _last_frame_s: float = attrs.field(init=False, default=-math.inf)
    # This link's first frame, and the stream's rate on it.
    _frames_since_s: float | None = attrs.field(init=False, default=None)
    _rate: StreamRate = attrs.field(init=False, factory=StreamRate)

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[p.Assign](ASSIGNMENT_QUEUE)
        self._up_send, self._up_receive = trio.open_memory_channel[p.Message](UPSTREAM_QUEUE)

    @property
    def current(self) -> p.ParentOffer | None:
        """The parent we receive from now, if any."""
        return self.plan.current

    @property
    def switches(self) -> int:
        """How many times we moved to a backup on our own."""
        return self.plan.switches

    def assign(self, assign: p.Assign) -> None:
        """The tracker placed us (again): follow it."""
        self.plan.set_backup(assign.backup)
        try:
            self._send.send_nowait(assign)
        except trio.WouldBlock:
            self.on_event(ev.AssignmentIgnored())

    def set_backup(self, backup: p.ParentOffer | None) -> None:
        """The tracker named a new backup parent."""
        self.plan.set_backup(backup)

    def send_up(self, message: p.Message) -> bool:
        """Send `message` to the parent if a link is up; False if it was dropped."""
        if self.plan.current is None:
            return False
        try:
            self._up_send.send_nowait(message)
        except trio.WouldBlock:
            return False
        return True

    async def run(self) -> None:
        """Follow assignments forever; recover from parent loss as the plan says."""
        offer: p.ParentOffer | None = None
        joined: Joined | None = None
        while True:
            if offer is None:
                offer = self.plan.follow(await self._receive.receive())
                continue
            move = await self._attach(offer, joined)
            if move.ended is None:
                assert move.offer is not None
                offer, joined = move.offer, move.joined
                continue
            after = self.plan.lost(move.ended.reason, move.ended.detail)
            self.on_parent(None, 0)
            self.on_event(after.event)
            if after.report is not None:
                self.report(after.report)
            offer, joined = after.next_offer, None

    async def _attach(self, offer: p.ParentOffer, joined: Joined | None) -> Move:
        """Run the link to `offer` (already `joined`, after a handover) until it ends, or
        the tracker moves us.

        A move is made before the old link breaks: the new parent is joined while the old
        one keeps sending, and the old link closes only once the new one is accepted, so
        the frames in between come from one or the other (repeats are ignored) and none
        is missed. If the new parent cannot be joined, that is the loss reported, as if
        the old link had been dropped first.
        """
        move: Move | None = None
        async with trio.open_nursery() as nursery:

            async def watch_assignments() -> None:
                nonlocal move
                while True:
                    assign = await self._receive.receive()
                    receiving = self.plan.connected
                    moved = self.plan.follow(assign)
                    if moved is not None:
                        break
                move = Move(offer=moved)  # from now on the old link's end is no news
                if receiving:
                    try:
                        move = Move(offer=moved, joined=await self._join(moved))
                    except LinkEnded as exc:
                        move = Move(offer=moved, ended=exc)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_assignments)
            ended: LinkEnded | None = None
            try:
                await self._link(offer, joined)
            except LinkEnded as exc:
                ended = exc
            if move is None:
                nursery.cancel_scope.cancel()
        if move is not None:
            return move
        return Move(offer=None, ended=ended or LinkEnded(p.LossReason.CLOSED))

    async def _open(self, offer: p.ParentOffer) -> trio.abc.Stream:
        if offer.reverse:
            return await self._reversed(offer)
        if offer.link is p.LinkKind.PUNCHED:
            return await self._punched(offer)
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                return await self.connect(offer.host, offer.port)
        except trio.TooSlowError:
            raise LinkEnded(p.LossReason.UNREACHABLE, "timed out") from None
        except OSError as exc:
            raise LinkEnded(p.LossReason.UNREACHABLE, connect_failure(exc)) from None

    async def _reversed(self, offer: p.ParentOffer) -> trio.abc.Stream:
        """The connection `offer`'s parent opens to us (it cannot be dialled)."""
        if self.reversed_link is None:
            raise LinkEnded(p.LossReason.UNREACHABLE, "it cannot be dialled")
        try:
            return await self.reversed_link(offer.name)
        except trio.TooSlowError:
            raise LinkEnded(p.LossReason.UNREACHABLE, "it did not connect to us in time") from None

    async def _punched(self, offer: p.ParentOffer) -> trio.abc.Stream:
        """The connection we and `offer`'s parent open to each other through our routers."""
        if self.punch is None:
            raise LinkEnded(p.LossReason.UNREACHABLE, "hole punching is not available here")
        try:
            stream = await self.punch(offer.host, offer.port, offer.punch_delay_ms / 1000)
        except PunchFailed as exc:
            raise LinkEnded(p.LossReason.UNREACHABLE, exc.detail) from None
        mark_low_delay(stream)
        return stream

    async def _join(self, offer: p.ParentOffer) -> Joined:
        """Connect to `offer` and join it (Join, then its Accept); LinkEnded if refused."""
        stream = await self._open(offer)
        try:
            decoder = p.MessageDecoder(
                accept=FROM_PARENT, max_frame_payload_bytes=self.max_frame_payload_bytes
            )
            last_epoch, last_seq = self.last_frame()
            join = p.Join(
                protocol_version=p.PROTOCOL_VERSION,
                name=self.name,
                token=offer.token,
                last_epoch=last_epoch,
                last_seq=last_seq,
            )
            try:
                with trio.fail_after(ACCEPT_TIMEOUT_S):
                    await stream.send_all(p.encode(join))
                    answer = await receive_message(stream, decoder)
            except trio.TooSlowError:
                raise LinkEnded(p.LossReason.NO_ANSWER, "no answer to join in time") from None
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise LinkEnded(p.LossReason.RESET, "reset during join") from None
            except p.ProtocolError as exc:
                raise LinkEnded(p.LossReason.BAD_DATA, exc.reason.value) from None
            if isinstance(answer, p.Reject):
                raise LinkEnded(p.LossReason.REFUSED, answer.message)
            if not isinstance(answer, p.Accept):
                raise LinkEnded(p.LossReason.CLOSED, "closed during join")
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return Joined(stream=stream, decoder=decoder, depth=answer.depth + 1)

    async def _link(self, offer: p.ParentOffer, joined: Joined | None) -> None:
        """Join `offer` (unless a handover did), then receive from it until the link ends."""
        if joined is None:
            joined = await self._join(offer)
        stream = joined.stream
        self._frames_since_s, self._rate = None, StreamRate()
        try:
            report = self.plan.attached()
            self.link = offer.link
            self.on_parent(offer.name, joined.depth)
            if report is not None:
                self.report(report)
            ended: LinkEnded | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping, stream)
                try:
                    await self._receive_frames(stream, joined.decoder)
                except LinkEnded as exc:
                    ended = exc  # raised outside the nursery, so it is not wrapped in a group
                nursery.cancel_scope.cancel()
            if ended is not None:
                raise ended
        finally:
            await trio.aclose_forcefully(stream)

    async def _ping(self, stream: trio.abc.Stream) -> None:
        """Ping every PING_INTERVAL_S while no frames come, every BUSY_PING_INTERVAL_S
        while they do (a quiet parent must answer to count as alive); in between, send
        what `send_up` queued. The link's only writer."""
        last_ping_s = -math.inf
        while True:  # what was queued for an earlier parent is stale
            try:
                self._up_receive.receive_nowait()
            except trio.WouldBlock:
                break
        try:
            while True:
                now = trio.current_time()
                quiet = now - self._last_frame_s >= PING_INTERVAL_S
                if quiet or now - last_ping_s >= BUSY_PING_INTERVAL_S:
                    ping = p.Ping(nonce=next(self._nonce), sent_ns=_now_ns())
                    with trio.fail_after(PARENT_SILENCE_S):
                        await stream.send_all(p.encode(ping))
                    last_ping_s = now
                prober = self.prober
                if prober is not None and prober.due(now, self._frames_since_s, self._rate):
                    await prober.run(stream, self._rate.bytes_per_s(), PARENT_SILENCE_S)
                with trio.move_on_after(PING_INTERVAL_S):
                    message = await self._up_receive.receive()
                    with trio.fail_after(PARENT_SILENCE_S):
                        await stream.send_all(p.encode(message))
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            return  # the reader notices the silence

    async def _receive_frames(self, stream: trio.abc.Stream, decoder: p.MessageDecoder) -> None:
        with trio.CancelScope() as silence:
            while True:
                extend_deadline(silence, PARENT_SILENCE_S, SILENCE_SLACK_S)
                try:
                    message = await receive_message(stream, decoder)
                except p.ProtocolError as exc:
                    # A parent that drops us may cut a frame short: that is a close.
                    if exc.reason is p.Reason.TRUNCATED:
                        raise LinkEnded(p.LossReason.CLOSED, MID_MESSAGE) from None
                    raise LinkEnded(p.LossReason.BAD_DATA, exc.reason.value) from None
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise LinkEnded(p.LossReason.RESET, "connection reset") from None
                self._handle(message)
        raise LinkEnded(p.LossReason.SILENT, f"nothing for {PARENT_SILENCE_S} s")

    def _handle(self, message: p.Message | None) -> None:
        """Act on one message from the parent; LinkEnded ends the link."""
        if message is None or isinstance(message, p.Goodbye):
            raise LinkEnded(p.LossReason.CLOSED)
        if isinstance(message, p.VideoFrame):
            self._last_frame_s = trio.current_time()
            if self._frames_since_s is None:
                self._frames_since_s = self._last_frame_s
            nbytes = p.ENVELOPE_BYTES + message.payload_bytes()
            self._rate.add(message.header, nbytes, self._last_frame_s)
            self.on_frame(message, time.time_ns())
        elif isinstance(message, p.Pong):
            self.on_rtt((_now_ns() - message.echo_ns) / 1e9)
        elif isinstance(message, p.StreamEnded):
            self.on_stream_ended(message)
        elif not isinstance(message, p.Ping):  # parents do not ping; a ping is harmless
            detail = f"unexpected {type(message).__name__} from parent"
            raise LinkEnded(p.LossReason.BAD_DATA, detail)
