"""The tracker's trio layer: accept connections, feed the Room, carry out its actions.

One task pair per connection: a reader (decode, call the Room, dispatch actions) and a
writer draining a bounded outbox. The outbox policy for control messages is "never
drop, never wait": a peer whose outbox fills (it stopped reading) is disconnected, so
it cannot slow anyone else. Every read has a timeout; the first message must be a
Hello within HELLO_TIMEOUT_S. All decisions are in tracker/room.py and tracker/chat.py.
"""

from __future__ import annotations

import contextlib
import math
import os
import ssl
import time
from collections.abc import Callable

import attrs
import trio

import protocol as p
from protocol.join_key import join_key_matches
from protocol.limits import CHAT_HISTORY_LENGTH
from protocol.names import name_key
from tracker.actions import Action, Broadcast, Close, Send
from tracker.chat import ChatLog
from tracker.chat_store import ChatStore
from tracker.room import Room

HELLO_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0
TICK_INTERVAL_S = 0.2
RECEIVE_BYTES = 64 * 1024
OUTBOX_MESSAGES = 256
WRITE_BATCH_BYTES = 64 * 1024
STORE_QUEUE_ITEMS = 64
# Messages a peer may send the tracker; anything else (video frames included) is refused.
PEER_TO_TRACKER = (
    p.Hello,
    p.Heartbeat,
    p.ChatSend,
    p.StatusRequest,
    p.ParentLost,
    p.ChildDropped,
    p.Goodbye,
)


@attrs.frozen
class TrackerConfig:
    """Settings of one tracker instance (see `streamnest-tracker --help`)."""

    host: str = "127.0.0.1"
    port: int = 9000
    db: str | None = None
    max_peers: int = 10_000
    heartbeat_interval_s: float = 1.0
    missed_heartbeats: int = 3
    hello_timeout_s: float = HELLO_TIMEOUT_S
    recovery_window_s: float = 5.0
    max_unregistered: int = 1024  # connections that have not said Hello yet, in all
    max_unregistered_per_ip: int = 128  # ... and from one address
    join_key: str | None = None  # a private stream: every Hello must carry this key
    tls: ssl.SSLContext | None = None  # serve TLS (trio.SSLStream) instead of plain TCP


@attrs.define(eq=False)
class Session:
    """One connection: its outbox and the scope that ends it."""

    outbox: trio.MemorySendChannel[bytes]
    scope: trio.CancelScope
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    key: str | None = None
    # Who is in stream.send_all right now (the writer, or the reader answering directly).
    sending: bool = False
    send_done: trio.Event = attrs.field(factory=trio.Event)
    leave_reason: str = "connection closed"
    queued: int = 0  # messages in the outbox (cheaper to count than to ask the channel)

    async def send_exclusive(self, data: bytes) -> None:
        """Send on the stream, taking turns between the writer and the reader."""
        while self.sending:
            await self.send_done.wait()
        self.sending = True
        try:
            await self.stream.send_all(data)
        finally:
            self.sending = False
            if self.send_done.statistics().tasks_waiting:
                self.send_done.set()
                self.send_done = trio.Event()

    def write_now(self, data: bytes) -> None:
        """Write without waiting, when nothing is queued or being sent (see can_answer_now).

        One non-blocking system call; what the socket does not take, or an error, goes to
        the writer through the outbox, which is empty, so the order is kept.
        """
        try:
            assert isinstance(self.stream, trio.SocketStream)
            sent = os.write(self.stream.socket.fileno(), data)
        except OSError:
            sent = 0
        if sent < len(data):
            self.deliver(data[sent:])

    def can_answer_now(self) -> bool:
        """Nothing queued and nobody sending on a plain socket: an answer may skip the outbox."""
        return not self.sending and self.queued == 0 and isinstance(self.stream, trio.SocketStream)

    def deliver(self, data: bytes) -> None:
        """Queue bytes for the writer; a peer that stopped reading is cut off."""
        try:
            self.outbox.send_nowait(data)
            self.queued += 1
        except trio.WouldBlock:
            self.scope.cancel()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass


