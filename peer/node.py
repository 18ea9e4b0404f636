"""The peer: one program, two roles, the same core for the CLI, the GUI and simulations.

A *source* reads, paces and encodes frames (JPEG or H.264) and sends them to at most
`max_children` direct children. A *viewer* follows the parent the tracker assigns,
forwards every frame to its own children the moment it arrives (before any decode), and
separately makes pictures for its display at its own resolution (peer/pictures.py: the
newest JPEG, or every H.264 unit in order). Both keep the frames since the last
keyframe for a child that joins (peer/gop.py), pass keyframe requests up the tree, and
keep a session with the tracker and report statistics in their heartbeats.

The sinks (what the user sees) are `PeerHooks`: the peer tells them what happened as
events (peer/events.py), and the CLI prints them, the GUI words and draws them. The
source's reading, pacing and encoding are in peer/source.py; the questions it asks the
tracker (chat posts, status) in peer/requests.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

import protocol as p
from peer import events as ev
from peer.addresses import interface_addresses
from peer.chat_board import ChatBoard
from peer.children import ChildrenHub
from peer.config import PeerConfig, PeerHooks
from peer.display import Display
from peer.errors import PeerError
from peer.gate import AdmissionGate
from peer.gop import GopCache, KeyframeLimiter
from peer.integrity import FrameIntegrity, Verdict
from peer.parent import LinkEnded, ParentFollower
from peer.pictures import Picture, PictureFeed
from peer.punching import ListenPortDialer
from peer.reach import Reach
from peer.requests import TrackerRequests
from peer.reversal import ChildDialer, ReversedLinks
from peer.source import FrameSource
from peer.stats import PeerCounters, kbps
from peer.tracker_link import TrackerLink
from peer.uplink_probe import ProbeResult, UplinkProber
from peer.upload_limit import UploadLimit
from protocol.addresses import format_address
from protocol.signing import FrameSigner


class Peer:
    """A running source or viewer."""

    def __init__(
        self,
        config: PeerConfig,
        hooks: PeerHooks | None = None,
        *,
        frame_source: FrameSource | None = None,
    ) -> None:
        """A peer as `config` says; a source streams `frame_source` if given, else opens
        `config.source` when it runs."""
        self.config = config
        self.hooks = hooks or PeerHooks()
        self.resolution = config.resolution
        self.counters = PeerCounters(
            name=config.name, role=config.role, resolution=config.resolution
        )
        slots = config.slot_estimate()
        first_slots = slots.slots if slots is not None else config.max_children
        self.gate = AdmissionGate(name=config.name, capacity=first_slots)
        self.epoch = 0
        self.gop = GopCache()
        self._last_epoch = self._last_seq = 0  # of the newest frame received
        # The codec of the stream we send or receive (a viewer learns it from the frames).
        self.codec = frame_source.codec if frame_source else config.codec
        # Whether we show pictures ourselves (a source's preview, a viewer's display).
        self._displays = config.preview if config.role == "source" else config.decode
        self.keyframe_limiter = KeyframeLimiter()  # requests we pass up the tree
        self.hub = ChildrenHub(
            gate=self.gate,
            depth=lambda: self.counters.depth,
            epoch=lambda: self.epoch,
            on_dropped=self._child_dropped,
            on_sent=lambda nbytes: self.counters.on_bytes_sent(trio.current_time(), nbytes),
            on_event=self.hooks.on_event,
            backlog=self._backlog,
            on_keyframe_request=self._keyframe_requested,
            slots=slots,
            upload_limit=(
                UploadLimit(config.upload_limit_kbps) if config.upload_limit_kbps else None
            ),
        )
        # Our connections that leave from our listen port (peer/punching.py).
        self.ports = ListenPortDialer()
        self.tracker = TrackerLink(
            config.tracker,
            hello=self._hello,
            on_message=self._on_tracker_message,
            stats=self._peer_stats,
            on_event=self.hooks.on_event,
            tls=config.tls,
            connect=self.ports.connect_tracker,
        )
        self.follower = ParentFollower(
            name=config.name,
            on_frame=self._on_frame,
            on_parent=self._on_parent,
            on_rtt=lambda rtt_s: self.counters.latency.observe_rtt(rtt_s, trio.current_time()),
            on_stream_ended=self._on_stream_ended,
            report=self.tracker.send,
            on_event=self.hooks.on_event,
            last_frame=lambda: self.last_frame,
        )
        # Connection reversal (peer/reversal.py): parents that cannot be dialled connect
        # to us; when we cannot be dialled, we connect to our children. Hole punching
        # (peer/punching.py): when neither side can be dialled, both connect.
        self.reversed_links = ReversedLinks()
        self.hub.door.take_reversed = self.reversed_links.hand_over
        self.follower.reversed_link = self.reversed_links.take
        self.follower.punch = self.ports.punch
        if slots is not None and config.role == "viewer":
            self.follower.prober = UplinkProber(
                ceiling=config.max_children,
                has_children=lambda: bool(self.hub.links),
                on_result=self._uplink_measured,
                upload_limit=self.hub.upload_limit,
            )
        self.dialer = ChildDialer(
            name=config.name,
            serve=self.hub.serve_dialled,
            on_event=self.hooks.on_event,
            punch=self.ports.punch,
        )
        self.pictures = PictureFeed(on_picture=self._on_picture, on_waiting=self._ask_for_keyframe)
        self.display = Display(self.hooks, self.counters, lambda: self.resolution)
        self.true_latency_ms = 0.0
        self.stream_ended = trio.Event()
        self.finished = trio.Event()
        self.receiving = trio.Event()  # set by the first frame a viewer receives
        self._source = frame_source
        self._scope = trio.CancelScope()
        self.chat = ChatBoard(config.name)
        self.requests = TrackerRequests(self.tracker, self.chat, on_chat=self.hooks.on_chat)
        self._addresses: list[str] = []  # our interface addresses, for the tracker
        # Our port as others reach it: mapped on our router, checked by the tracker.
        self.reach = Reach(config, self.hub, self.tracker, self.counters, self.hooks.on_event)
        # The source signs every frame; viewers check every frame before using it.
        self.signer: FrameSigner | None = None
        if config.role == "source":
            self.signer = frame_source.signer if frame_source else FrameSigner()
        self.integrity = FrameIntegrity()
        # Called with every frame this peer sends (source) or receives (viewer), before any
        # decode: the recorder. Each must return at once.
        self.frame_sinks: list[Callable[[p.VideoFrame], None]] = []
        # Called with every picture made (the newest of each H.264 batch): the HTTP tap.
        self.picture_sinks: list[Callable[[Picture], None]] = []

    # -- life cycle --------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED) -> None:
        """Register, then stream or watch until cancelled or `leave()`; PeerError on setup."""
        config = self.config
        if self.signer is not None and self._source is None:
            self._source = await FrameSource.open(
                config.source or "testsrc",
                loop=config.loop,
                signer=self.signer,
                quality=config.quality,
                max_resolution=config.max_resolution,
                fps=config.fps,
                codec=config.codec,
                h264=config.h264,
            )
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    try:
                        await nursery.start(self.hub.serve, *config.listen)
                    except OSError as exc:
                        where = format_address(*config.listen)
                        raise PeerError(f"cannot listen on {where}: {exc.strerror}") from None
                    self._addresses = interface_addresses(config.listen[0])
                    self.ports.listen_port = self.reach.port_to_share()
                    welcome = await self.tracker.register()
                    self._on_tracker_message(welcome)
                    task_status.started(self)
                    nursery.start_soon(self.tracker.run)
                    nursery.start_soon(self.dialer.run)
                    nursery.start_soon(self.reach.run)
                    if config.role == "source":
                        nursery.start_soon(self._stream)
                    else:
                        nursery.start_soon(self.follower.run)
                    nursery.start_soon(self.pictures.run)  # idle until fed H.264
                    if self._displays:
                        nursery.start_soon(self.display.run)
        finally:
            self.finished.set()
            if self._source is not None:
                self._source.close()

    async def leave(self, reason: str = "leaving") -> None:
        """Leave cleanly: tell the tracker, let children go, stop every task."""
        with trio.CancelScope(shield=True):
            await self.tracker.leave(reason)
        self.hub.drop_all()
        self._scope.cancel()

    def kill(self) -> None:
        """Stop at once without a goodbye (as a crash would; for tests and simulations)."""
        self._scope.cancel()

    # -- controls ----------------------------------------------------------------------

    def say(self, text: str) -> bool:
        """Post a chat message; False if the tracker is unreachable right now."""
        return self.tracker.send(p.ChatSend(text=text))

    async def post_chat(self, text: str) -> p.ChatMessage:
        """Post a chat message and wait for the stamped line (peer/requests.py); raises
        ChatRefused or TrackerError."""
        return await self.requests.post_chat(text)

    @property
    def last_frame(self) -> tuple[int, int]:
        """(epoch, seq) of the newest frame received; (0, 0) before any."""
        return self._last_epoch, self._last_seq

    @property
    def last_image_size(self) -> tuple[int, int] | None:
        """The size of the newest image shown (None before the first)."""
        return self.display.last_image_size

    def set_resolution(self, resolution: str) -> None:
        """Change the local display resolution (applies from the next decoded frame)."""
        self.resolution = resolution
        self.counters.resolution = resolution

    async def status(self) -> p.StatusReply:
        """A snapshot of the swarm from the tracker; TrackerError if it does not answer."""
        return await self.requests.status()

    def stats(self) -> dict[str, object]:
        """The statistics line of DESIGN.md, plus a few extra counters."""
        self.counters.children = len(self.hub.links)
        self.counters.frames_dropped = self.hub.frames_dropped
        snapshot = self.counters.snapshot(trio.current_time(), time.time())
        snapshot["true_latency_ms"] = round(self.true_latency_ms, 2)
        snapshot["parent_switches"] = self.follower.switches
        snapshot["slots"] = self.gate.capacity
        snapshot["frames_rejected"] = self.integrity.rejected
        snapshot["codec"] = self.codec.label
        snapshot["frames_undecodable"] = self.pictures.undecodable
        if self._source is not None:
            snapshot["encode_ms"] = round(self._source.last_encode_s * 1000, 2)
            snapshot["keyframes_forced"] = self._source.keyframes_forced
        return snapshot

    # -- the source --------------------------------------------------------------------

    async def _stream(self) -> None:
        assert self._source is not None
        self.codec = self._source.codec
        self.hub.set_codec(self.codec)
        await self._source.run(lambda: self.epoch, self._send_frame)
        self.hooks.on_event(ev.VideoEnded())
        self.hub.send_control(
            p.StreamEnded(source=self.config.name, epoch=self.epoch, reason="end of the video")
        )
        self.stream_ended.set()
        await self.leave("end of the video")

    def _send_frame(self, frame: p.VideoFrame) -> None:
        self.hub.forward(frame, arrival_ns=frame.header.capture_ns, path_latency_us=0)
        self.gop.add(frame)
        for sink in self.frame_sinks:
            sink(frame)
        self.counters.on_frame_sent(trio.current_time(), frame.payload_bytes())
        if self.shows_pictures():
            self._feed_pictures(frame)
        assert self._source is not None
        self.counters.frames_skipped = self._source.frames_skipped

    # -- the viewer --------------------------------------------------------------------

    def uses_frames(self) -> bool:
        """Whether a received frame goes anywhere: to a child, the display or a sink.

        A peer that relays, shows, records and serves nothing (a leaf run with
        --no-decode, as simulations and benchmarks run most viewers) does not check
        signatures: it only counts what arrives. The check starts again with the next
        frame once a child, a display or a sink needs it.
        """
        return bool(self._displays or self.hub.links or self.frame_sinks or self.picture_sinks)

    def shows_pictures(self) -> bool:
        """Whether frames become pictures here: a display, a preview or the HTTP tap."""
        return self._displays or bool(self.picture_sinks)

    def _on_frame(self, frame: p.VideoFrame, arrival_ns: int) -> None:
        header = frame.header
        if header.epoch == self._last_epoch and header.seq <= self._last_seq:
            return  # a new parent resending what we have: nothing to do with it
        self._last_epoch, self._last_seq = header.epoch, header.seq
        if header.codec is not self.codec:
            self.codec = header.codec
            self.hub.set_codec(header.codec)
        if self.uses_frames():
            verdict = self.integrity.check(frame)
            if verdict is not Verdict.GOOD:
                # Not relayed, shown, recorded or served. Repeated bad frames: leave the
                # parent (the follower switches to the backup and reports why).
                if self.integrity.parent_is_tampering:
                    strikes = self.integrity.strikes
                    detail = f"{strikes} frames failed the signature check"
                    raise LinkEnded(p.LossReason.TAMPERED, detail)
                return
            self.gop.add(frame)
        elif self.gate.capacity:
            self.gop.add(frame, checked=False)  # checked if a child ever needs it
        if self.hub.links:
            # Half the path's RTT without queueing (see LatencyEstimate), in µs.
            rtt_us = int(self.counters.latency.min_rtt_ms * 500)
            self.hub.forward(frame, arrival_ns, header.path_latency_us + rtt_us)
        now = trio.current_time()
        self.counters.on_frame_received(
            now, header.epoch, header.seq, frame.payload_bytes(), header.path_latency_us
        )
        if self.counters.parent is not None:
            self.counters.depth = header.hops
        self.epoch = header.epoch
        self.true_latency_ms = (arrival_ns - header.capture_ns) / 1e6
        self.hooks.on_frame_received(header, arrival_ns)
        self.receiving.set()
        for sink in self.frame_sinks:
            sink(frame)
        if self.shows_pictures():
            self._feed_pictures(frame)

    def _feed_pictures(self, frame: p.VideoFrame) -> None:
        if not self.pictures.fed:  # starting mid-GOP (a tap added late): from the keyframe
            for cached in self._backlog(0, 0):
                self.pictures.feed(cached)
        self.pictures.feed(frame)

    def _backlog(self, epoch: int, seq: int) -> list[p.VideoFrame]:
        """What a new child (or a new picture sink) that has (epoch, seq) gets first: the
        GOP after that, its signatures checked."""
        frames = self.gop.after(epoch, seq)
        if self.gop.unchecked:
            for index, frame in enumerate(frames):
                if self.integrity.check(frame) is not Verdict.GOOD:
                    self.gop.clear()
                    return frames[:index]
            self.gop.unchecked = 0
        return frames

    def _on_picture(self, picture: Picture) -> None:
        if self._displays:
            self.display.put(picture)
        for sink in self.picture_sinks:
            sink(picture)

    # -- keyframe requests -------------------------------------------------------------

    def _ask_for_keyframe(self) -> None:
        """Our decoder lost its place: ask up the tree for a keyframe (rate-limited)."""
        self._keyframe_requested(p.KeyframeRequest(epoch=self._last_epoch))

    def _keyframe_requested(self, request: p.KeyframeRequest) -> None:
        """A child (or our own decoder) wants a keyframe: the source makes one, a relay
        passes the request up, at most once a second either way."""
        now = trio.current_time()
        if self._source is not None:
            if request.epoch == self.epoch:
                self._source.request_keyframe(now)
        elif self.keyframe_limiter.allow(now):
            self.follower.send_up(request)

    def _on_parent(self, name: str | None, depth: int) -> None:
        self.integrity.parent_changed()
        self.counters.parent = name
        self.counters.depth = depth if name is not None else 0
        link = self.follower.link or p.LinkKind.DIRECT
        self.counters.parent_link = None if name is None else link.value
        event = ev.ParentChanged(parent=name, depth=self.counters.depth, link=link)
        self.hooks.on_event(event)

    def _on_stream_ended(self, ended: p.StreamEnded) -> None:
        self.hub.send_control(ended)
        event = ev.StreamEnded(source=ended.source, reason=ended.reason, from_parent=True)
        self.hooks.on_event(event)

    def _child_dropped(self, dropped: ev.ChildDropped) -> None:
        self.hooks.on_event(dropped)
        report = p.ChildDropped(child=dropped.child, reason=dropped.reason, detail=dropped.detail)
        self.tracker.send(report)

    def _uplink_measured(self, result: ProbeResult, stream_bytes_per_s: float) -> None:
        """Our uplink probe is in: offer the slots it showed (see peer/uplink_probe.py)."""
        estimate = self.hub.slots
        if estimate is None:
            return
        self.gate.capacity = estimate.probed(result.slots(stream_bytes_per_s, estimate.ceiling))
        self.hooks.on_event(
            ev.UplinkMeasured(
                upload_kbps=round(kbps(result.bytes_per_s), 1),
                stream_kbps=round(kbps(stream_bytes_per_s), 1),
                slots=self.gate.capacity,
                complete=result.complete,
            )
        )

    # -- the tracker -------------------------------------------------------------------

    def _hello(self) -> p.Hello:
        current = self.follower.current
        return self.config.hello(
            port=self.reach.listen_port,
            addresses=self._addresses,
            slots=self.gate.capacity,
            resolution=self.resolution,
            parent=current.name if current else None,
            stream_key=self.signer.public_key_hex if self.signer else None,
            mapped_port=self.reach.mapped_port,
            from_listen_port=self.ports.tracker_from_listen_port,
        )

    def check_reachability(self) -> bool:
        """Ask the tracker to dial us again (peer/reach.py); False if it cannot be asked."""
        return self.reach.check()

    def dial_address(self) -> str:
        """Where a child on another host would reach us, as far as we know."""
        return self.reach.dial_address()

    def _peer_stats(self) -> p.PeerStats:
        return self.counters.peer_stats(
            trio.current_time(), children=len(self.hub.links), slots=self.gate.capacity
        )

    def _on_tracker_message(self, message: p.Message) -> None:
        hooks = self.hooks
        if isinstance(message, p.Welcome):
            self.hub.add_admission_key(message.admission_key)
            if self.config.role == "source":
                self.epoch = message.epoch
        elif isinstance(message, p.Assign):
            self.integrity.set_key(message.epoch, message.stream_key)
            self.follower.assign(message)
        elif isinstance(message, p.DialChild | p.PunchChild):
            self.dialer.order(message)
        elif isinstance(message, p.BackupUpdate):
            self.follower.set_backup(message.backup)
        elif isinstance(message, p.Reachability):
            self.counters.reachable = message.reachable
        elif isinstance(message, p.ChildDropped):
            self.hub.let_go(message.child)  # declared gone: free its slot now
        else:
            self.requests.on_message(message)  # chat lines and answers to our questions
        event = ev.from_tracker(message, self.config.name)
        if event is not None:
            hooks.on_event(event)
