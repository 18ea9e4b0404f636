"""The children of a peer: admission, and a send queue and writer per child.

Forwarding: `ChildrenHub.forward(frame, ...)` puts the same received frame (a view of
the received bytes) in every child's `FrameQueue` at once; each child's writer packs a
fresh 40-byte head (hop count + 1, path latency including the time the frame waited
here) and sends it followed by the untouched JPEG bytes. A child that cannot keep up
loses its oldest queued frames; one that accepts nothing for STALL_TIMEOUT_S is cut off
and reported to the tracker, and nobody else notices. When most children starve at once
the bottleneck is our own upload (`peer.stats.UploadMonitor` decides): the newest
children are let go as OVERLOADED, and the hub takes no more than the upload carries.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import attrs
import trio

import protocol as p
from peer.gate import AdmissionGate
from peer.queues import FrameQueue
from peer.stats import UploadMonitor, UploadSample
from peer.wire import extend_deadline, receive_message

JOIN_TIMEOUT_S = 3.0
# A child may present a token minted with a key our own Welcome has not brought yet (the
# tracker assigns the child as it welcomes us): wait this long for a new key, then refuse.
NEW_KEY_WAIT_S = 2.0
# Connections that have not finished joining, in all and from one address.
MAX_JOINING = 64
MAX_JOINING_PER_ADDRESS = 8
STALL_TIMEOUT_S = 3.0
STALL_CHECK_INTERVAL_S = 0.25
CHILD_SILENCE_S = 5.0  # children ping every 0.5 s
CHILD_QUEUE_FRAMES = 4
UPLOAD_CHECK_INTERVAL_S = 0.5
# ChildDropped reason: our upload cannot carry this child; the tracker lowers our
# capacity to the children we keep.
OVERLOADED = "overloaded"
FROM_CHILD = (p.Join, p.Ping, p.Pong, p.Goodbye)


async def send_frame(stream: trio.SocketStream, head: bytes, jpeg: memoryview) -> None:
    """Send a frame's head and JPEG bytes in one scatter-gather call, without joining them.

    Whatever the socket did not take at once goes out through send_all.
    """
    sent = await stream.socket.sendmsg([head, jpeg])
    if sent < len(head):
        await stream.send_all(head[sent:])
        await stream.send_all(jpeg)
    elif sent < len(head) + jpeg.nbytes:
        await stream.send_all(jpeg[sent - len(head) :])


@attrs.frozen
class QueuedFrame:
    """A frame waiting for one child, with what its head will need at send time."""

    frame: p.VideoFrame
    arrival_ns: int
    path_latency_us: int  # the estimate up to arrival here (parent's + RTT/2)


@attrs.define(eq=False)
class ChildLink:
    """One connected child."""

    name: str
    stream: trio.SocketStream
    queue: FrameQueue[QueuedFrame] = attrs.field(factory=lambda: FrameQueue(CHILD_QUEUE_FRAMES))
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    bytes_sent: int = 0
    frames_sent: int = 0
    drop_reason: str | None = None
    sending_since: float | None = None  # when the send in progress started


@attrs.define(eq=False)
class ChildrenHub:
    """Accepts children the tracker sent us and forwards every frame to each of them."""

    gate: AdmissionGate
    depth: Callable[[], int]
    epoch: Callable[[], int]
    on_dropped: Callable[[str, str], None] = lambda child, reason: None
    on_sent: Callable[[int], None] = lambda nbytes: None
    on_notice: Callable[[str], None] = lambda text: None
    links: dict[str, ChildLink] = attrs.field(factory=dict)
    address: tuple[str, int] | None = None
    frames_dropped: int = 0
    # What the upload monitor reads: frames offered to the children, their bytes, and
    # the bytes actually written to all children.
    frames_offered: int = 0
    bytes_offered: int = 0
    bytes_sent: int = 0
    upload: UploadMonitor = attrs.field(factory=UploadMonitor)
    _key_added: trio.Event = attrs.field(factory=trio.Event)
    _joining: int = 0
    _joining_by_address: dict[str, int] = attrs.field(factory=dict)

    def add_admission_key(self, key: str) -> None:
        """Trust tokens minted with `key` (from the tracker's Welcome)."""
        self.gate.add_key(key)
        self._key_added.set()
        self._key_added = trio.Event()

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen for children on host:port until cancelled; started() gets the address."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()
        self.address = (host, bound[1])
        task_status.started(self.address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_stalls)
            await trio.serve_listeners(self._handle, listeners)

    def forward(self, frame: p.VideoFrame, arrival_ns: int, path_latency_us: int) -> None:
        """Send `frame` to every child now, or queue it (never blocks; a full queue drops
        its oldest)."""
        queued = QueuedFrame(frame, arrival_ns, path_latency_us)
        self.frames_offered += 1
        self.bytes_offered += p.ENVELOPE_BYTES + frame.payload_bytes()
        for link in self.links.values():
            if link.sending_since is None and link.queue.idle and self._write_now(link, queued):
                continue
            if not link.queue.put_frame(queued):
                self.frames_dropped += 1

    def _write_now(self, link: ChildLink, item: QueuedFrame) -> bool:
        """Write a frame to an idle child straight from the receiving task.

        The common case on a healthy tree: the child's writer is parked with nothing
        queued, so waking it would cost a task switch per frame per child. One
        non-blocking scatter-gather write instead; whatever the socket does not take
        goes to the front of the queue for the writer, so order is kept. False (queue it)
        if the socket takes nothing or reports an error: the writer then deals with it.
        """
        head, jpeg = self._relay_head(item)
        try:
            sent = os.writev(link.stream.socket.fileno(), [head, jpeg])
        except OSError:  # full (BlockingIOError) or broken: the queue and the writer deal
            return False
        if sent == 0:
            return False
        total = len(head) + jpeg.nbytes
        if sent < total:
            rest = (
                (head + bytes(jpeg))[sent:] if sent < len(head) else bytes(jpeg[sent - len(head) :])
            )
            link.queue.put_control(rest, front=True)
        link.bytes_sent += total
        link.frames_sent += 1
        self.bytes_sent += total
        self.on_sent(total)
        return True

    @staticmethod
    def _relay_head(item: QueuedFrame) -> tuple[bytes, memoryview]:
        waited_us = (time.time_ns() - item.arrival_ns) // 1000
        frame = item.frame
        return p.relay_parts(
            frame,
            hops=frame.header.hops + 1,
            path_latency_us=item.path_latency_us + max(0, waited_us),
        )

    def send_control(self, message: p.Message) -> None:
        """Send a control message (stream end) to every child, ahead of queued frames."""
        data = p.encode(message)
        for link in self.links.values():
            link.queue.put_control(data)

    def drop_all(self) -> None:
        """Disconnect every child (the peer is leaving)."""
        for link in list(self.links.values()):
            link.scope.cancel()

    async def _handle(self, stream: trio.SocketStream) -> None:
        # Connections still joining cost a task each and are what a flood makes: they
        # are capped per address and in all (children are capped by the gate).
        try:
            address = str(stream.socket.getpeername()[0])
        except OSError:
            address = "?"
        if (
            self._joining >= MAX_JOINING
            or self._joining_by_address.get(address, 0) >= MAX_JOINING_PER_ADDRESS
        ):
            with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError):
                busy = p.Reject(code="busy", message=f"too many joins from {address}; retry")
                await stream.send_all(p.encode(busy))
            await trio.aclose_forcefully(stream)
            return
        self._count_joining(address, +1)
        try:
            joined = await self._join(stream)
        finally:
            self._count_joining(address, -1)
        if joined is not None:
            name, decoder = joined
            await self._serve_child(name, stream, decoder)

    @property
    def joining(self) -> int:
        """Connections that have not finished joining yet."""
        return self._joining

    def _count_joining(self, address: str, change: int) -> None:
        self._joining += change
        count = self._joining_by_address.get(address, 0) + change
        if count > 0:
            self._joining_by_address[address] = count
        else:
            self._joining_by_address.pop(address, None)

    async def _join(self, stream: trio.SocketStream) -> tuple[str, p.MessageDecoder] | None:
        """Admit or refuse a new connection; (child name, its decoder) if admitted."""
        decoder = p.MessageDecoder(accept=FROM_CHILD, max_frame_payload_bytes=0)
        try:
            with trio.fail_after(JOIN_TIMEOUT_S):
                join = await receive_message(stream, decoder)
            if not isinstance(join, p.Join):
                await trio.aclose_forcefully(stream)
                return None
            refusal = self.gate.admit(join, children_now=len(self.links), now_s=time.time())
            if refusal is not None and refusal.code == "bad_token":
                with trio.move_on_after(NEW_KEY_WAIT_S):
                    await self._key_added.wait()
                    refusal = self.gate.admit(join, children_now=len(self.links), now_s=time.time())
            if refusal is not None:
                with trio.fail_after(JOIN_TIMEOUT_S):
                    await stream.send_all(p.encode(refusal))
                self.on_notice(f"refused child {join.name}: {refusal.message}")
                await trio.aclose_forcefully(stream)
                return None
            accept = p.Accept(parent=self.gate.name, depth=self.depth(), epoch=self.epoch())
            with trio.fail_after(JOIN_TIMEOUT_S):
                await stream.send_all(p.encode(accept))
        except (trio.TooSlowError, trio.BrokenResourceError, p.ProtocolError):
            await trio.aclose_forcefully(stream)
            return None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return join.name, decoder

    async def _serve_child(
        self, name: str, stream: trio.SocketStream, decoder: p.MessageDecoder
    ) -> None:
        previous = self.links.get(name)
        if previous is not None:
            previous.scope.cancel()  # the same child reconnected: keep only the new link
        link = ChildLink(name=name, stream=stream)
        self.links[name] = link
        reason = "left"
        try:
            with link.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, link, nursery.cancel_scope)
                    reason = await self._read(link, decoder)
                    nursery.cancel_scope.cancel()
            if link.drop_reason is not None:
                reason = link.drop_reason
        finally:
            if self.links.get(name) is link:
                del self.links[name]
            link.queue.close()
            await trio.aclose_forcefully(stream)
        if reason in ("stalled", "misbehaved", OVERLOADED):
            self.on_dropped(name, reason)

    async def _read(self, link: ChildLink, decoder: p.MessageDecoder) -> str:
        try:
            with trio.CancelScope() as silence:
                while True:
                    extend_deadline(silence, CHILD_SILENCE_S, 1.0)
                    message = await receive_message(link.stream, decoder)
                    if message is None or isinstance(message, p.Goodbye):
                        return "left"
                    if isinstance(message, p.Ping):
                        pong = p.Pong(nonce=message.nonce, echo_ns=message.sent_ns)
                        link.queue.put_control(p.encode(pong))
                    elif not isinstance(message, p.Pong):
                        return "misbehaved"
            return "stalled"
        except p.ProtocolError as exc:
            self.on_notice(f"child {link.name} sent bad data ({exc.reason.value}); dropped")
            return "misbehaved"
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return "left"

    async def _write(self, link: ChildLink, scope: trio.CancelScope) -> None:
        stream = link.stream
        try:
            while True:
                item = await link.queue.get()
                link.sending_since = trio.current_time()  # watched by _watch_stalls
                if isinstance(item, bytes):
                    await stream.send_all(item)
                    link.sending_since = None
                    continue
                head, jpeg = self._relay_head(item)
                await send_frame(stream, head, jpeg)
                link.sending_since = None
                link.bytes_sent += len(head) + jpeg.nbytes
                link.frames_sent += 1
                self.bytes_sent += len(head) + jpeg.nbytes
                self.on_sent(len(head) + jpeg.nbytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.EndOfChannel):
            scope.cancel()

    async def _watch_stalls(self) -> None:
        """Cut off any child whose send has been stuck for STALL_TIMEOUT_S.

        One task for all children, instead of a timeout scope around every frame sent.
        It also feeds the upload monitor every UPLOAD_CHECK_INTERVAL_S.
        """
        next_upload_check = trio.current_time()
        while True:
            await trio.sleep(STALL_CHECK_INTERVAL_S)
            now = trio.current_time()
            if now >= next_upload_check:
                next_upload_check = now + UPLOAD_CHECK_INTERVAL_S
                self._check_upload(now)
            for link in list(self.links.values()):
                since = link.sending_since
                if since is not None and now - since > STALL_TIMEOUT_S:
                    link.drop_reason = "stalled"
                    link.scope.cancel()

    def _check_upload(self, now_s: float) -> None:
        """Let children go when the upload cannot carry them all (see UploadMonitor)."""
        sample = UploadSample(
            at_s=now_s,
            frames_offered=self.frames_offered,
            bytes_offered=self.bytes_offered,
            bytes_sent=self.bytes_sent,
            dropped={name: link.queue.dropped for name, link in self.links.items()},
        )
        shed = self.upload.observe(sample)
        if shed is None:
            return
        self.gate.capacity = min(self.gate.capacity, shed.keep)
        self.on_notice(
            f"upload carries {shed.keep} children ({shed.upload_kbps:.0f} kb/s sent, "
            f"{shed.stream_kbps:.0f} kb/s each); letting {', '.join(shed.children)} go"
        )
        for name in shed.children:
            link = self.links.get(name)
            if link is not None:
                link.drop_reason = OVERLOADED
                link.scope.cancel()