class Tracker:
    """A running tracker: the Room, the chat log and store, and the live sessions."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.room = Room(
            heartbeat_interval_s=config.heartbeat_interval_s,
            missed_heartbeats=config.missed_heartbeats,
            recovery_window_s=config.recovery_window_s,
        )
        self.chat = ChatLog()
        self.sessions: dict[str, Session] = {}
        self.connections = 0
        self.unregistered = 0
        self.unregistered_by_address: dict[str, int] = {}
        self.address: tuple[str, int] | None = None
        self._store: ChatStore | None = None
        # Chat lines and epoch numbers go to storage, in order, through one task.
        self._store_send, self._store_receive = trio.open_memory_channel[p.ChatMessage | int](
            STORE_QUEUE_ITEMS
        )

    async def serve(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until cancelled; `started` gets the bound (host, port)."""
        self._store = await trio.to_thread.run_sync(ChatStore, self.config.db)
        try:
            await self._restore()
            plain = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
            listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(plain)
            if self.config.tls is not None:
                listeners = [trio.SSLListener(lis, self.config.tls) for lis in plain]
            now = trio.current_time()
            self.room.started_s = now
            self.room.wall_offset_s = time.time() - now
            host, port = plain[0].socket.getsockname()[:2]
            self.address = (host, port)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._tick_loop)
                nursery.start_soon(self._store_loop)
                await nursery.start(trio.serve_listeners, self._handle, listeners)
                task_status.started((host, port))
        finally:
            store, self._store = self._store, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(store.close)

    async def _restore(self) -> None:
        assert self._store is not None
        store = self._store
        history = await trio.to_thread.run_sync(store.recent, CHAT_HISTORY_LENGTH)
        self.chat.restore(history)
        epoch = await trio.to_thread.run_sync(store.get_meta, "epoch")
        if epoch is not None and epoch.isdigit():
            self.room.epoch = int(epoch) % 2**32

    # -- connections -------------------------------------------------------------------

    async def _handle(self, stream: trio.abc.Stream) -> None:
        assert isinstance(stream, trio.SocketStream | trio.SSLStream)
        address = _peer_address(stream)
        limit = self.config.max_peers
        if self.connections >= limit:
            await _refuse_now(stream, p.RejectCode.FULL, f"tracker is full ({limit} peers)")
            return
        # Connections that have not said Hello yet cost memory and a task each, and are
        # what a flood or a slowloris makes: they are capped per address and in all.
        if self.unregistered >= self.config.max_unregistered:
            await _refuse_now(
                stream, p.RejectCode.BUSY, "too many connections are registering; retry"
            )
            return
        if self.unregistered_by_address.get(address, 0) >= self.config.max_unregistered_per_ip:
            await _refuse_now(
                stream, p.RejectCode.BUSY, f"too many unregistered connections from {address}"
            )
            return
        self.connections += 1
        self._count_unregistered(address, +1)
        outbox, pending = trio.open_memory_channel[bytes](OUTBOX_MESSAGES)
        session = Session(outbox=outbox, scope=trio.CancelScope(), stream=stream)
        try:
            async with trio.open_nursery() as nursery:
                session.scope = nursery.cancel_scope
                nursery.start_soon(self._write, session, pending)
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._read(stream, session, lambda: self._count_unregistered(address, -1))
                outbox.close()  # the writer flushes what is queued (a Reject...) and ends
        finally:
            self.connections -= 1
            if session.key is None:
                self._count_unregistered(address, -1)
            self._forget(session, session.leave_reason)
            await trio.aclose_forcefully(stream)

    def _count_unregistered(self, address: str, change: int) -> None:
        count = self.unregistered_by_address.get(address, 0) + change
        self.unregistered += change
        if count > 0:
            self.unregistered_by_address[address] = count
        else:
            self.unregistered_by_address.pop(address, None)

    async def _write(self, session: Session, pending: trio.MemoryReceiveChannel[bytes]) -> None:
        # One scope for the whole session, its deadline armed only while sending: cheaper
        # than a new fail_after per message, which showed in profiles at 2,000 peers.
        with trio.CancelScope() as guard:
            try:
                async for data in pending:
                    batch = [data]
                    size = len(data)
                    while size < WRITE_BATCH_BYTES:
                        try:
                            more = pending.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                        batch.append(more)
                        size += len(more)
                    session.queued -= len(batch)
                    guard.deadline = trio.current_time() + WRITE_TIMEOUT_S
                    await session.send_exclusive(data if len(batch) == 1 else b"".join(batch))
                    guard.deadline = math.inf
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        session.scope.cancel()  # closed outbox, gone peer, or too slow: the session is over

    async def _read(
        self,
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
        session: Session,
        registered: Callable[[], None],
    ) -> None:
        decoder = p.MessageDecoder(accept=PEER_TO_TRACKER, max_frame_payload_bytes=0)
        try:
            with trio.move_on_after(self.config.hello_timeout_s):
                first = await receive_message(stream, decoder)
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
                    message = await receive_message(stream, decoder)
                    if isinstance(message, p.Heartbeat) and session.can_answer_now():
                        # The hot path (every peer, every second): answer from this task,
                        # sparing the writer a wake-up.
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
        refusal, actions = self.room.hello(first, now)
        if refusal is not None:
            session.deliver(p.encode(refusal))
            return False
        session.key = name_key(first.name)
        self.sessions[session.key] = session
        self._do(actions)
        session.deliver(p.encode(p.ChatHistory(messages=self.chat.history())))
        return True

    def _heartbeat(self, session: Session, beat: p.Heartbeat) -> bytes:
        """Record a heartbeat and return the encoded acknowledgement."""
        assert session.key is not None
        (ack,) = self.room.heartbeat(session.key, beat, trio.current_time())
        assert isinstance(ack, Send)
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
            self._do(self.room.parent_lost(key, message, now))
        elif isinstance(message, p.ChildDropped):
            self._do(self.room.child_dropped(key, message, now))
        elif isinstance(message, p.Goodbye):
            session.leave_reason = message.reason or "left"
            return False
        else:
            self._refuse(session, p.RejectCode.UNEXPECTED, f"{type(message).__name__} after Hello")
            return False
        return True

    def _post_chat(self, session: Session, key: str, text: str, now: float) -> None:
        sender = self.room.members[key].name
        result = self.chat.post(sender, text, now, time.time_ns())
        if isinstance(result, p.Error):
            session.deliver(p.encode(result))
            return
        try:
            self._store_send.send_nowait(result)
        except trio.WouldBlock:
            session.deliver(
                p.encode(p.Error(code=p.ErrorCode.CHAT_BUSY, message="chat is busy, retry"))
            )

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
            elif isinstance(action, Broadcast):
                data = p.encode(action.message)
                if isinstance(action.message, p.StreamStarted):
                    self._remember_epoch(action.message.epoch)
                for session in list(self.sessions.values()):
                    session.deliver(data)
            elif isinstance(action, Close):
                session = self.sessions.pop(action.to, None)
                if session is not None:
                    session.deliver(p.encode(p.Goodbye(reason=action.reason)))
                    session.outbox.close()

    def _remember_epoch(self, epoch: int) -> None:
        with contextlib.suppress(trio.WouldBlock):
            self._store_send.send_nowait(epoch)

    async def _tick_loop(self) -> None:
        while True:
            await trio.sleep(TICK_INTERVAL_S)
            self._do(self.room.tick(trio.current_time()))

    async def _store_loop(self) -> None:
        """Store each chat line durably, then deliver it to everyone, in id order."""
        async for item in self._store_receive:
            store = self._store
            assert store is not None
            if isinstance(item, int):
                await trio.to_thread.run_sync(store.set_meta, "epoch", str(item))
                continue
            await trio.to_thread.run_sync(store.append, item)
            self._do([Broadcast(item)])


