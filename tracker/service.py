"""The tracker's trio layer: accept connections, feed the Room, carry out its actions.

One task pair per connection (tracker/session.py): a reader that decodes, calls the
Room and dispatches its actions, and a writer draining a bounded outbox. Every read
has a timeout; the first message must be a Hello within `hello_timeout_s`
(tracker/config.py). All decisions are in tracker/room.py and tracker/chat.py.

Connections are any `trio.abc.Stream`: `serve` listens on TCP (or TLS),
`serve_listeners` serves any trio listeners (tests use one whose connections are
`trio.testing.memory_stream_pair` ends, so liveness runs under a MockClock), and
`serve_stream` serves one connection opened elsewhere.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import trio

import protocol as p
from protocol.addresses import format_address
from protocol.join_key import join_key_matches
from protocol.names import name_key
from tracker.actions import Action, Broadcast, Close, Send
from tracker.chat_keeper import ChatKeeper
from tracker.config import TrackerConfig as TrackerConfig
from tracker.containment import STREAM_ENDED, contained  # where callers import it from
from tracker.errors import TrackerError
from tracker.metrics import TrackerMetrics, serve_metrics
from tracker.probe import run_probe
from tracker.reachability import Probe, Reachability
from tracker.room import MISSED_HEARTBEATS_REASON, SILENT_REASON, Room
from tracker.session import (
    Session,
    open_listeners,
    peer_address,
    peer_endpoint,
    receive_message,
    refuse_now,
    tcp_rtt_s,
)
from tracker.tree import Tree

# Messages a peer may send the tracker; anything else (video frames included) is refused.
PEER_TO_TRACKER = (
    p.Hello,
    p.Heartbeat,
    p.ChatSend,
    p.StatusRequest,
    p.ParentLost,
    p.ChildDropped,
    p.CheckReachability,
    p.Goodbye,
)
DEATHS = (MISSED_HEARTBEATS_REASON, SILENT_REASON)  # a Close for these is a repair
# Reachability probes (tracker/probe.py): this many at a time; a burst of joins queues
# at most PROBE_QUEUE more, and beyond that a probe waits for the peer's next heartbeat.
PROBE_WORKERS = 32
PROBE_QUEUE = 4096
T = TypeVar("T")


class Tracker:
    """A running tracker: the Room, the chat log and store, and the live sessions."""

    def __init__(self, config: TrackerConfig) -> None:
        """A tracker with `config`, not serving yet (see `serve`)."""
        self.config = config
        self.room = Room(
            heartbeat_interval_s=config.heartbeat_interval_s,
            missed_heartbeats=config.missed_heartbeats,
            recovery_window_s=config.recovery_window_s,
            tree=Tree(placement=config.placement),
            reachability=Reachability(enabled=config.check_reachability),
            rtt_s=self._rtt_s,
        )
        self._probe_send, self._probe_receive = trio.open_memory_channel[Probe](PROBE_QUEUE)
        self.metrics = TrackerMetrics(lambda: self.room)
        self._count_bug = self.metrics.internal_errors.inc
        self.metrics_address: tuple[str, int] | None = None
        self.keeper = ChatKeeper(config.db)
        self.chat = self.keeper.chat
        self.sessions: dict[str, Session] = {}
        self.connections = 0
        self.unregistered = 0
        self.unregistered_by_address: dict[str, int] = {}
        self.address: tuple[str, int] | None = None

    async def serve(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on TCP (TLS if configured) until cancelled; `started` gets (host, port).

        Raises TrackerError when it cannot listen there or open the chat database.
        """
        host, port = self.config.host, self.config.port
        try:
            plain = await open_listeners(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise TrackerError(f"cannot listen on {format_address(host, port)}: {reason}") from exc
        listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(plain)
        if self.config.tls is not None:
            listeners = [trio.SSLListener(lis, self.config.tls) for lis in plain]
        bound = plain[0].socket.getsockname()[:2]  # the real port when port was 0
        try:
            async with trio.open_nursery() as nursery:
                if self.config.metrics is not None:
                    self.metrics_address = await self._serve_metrics(nursery, *self.config.metrics)
                await nursery.start(self.serve_listeners, listeners)
                self.address = (bound[0], bound[1])
                task_status.started(self.address)
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)

    async def _serve_metrics(self, nursery: trio.Nursery, host: str, port: int) -> tuple[str, int]:
        try:
            address: tuple[str, int] = await nursery.start(serve_metrics, self.metrics, host, port)
        except OSError as exc:
            where = format_address(host, port)
            raise TrackerError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from exc
        return address

    async def serve_listeners(
        self,
        listeners: Sequence[trio.abc.Listener[Any]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve every connection the listeners accept (any trio stream) until cancelled.

        Opens the chat store, restores history and epoch, and runs the Room's clock and
        the store's writer; `started` once connections are being accepted. While this
        runs, `serve_stream` may serve connections from elsewhere too (with no
        listeners at all, it serves only those). Raises TrackerError (StoreError) when
        the chat database cannot be opened.
        """
        try:
            epoch = await self.keeper.open()
            if epoch is not None:
                self.room.epoch = epoch
            now = trio.current_time()
            self.room.started_s = now
            self.room.wall_offset_s = time.time() - now
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._tick_loop, now)
                nursery.start_soon(self.keeper.run, self._chat_stored)
                for _ in range(PROBE_WORKERS):
                    nursery.start_soon(self._probe_loop)
                if listeners:  # with none, the tracker runs for serve_stream alone
                    await nursery.start(trio.serve_listeners, self._accepted, listeners)
                task_status.started()
        finally:
            await self.keeper.close()

    # -- connections -------------------------------------------------------------------

    async def _accepted(self, stream: trio.abc.Stream) -> None:
        await self.serve_stream(stream, peer_address(stream))

    async def serve_stream(self, stream: trio.abc.Stream, address: str) -> None:
        """Serve one open connection from `address` until it ends, then close it.

        `address` is what the per-address cap on unregistered connections counts. The
        tracker must be serving (`serve` or `serve_listeners` running): they run the
        clock that declares silent peers dead and the chat store.
        """
        if not self.keeper.is_open:
            await trio.aclose_forcefully(stream)
            raise RuntimeError("serve_stream needs Tracker.serve or serve_listeners running")
        limit = self.config.max_peers
        if self.connections >= limit:
            await refuse_now(stream, p.RejectCode.FULL, f"tracker is full ({limit} peers)")
            return
        # Connections that have not said Hello yet cost memory and a task each, and are
        # what a flood or a slowloris makes: they are capped per address and in all.
        if self.unregistered >= self.config.max_unregistered:
            await refuse_now(
                stream, p.RejectCode.BUSY, "too many connections are registering; retry"
            )
            return
        if self.unregistered_by_address.get(address, 0) >= self.config.max_unregistered_per_ip:
            await refuse_now(
                stream, p.RejectCode.BUSY, f"too many unregistered connections from {address}"
            )
            return
        self.connections += 1
        self._count_unregistered(address, +1)
        session = Session.open(stream)
        try:
            async with trio.open_nursery() as nursery:
                session.scope = nursery.cancel_scope
                nursery.start_soon(session.write_loop)
                with (
                    contextlib.suppress(*STREAM_ENDED),
                    contained(f"serving {address}", self._count_bug) as outcome,
                ):
                    await self._read(session, lambda: self._count_unregistered(address, -1))
                if outcome.failed:
                    session.leave_reason = "tracker error"
                session.outbox.close()  # the writer flushes what is queued (a Reject...)
        finally:
            self.connections -= 1
            if session.key is None:
                self._count_unregistered(address, -1)
            with contained(f"forgetting {address}", self._count_bug):
                self._forget(session, session.leave_reason)
            await trio.aclose_forcefully(stream)

    def _count_unregistered(self, address: str, change: int) -> None:
        count = self.unregistered_by_address.get(address, 0) + change
        self.unregistered += change
        if count > 0:
            self.unregistered_by_address[address] = count
        else:
            self.unregistered_by_address.pop(address, None)

    async def _read(self, session: Session, registered: Callable[[], None]) -> None:
        decoder = p.MessageDecoder(accept=PEER_TO_TRACKER, max_frame_payload_bytes=0)
        try:
            with trio.move_on_after(self.config.hello_timeout_s):
                first = await receive_message(session.stream, decoder)
                if not self._register(session, first):
                    return
                registered()
            if session.key is None:
                self._refuse(session, p.RejectCode.HELLO_TIMEOUT, "no Hello within the time limit")
                return
            idle_limit_s = self.config.heartbeat_interval_s * (self.config.missed_heartbeats + 1)
            # Silent for too long: the session ends (tick() declares the peer dead too).
            # The deadline moves only when less than idle_limit_s is left, so the limit
            # is idle_limit_s to 2 x idle_limit_s and the timer heap is touched at most
            # every idle_limit_s, not for every message (it showed in profiles).
            with trio.CancelScope(deadline=trio.current_time() + idle_limit_s) as idle:
                while True:
                    now = trio.current_time()
                    if idle.deadline - now < idle_limit_s:
                        idle.deadline = now + 2 * idle_limit_s
                    message = await receive_message(session.stream, decoder)
                    if isinstance(message, p.Heartbeat):
                        self._time_heartbeat(session)
                        if session.can_answer_now():
                            # The hot path (every peer, every second): answer from this
                            # task, sparing the writer a wake-up.
                            session.write_now(self._heartbeat(session, message))
                            continue
                    if message is None or not self._dispatch(session, message):
                        return
        except p.ProtocolError as exc:
            self._refuse(session, p.RejectCode.PROTOCOL_ERROR, str(exc))

    def _register(self, session: Session, first: p.Message | None) -> bool:
        if first is None:
            return False
        if not isinstance(first, p.Hello):
            self._refuse(session, p.RejectCode.EXPECTED_HELLO, "the first message must be Hello")
            return False
        expected = self.config.join_key
        if expected is not None and not join_key_matches(expected, first.join_key):
            reason = "wrong join key" if first.join_key else "no join key given"
            self._refuse(session, p.RejectCode.JOIN_KEY, f"this stream is private: {reason}")
            return False
        now = trio.current_time()
        seen = peer_endpoint(session.stream)
        host, port = seen if seen is not None else (None, None)
        refusal, actions = self.room.hello(first, now, host, port)
        if refusal is not None:
            session.deliver(p.encode(refusal))
            return False
        session.key = name_key(first.name)
        self.sessions[session.key] = session
        self.metrics.joins.labels(first.role).inc()
        self._do(actions)
        session.deliver(p.encode(p.ChatHistory(messages=self.chat.history())))
        return True

    def _rtt_s(self, key: str) -> float | None:
        """The kernel's RTT on `key`'s connection (it times hole punches)."""
        session = self.sessions.get(key)
        return tcp_rtt_s(session.stream) if session is not None else None

    def _time_heartbeat(self, session: Session) -> None:
        now = trio.current_time()
        if session.last_heartbeat_s is not None:
            late = now - session.last_heartbeat_s - self.config.heartbeat_interval_s
            self.metrics.heartbeat_lateness.observe(max(0.0, late))
        session.last_heartbeat_s = now

    def _heartbeat(self, session: Session, beat: p.Heartbeat) -> bytes:
        """Record a heartbeat and return the encoded acknowledgement."""
        assert session.key is not None
        ack, *more = self.room.heartbeat(session.key, beat, trio.current_time())
        assert isinstance(ack, Send)
        self._do(more)  # a reachability probe due
        return p.encode(ack.message)

    def _dispatch(self, session: Session, message: p.Message) -> bool:
        """Handle one message from a registered peer; False ends the session."""
        key = session.key
        assert key is not None
        now = trio.current_time()
        self.room.seen(key, now)
        if isinstance(message, p.Heartbeat):
            self._do(self.room.heartbeat(key, message, now))
        elif isinstance(message, p.ChatSend):
            self._post_chat(session, key, message.text, now)
        elif isinstance(message, p.StatusRequest):
            session.deliver(p.encode(self.room.status()))
        elif isinstance(message, p.ParentLost):
            self.metrics.repairs.labels("parent_lost").inc()
            self._do(self.room.parent_lost(key, message, now))
        elif isinstance(message, p.ChildDropped):
            self.metrics.repairs.labels("child_dropped").inc()
            self._do(self.room.child_dropped(key, message, now))
        elif isinstance(message, p.CheckReachability):
            self._do(self.room.check_requested(key, now, mapped_port=message.mapped_port))
        elif isinstance(message, p.Goodbye):
            session.leave_reason = message.reason or "left"
            return False
        else:
            self._refuse(session, p.RejectCode.UNEXPECTED, f"{type(message).__name__} after Hello")
            return False
        return True

    def _post_chat(self, session: Session, key: str, text: str, now: float) -> None:
        refusal = self.keeper.post(self.room.members[key].name, text, now)
        if refusal is not None:
            session.deliver(p.encode(refusal))

    def _refuse(self, session: Session, code: p.RejectCode, message: str) -> None:
        session.deliver(p.encode(p.Reject(code=code, message=message)))

    def _forget(self, session: Session, reason: str) -> None:
        key = session.key
        if key is None or self.sessions.get(key) is not session:
            return
        del self.sessions[key]
        member = self.room.members.get(key)
        if member is not None:
            self.chat.forget(member.name)
        self._do(self.room.leave(key, trio.current_time(), reason))

    # -- actions -----------------------------------------------------------------------

    def _do(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                session = self.sessions.get(action.to)
                if session is not None:
                    session.deliver(p.encode(action.message))
                self._count(action.message)
            elif isinstance(action, Broadcast):
                data = p.encode(action.message)
                if isinstance(action.message, p.StreamStarted):
                    self.keeper.remember_epoch(action.message.epoch)
                elif isinstance(action.message, p.ChatMessage):
                    self.metrics.chat_lines.inc()
                for session in list(self.sessions.values()):
                    session.deliver(data)
            elif isinstance(action, Close):
                if action.reason in DEATHS:
                    self.metrics.repairs.labels("died").inc()
                session = self.sessions.pop(action.to, None)
                if session is not None:
                    session.deliver(p.encode(p.Goodbye(reason=action.reason)))
                    session.outbox.close()
            elif isinstance(action, Probe):
                try:
                    self._probe_send.send_nowait(action)
                except trio.WouldBlock:
                    self.room.probe_skipped(action.to, action.nonce)

    def _count(self, message: p.Message) -> None:
        if isinstance(message, p.Assign):
            self.metrics.placements.inc()
        elif isinstance(message, p.Waiting) and message.reason is p.WaitReason.NO_FREE_SLOT:
            self.metrics.placements_refused.inc()

    async def _tick_loop(self, start_s: float) -> None:
        """Run the Room's periodic duties on a fixed grid from `start_s` (no drift)."""
        step_s = self.config.tick_interval_s
        ticks = 0
        while True:
            ticks = max(ticks + 1, int((trio.current_time() - start_s) / step_s))
            await trio.sleep_until(start_s + ticks * step_s)
            with contained("in the tick", self._count_bug):
                self._do(self.room.tick(trio.current_time()))

    async def _probe_loop(self) -> None:
        """Carry out reachability probes, one at a time, reporting each to the Room."""
        async for probe in self._probe_receive:
            answer = await run_probe(
                probe.host, probe.port, probe.name, probe.nonce, self.config.probe_timeout_s
            )
            with contained(f"after probing {probe.name}", self._count_bug):
                self._do(self.room.probed(probe.to, probe.nonce, answer, trio.current_time()))

    def _chat_stored(self, line: p.ChatMessage) -> None:
        """A chat line is stored: now everyone gets it."""
        self._do([Broadcast(line)])
