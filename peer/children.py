"""The children of a peer: a send queue and writer per child (who may join: peer/joining.py).

Forwarding: `ChildrenHub.forward(frame, ...)` puts the same received frame (a view of
the received bytes) in every child's `FrameQueue` at once; each child's writer packs a
fresh 41-byte head (hop count + 1, path latency including the time the frame waited
here) and sends it followed by the untouched picture bytes. A child that cannot keep up
loses its oldest queued frames; one that accepts nothing for STALL_TIMEOUT_S is cut off
and reported to the tracker, and nobody else notices. (An H.264 child that lost a frame
cannot decode until the next keyframe, so its queue is emptied, it gets nothing more
until then, and we ask up the tree for one: our upload is not spent on frames it would
throw away, and the wait is short.) A new child first gets what it lacks of the current
GOP (`backlog`: after the last frame it says it has, or from the keyframe), so it shows
a picture at once. When most children starve at once
the bottleneck is our own upload (`peer.upload_monitor.UploadMonitor` decides): the
newest children are let go as OVERLOADED, and the hub takes no more than the upload
carries. Children connect over any `trio.abc.Stream` (`handle`); on a real socket the
frame write is one scatter-gather system call, measured as the relay's fast path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import trio

import protocol as p
from peer import events as ev
from peer.addresses import open_listener
from peer.capacity import SlotEstimate
from peer.child_link import (
    CHILD_QUEUE_FRAMES,
    ChildLink,
    QueuedFrame,
    can_write_now,
    queue_bound,
    relay_head,
    send_frame,
    write_now,
)
from peer.gate import AdmissionGate
from peer.joining import Doorway
from peer.queues import FrameQueue
from peer.tcp_info import sending_limits
from peer.upload_limit import UploadLimit
from peer.upload_monitor import CpuBehind, UploadMonitor, UploadSample
from peer.wire import extend_deadline, receive_message

STALL_TIMEOUT_S = 3.0
STALL_CHECK_INTERVAL_S = 0.25
CHILD_SILENCE_S = 5.0  # children ping at least every 2 s (peer/parent.py)
UPLOAD_CHECK_INTERVAL_S = 0.5


def _no_backlog(epoch: int, seq: int) -> list[p.VideoFrame]:
    return []


@attrs.define(eq=False)
class ChildrenHub:
    """Accepts children the tracker sent us and forwards every frame to each of them."""

    gate: AdmissionGate
    depth: Callable[[], int]
    epoch: Callable[[], int]
    on_dropped: Callable[[ev.ChildDropped], None] = lambda dropped: None
    on_sent: Callable[[int], None] = lambda nbytes: None
    on_event: Callable[[ev.PeerEvent], None] = lambda event: None
    # What a new child that has (epoch, seq) needs first (peer.gop.GopCache.after).
    backlog: Callable[[int, int], list[p.VideoFrame]] = _no_backlog
    on_keyframe_request: Callable[[p.KeyframeRequest], None] = lambda request: None
    links: dict[str, ChildLink] = attrs.field(factory=dict)
    queue_frames: int = CHILD_QUEUE_FRAMES  # each child's queue bound (set_codec)
    address: tuple[str, int] | None = None
    frames_dropped: int = 0
    # What the upload monitor reads: frames offered to the children, their bytes, and
    # the bytes actually written to all children.
    frames_offered: int = 0
    bytes_offered: int = 0
    bytes_sent: int = 0
    loop_late_s: float = 0.0  # how late the stall watcher woke, summed: our CPU's lag
    # Seconds the writers spent in a frame's send, summed over children: the socket (or
    # --upload-limit) was full. Writes that go straight out (write_now) add nothing.
    send_blocked_s: float = 0.0
    upload: UploadMonitor = attrs.field(factory=UploadMonitor)
    # The slots our upload has shown it serves (None: the gate's capacity, fixed).
    slots: SlotEstimate | None = None
    upload_limit: UploadLimit | None = None  # --upload-limit, shared by every child
    door: Doorway = attrs.field(init=False)  # the first message of every connection
    _child_joined: trio.Event = attrs.field(factory=trio.Event)  # wakes watch_stalls

    def __attrs_post_init__(self) -> None:
        self.door = Doorway(
            gate=self.gate,
            children_now=lambda: len(self.links),
            accept=lambda: p.Accept(parent=self.gate.name, depth=self.depth(), epoch=self.epoch()),
            on_event=self.on_event,
        )

    def add_admission_key(self, key: str) -> None:
        """Trust tokens minted with `key` (from the tracker's Welcome)."""
        self.door.add_admission_key(key)

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen for children on host:port until cancelled; started() gets the address.

        `::` is every interface, IPv6 and IPv4 (peer/addresses.py). Raises OSError when
        the address cannot be bound.
        """
        listener = await open_listener(host, port)
        bound = listener.socket.getsockname()
        self.address = (host, bound[1])
        task_status.started(self.address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.watch_stalls)
            await trio.serve_listeners(self._handle_socket, [listener])

    def forward(self, frame: p.VideoFrame, arrival_ns: int, path_latency_us: int) -> None:
        """Send `frame` to every child now, or queue it (never blocks; a full queue drops
        its oldest)."""
        queued = QueuedFrame(frame, arrival_ns, path_latency_us)
        cost = p.ENVELOPE_BYTES + frame.payload_bytes()  # one child's bytes on the wire
        self.frames_offered += 1
        self.bytes_offered += cost
        parts: tuple[bytes, memoryview] | None = None  # one head for every direct write
        written = 0
        keyframe = frame.header.keyframe
        limit = self.upload_limit
        now = trio.current_time() if limit is not None else 0.0
        for link in self.links.values():
            if link.awaiting_keyframe:
                if not keyframe:
                    link.queue.dropped += 1
                    self.frames_dropped += 1
                    continue
                link.awaiting_keyframe = False
            if can_write_now(link) and (limit is None or limit.take_now(now, cost)):
                if parts is None:
                    parts = relay_head(queued)
                sent = write_now(link, parts)
                if sent:
                    link.frames_sent += 1
                    written += sent
                    continue
            if not link.queue.put_frame(queued):
                self.frames_dropped += 1
                if frame.header.codec is p.Codec.H264 and not keyframe:
                    # Its oldest frame is gone, so nothing after it decodes: skip to a
                    # keyframe, and ask for one (a child that shows nothing would not).
                    self.frames_dropped += link.queue.drop_frames()
                    link.awaiting_keyframe = True
                    self.on_keyframe_request(p.KeyframeRequest(epoch=frame.header.epoch))
        if written:
            self.bytes_sent += written
            self.on_sent(written)

    def set_codec(self, codec: p.Codec) -> None:
        """The stream is (now) of `codec`: size every child's queue for it."""
        self.queue_frames = queue_bound(codec)
        for link in self.links.values():
            link.queue.max_frames = self.queue_frames

    def send_control(self, message: p.Message) -> None:
        """Send a control message (stream end) to every child, ahead of queued frames."""
        data = p.encode(message)
        for link in self.links.values():
            link.queue.put_control(data)

    def let_go(self, name: str) -> None:
        """Disconnect child `name`, if connected (the tracker declared it gone)."""
        link = self.links.get(name)
        if link is not None:
            link.scope.cancel()

    def drop_all(self) -> None:
        """Disconnect every child (the peer is leaving)."""
        for link in list(self.links.values()):
            link.scope.cancel()

    async def _handle_socket(self, stream: trio.SocketStream) -> None:
        try:
            address = str(stream.socket.getpeername()[0])
        except OSError:
            address = "?"
        await self.handle(stream, address)

    async def handle(self, stream: trio.abc.Stream, address: str) -> None:
        """Serve one connection from `address` to our port (peer/joining.py) and, if it
        is a child we admit, serve the child until it leaves.

        The listener calls this for every accepted socket; tests hand it memory streams.
        """
        admitted = await self.door.enter(stream, address)
        if admitted is not None:
            join, decoder = admitted
            await self._serve_child(join, stream, decoder)

    async def serve_dialled(self, stream: trio.abc.Stream) -> None:
        """Serve a child on a connection we opened to it (connection reversal, after our
        `Reverse`), as if it had connected to us."""
        admitted = await self.door.enter_dialled(stream)
        if admitted is not None:
            join, decoder = admitted
            await self._serve_child(join, stream, decoder)

    @property
    def joining(self) -> int:
        """Connections that have not finished joining yet."""
        return self.door.joining

    async def _serve_child(
        self, join: p.Join, stream: trio.abc.Stream, decoder: p.MessageDecoder
    ) -> None:
        name = join.name
        previous = self.links.get(name)
        if previous is not None:
            previous.scope.cancel()  # the same child reconnected: keep only the new link
        link = ChildLink(name=name, stream=stream, queue=FrameQueue(self.queue_frames))
        now_ns = time.time_ns()
        backlog = self.backlog(join.last_epoch, join.last_seq)
        link.queue.put_backlog(
            [QueuedFrame(frame, now_ns, frame.header.path_latency_us) for frame in backlog]
        )
        self.links[name] = link
        self._child_joined.set()
        try:
            with link.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, link, nursery.cancel_scope)
                    await self._read(link, decoder)
                    nursery.cancel_scope.cancel()
        finally:
            if self.links.get(name) is link:
                del self.links[name]
                self.door.child_left()
            link.queue.close()
            await trio.aclose_forcefully(stream)
        if link.drop_reason is not None:
            dropped = ev.ChildDropped(child=name, reason=link.drop_reason, detail=link.drop_detail)
            self.on_dropped(dropped)

    async def _read(self, link: ChildLink, decoder: p.MessageDecoder) -> None:
        """Answer the child's pings until it leaves; a misbehaving or silent child is dropped."""
        try:
            with trio.CancelScope() as silence:
                while True:
                    extend_deadline(silence, CHILD_SILENCE_S, 1.0)
                    message = await receive_message(link.stream, decoder)
                    if message is None or isinstance(message, p.Goodbye):
                        return
                    if isinstance(message, p.Ping):
                        pong = p.encode(p.Pong(nonce=message.nonce, echo_ns=message.sent_ns))
                        # Straight out when nothing is queued, so the RTT measures the
                        # path and not our queue.
                        if not (can_write_now(link) and write_now(link, (pong,))):
                            link.queue.put_control(pong)
                    elif isinstance(message, p.KeyframeRequest):
                        self.on_keyframe_request(message)
                    elif isinstance(message, p.UplinkProbe):  # padding: count it, no more
                        link.probe_bytes += message.padding_bytes
                        if link.probe_bytes > p.limits.MAX_UPLINK_PROBE_BYTES:
                            detail = "probed past the limit"
                            self._mark_dropped(link, p.DropReason.MISBEHAVED, detail)
                            return
                    elif not isinstance(message, p.Pong):
                        self._mark_dropped(link, p.DropReason.MISBEHAVED, type(message).__name__)
                        return
            self._mark_dropped(link, p.DropReason.STALLED, f"silent for {CHILD_SILENCE_S:g} s")
        except p.ProtocolError as exc:
            # A child that closes in the middle of a message (moved on while its uplink
            # probe was being sent, or crashed) has left; it did not misbehave.
            if exc.reason is not p.Reason.TRUNCATED:
                self._mark_dropped(link, p.DropReason.MISBEHAVED, f"bad data: {exc.reason.value}")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    @staticmethod
    def _mark_dropped(link: ChildLink, reason: p.DropReason, detail: str) -> None:
        if link.drop_reason is None:
            link.drop_reason, link.drop_detail = reason, detail

    async def _write(self, link: ChildLink, scope: trio.CancelScope) -> None:
        stream = link.stream
        try:
            while True:
                item = await link.queue.get()
                link.sending_since = trio.current_time()  # watched by _watch_stalls
                if isinstance(item, bytes | memoryview):
                    await stream.send_all(item)
                    link.sending_since = None
                    continue
                if self.upload_limit is not None:  # the wait counts as time spent here
                    cost = p.ENVELOPE_BYTES + item.frame.payload_bytes()
                    await trio.sleep(self.upload_limit.delay_s(trio.current_time(), cost))
                head, data = relay_head(item)
                await send_frame(stream, head, data)
                self.send_blocked_s += trio.current_time() - link.sending_since
                link.sending_since = None
                link.frames_sent += 1
                self.bytes_sent += len(head) + data.nbytes
                self.on_sent(len(head) + data.nbytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.EndOfChannel):
            scope.cancel()

    async def watch_stalls(self) -> None:
        """Cut off any child whose send has been stuck for STALL_TIMEOUT_S, until cancelled.

        One task for all children, instead of a timeout scope around every frame sent.
        It also feeds the upload monitor every UPLOAD_CHECK_INTERVAL_S.
        """
        next_upload_check = trio.current_time()
        while True:
            if not self.links:  # nothing to watch: sleep until a child joins
                await self._child_joined.wait()
                self._child_joined = trio.Event()
            asleep_s = trio.current_time()
            await trio.sleep(STALL_CHECK_INTERVAL_S)
            now = trio.current_time()
            self.loop_late_s += max(0.0, now - asleep_s - STALL_CHECK_INTERVAL_S)
            if now >= next_upload_check:
                next_upload_check = now + UPLOAD_CHECK_INTERVAL_S
                self._check_upload(now)
            for link in list(self.links.values()):
                since = link.sending_since
                if since is not None and now - since > STALL_TIMEOUT_S:
                    stuck = f"a send stuck for {STALL_TIMEOUT_S:g} s"
                    self._mark_dropped(link, p.DropReason.STALLED, stuck)
                    link.scope.cancel()

    def _check_upload(self, now_s: float) -> None:
        """Let children go when the upload cannot carry them all (see UploadMonitor)."""
        sample = UploadSample(
            at_s=now_s,
            frames_offered=self.frames_offered,
            bytes_offered=self.bytes_offered,
            bytes_sent=self.bytes_sent,
            dropped={name: link.queue.dropped for name, link in self.links.items()},
            loop_late_s=self.loop_late_s,
            receiver_limited_s={
                name: limits.receiver_limited_s
                for name, link in self.links.items()
                if (limits := sending_limits(link.stream)) is not None
            },
            send_blocked_s=self.send_blocked_s,
            upload_busy_s=self.upload_limit.busy_s if self.upload_limit is not None else None,
        )
        shed = self.upload.observe(sample)
        if self.slots is not None:
            if shed is not None and not isinstance(shed, CpuBehind):
                self.slots.shed(now_s, shed.keep)
            self.gate.capacity = self.slots.observe(
                now_s,
                children=len(self.links),
                frames_dropped=self.frames_dropped,
                send_blocked_s=sample.send_blocked_s,
                upload_busy_s=sample.upload_busy_s,
                cpu_behind=isinstance(shed, CpuBehind),
            )
        if shed is None:
            return
        if isinstance(shed, CpuBehind):
            self.on_event(ev.CpuBehind(late_ms_per_s=shed.late_ms_per_s, children=shed.children))
            return
        self.gate.capacity = min(self.gate.capacity, shed.keep)
        self.on_event(
            ev.UploadShed(
                keep=shed.keep,
                upload_kbps=shed.upload_kbps,
                stream_kbps=shed.stream_kbps,
                children=tuple(shed.children),
            )
        )
        for name in shed.children:
            link = self.links.get(name)
            if link is not None:
                self._mark_dropped(link, p.DropReason.OVERLOADED, "our upload cannot carry it")
                link.scope.cancel()