def _peer_address(stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]) -> str:
    sock = (
        stream.socket if isinstance(stream, trio.SocketStream) else stream.transport_stream.socket
    )
    try:
        return str(sock.getpeername()[0])
    except OSError:
        return "?"


async def _refuse_now(stream: trio.abc.Stream, code: p.RejectCode, message: str) -> None:
    """Tell a connection we will not serve it (within a second), and close it."""
    with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError):
        await stream.send_all(p.encode(p.Reject(code=code, message=message)))
    await trio.aclose_forcefully(stream)


async def receive_message(
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream], decoder: p.MessageDecoder
) -> p.Message | None:
    """The next message from a peer, or None when it closed cleanly.

    Peers send one small message at a time, so on a plain socket this waits for the
    socket to be readable, then reads once. trio's receive_some tries to read first,
    which for a peer's once-a-second heartbeat fails nearly every time and costs a
    system call; at thousands of peers that showed in profiles. TLS goes through
    SSLStream.receive_some.
    """
    while True:
        message = decoder.next_message()
        if message is p.CLOSED:
            return None
        if message is not p.NEED_DATA:
            assert not isinstance(message, p.Sentinel)
            return message
        if not isinstance(stream, trio.SocketStream):
            decoder.receive_data(await stream.receive_some(RECEIVE_BYTES))
            continue
        sock = stream.socket
        await trio.lowlevel.wait_readable(sock)
        try:
            data = os.read(sock.fileno(), RECEIVE_BYTES)
        except BlockingIOError:
            continue
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        decoder.receive_data(data)
