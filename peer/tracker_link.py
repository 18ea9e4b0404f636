"""The peer's control connection to the tracker, kept alive for as long as the peer runs.

`register` makes the first connection and returns the Welcome, or raises a TrackerError
(TrackerUnreachable, TrackerRefused with the tracker's code). `run` then heartbeats,
hands every message to the peer, and when the connection breaks (tracker crashed,
restarted) reconnects with backoff and registers again under the same name, claiming
the parent the peer still receives from. Video never waits for any of this: relaying
goes on while the tracker is away.
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
from collections.abc import Awaitable, Callable

import trio

import protocol as p
from peer import events as ev
from peer.connect import connect_failure
from peer.errors import TrackerError, TrackerRefused, TrackerUnreachable
from peer.wire import receive_message

CONNECT_TIMEOUT_S = 5.0
WELCOME_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 3.0)
OUTBOX_MESSAGES = 64
GOODBYE_TIMEOUT_S = 1.0
FROM_TRACKER = (
    p.Welcome,
    p.Reject,
    p.Error,
    p.Goodbye,
    p.Assign,
    p.BackupUpdate,
    p.DialChild,  # connect to this child yourself (connection reversal)
    p.PunchChild,  # connect to this child while it connects to you (hole punching)
    p.ChildDropped,  # the tracker declared one of our children gone
    p.StreamStarted,
    p.StreamEnded,
    p.Waiting,
    p.Reachability,
    p.HeartbeatAck,
    p.StatusReply,
    p.ChatMessage,
    p.ChatHistory,
)


Connect = Callable[[str, int], Awaitable[trio.abc.Stream]]


async def open_tcp(host: str, port: int) -> trio.abc.Stream:
    """A TCP connection to the tracker (the default `connect`; tests pass memory streams)."""
    return await trio.open_tcp_stream(host, port)


class TrackerLink:
    """One peer's session with the tracker (and its re-creation after failures)."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        hello: Callable[[], p.Hello],
        on_message: Callable[[p.Message], None],
        stats: Callable[[], p.PeerStats],
        on_event: Callable[[ev.PeerEvent], None] = lambda _: None,
        tls: ssl.SSLContext | None = None,
        connect: Connect = open_tcp,
    ) -> None:
        self.address = address
        self.tls = tls
        self._hello = hello
        self._on_message = on_message
        self._stats = stats
        self._on_event = on_event
        self._connect = connect
        self._stream: trio.abc.Stream | None = None
        self._decoder = p.MessageDecoder(accept=FROM_TRACKER, max_frame_payload_bytes=0)
        self._outbox_send, self._outbox = trio.open_memory_channel[bytes](OUTBOX_MESSAGES)
        self._seq = itertools.count(1)
        self.welcome: p.Welcome | None = None
        self.connected = False
        self._goodbye_sent = trio.Event()
        self._lost_because = ""

    def send(self, message: p.Message) -> bool:
        """Queue a message for the tracker; False if it cannot be sent now."""
        if not self.connected:
            return False
        try:
            self._outbox_send.send_nowait(p.encode(message))
        except trio.WouldBlock:
            return False
        return True

    async def register(self) -> p.Welcome:
        """Connect and say hello; the Welcome, or a TrackerError saying why not."""
        host, port = self.address
        stream: trio.abc.Stream
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                stream = await self._connect(host, port)
        except trio.TooSlowError:
            raise TrackerUnreachable(self.address, "timed out") from None
        except OSError as exc:
            raise TrackerUnreachable(self.address, connect_failure(exc)) from None
        if self.tls is not None:
            stream = trio.SSLStream(stream, self.tls, server_hostname=host)
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    await stream.do_handshake()
            except (trio.TooSlowError, trio.BrokenResourceError) as exc:
                await trio.aclose_forcefully(stream)
                cause = exc.__cause__ or exc
                failed = f"TLS with the tracker at {host}:{port} failed: {cause}"
                raise TrackerError(failed) from None
        self._decoder = p.MessageDecoder(accept=FROM_TRACKER, max_frame_payload_bytes=0)
        try:
            with trio.fail_after(WELCOME_TIMEOUT_S):
                await stream.send_all(p.encode(self._hello()))
                answer = await receive_message(stream, self._decoder)
        except (trio.TooSlowError, trio.BrokenResourceError, p.ProtocolError) as exc:
            await trio.aclose_forcefully(stream)
            raise TrackerError(f"the tracker at {host}:{port} did not welcome us: {exc}") from None
        if isinstance(answer, p.Reject):
            await trio.aclose_forcefully(stream)
            raise TrackerRefused(answer.code, answer.message)
        if not isinstance(answer, p.Welcome):
            await trio.aclose_forcefully(stream)
            hint = "" if self.tls else " (if it serves TLS, give --tls-ca)"
            raise TrackerError(f"the tracker at {host}:{port} closed the connection{hint}")
        self._stream = stream
        self.welcome = answer
        self.connected = True
        return answer

    async def run(self, heartbeat_interval_s: float | None = None) -> None:
        """Serve the registered session; reconnect and re-register whenever it breaks."""
        while True:
            if self._stream is None:
                await self._reconnect()
            assert self.welcome is not None
            interval = heartbeat_interval_s or self.welcome.heartbeat_interval_ms / 1000
            await self._serve_session(interval)
            self.connected = False
            while True:  # what was queued for the lost connection is stale now
                try:
                    self._outbox.receive_nowait()
                except trio.WouldBlock:
                    break
            self._on_event(ev.TrackerLost(detail=self._lost_because))

    async def _reconnect(self) -> None:
        for attempt in itertools.count():
            delay = RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
            await trio.sleep(delay)
            try:
                welcome = await self.register()
            except TrackerError as exc:
                if attempt % 5 == 0:
                    self._on_event(ev.TrackerRetrying(detail=str(exc)))
                continue
            self._on_event(ev.TrackerBack())
            self._on_message(welcome)
            return

    async def _serve_session(self, interval_s: float) -> None:
        stream = self._stream
        assert stream is not None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, stream, nursery.cancel_scope)
                nursery.start_soon(self._heartbeat, interval_s)
                await self._read(stream, interval_s)
                nursery.cancel_scope.cancel()
        finally:
            self._stream = None
            await trio.aclose_forcefully(stream)

    async def _read(self, stream: trio.abc.Stream, interval_s: float) -> None:
        silence_limit_s = max(interval_s * 4, 3.0)
        self._lost_because = ""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while True:
                with trio.move_on_after(silence_limit_s) as scope:
                    try:
                        message = await receive_message(stream, self._decoder)
                    except p.ProtocolError as exc:
                        self._lost_because = f"bad data: {exc}"
                        return
                if scope.cancelled_caught:
                    self._lost_because = f"silent for {silence_limit_s:g} s"
                    return
                if message is None:
                    return
                if isinstance(message, p.HeartbeatAck):
                    continue
                self._on_message(message)
                if isinstance(message, p.Reject | p.Goodbye):
                    return

    async def _write(self, stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
        try:
            async for data in self._outbox:
                with trio.fail_after(WRITE_TIMEOUT_S):
                    await stream.send_all(data)
                if data[3] == p.Goodbye.TYPE_CODE:
                    self._goodbye_sent.set()
        except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError):
            scope.cancel()

    async def _heartbeat(self, interval_s: float) -> None:
        while True:
            self.send(p.Heartbeat(seq=next(self._seq), stats=self._stats()))
            await trio.sleep(interval_s)

    async def leave(self, reason: str = "leaving") -> None:
        """Say goodbye to the tracker and wait (briefly) until it is on the wire."""
        self._goodbye_sent = trio.Event()
        if self.send(p.Goodbye(reason=reason)):
            with trio.move_on_after(GOODBYE_TIMEOUT_S):
                await self._goodbye_sent.wait()
