"""The peer's control connection to the tracker, kept alive for as long as the peer runs.

`register` makes the first connection and returns the Welcome, or raises PeerError with
the tracker's reason. `run` then heartbeats, hands every message to the peer, and when
the connection breaks (tracker crashed, restarted) reconnects with backoff and
registers again under the same name, claiming the parent the peer still receives
from. Video never waits for any of this: relaying goes on while the tracker is away.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import ssl
from collections.abc import Callable

import trio

import protocol as p
from peer.errors import PeerError
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
    p.StreamStarted,
    p.StreamEnded,
    p.Waiting,
    p.HeartbeatAck,
    p.StatusReply,
    p.ChatMessage,
    p.ChatHistory,
)


def connect_failure(exc: OSError) -> str:
    """The most specific reason trio's connect error carries (e.g. Connection refused)."""
    cause: BaseException | None = exc.__cause__
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    return exc.strerror or str(exc)


class TrackerLink:
    """One peer's session with the tracker (and its re-creation after failures)."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        hello: Callable[[], p.Hello],
        on_message: Callable[[p.Message], None],
        stats: Callable[[], p.PeerStats],
        on_notice: Callable[[str], None] = lambda _: None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.address = address
        self.tls = tls
        self._hello = hello
        self._on_message = on_message
        self._stats = stats
        self._on_notice = on_notice
        self._stream: trio.abc.Stream | None = None
        self._decoder = p.MessageDecoder(accept=FROM_TRACKER, max_frame_payload_bytes=0)
        self._outbox_send, self._outbox = trio.open_memory_channel[bytes](OUTBOX_MESSAGES)
        self._seq = itertools.count(1)
        self._sent_at: dict[int, float] = {}
        self.welcome: p.Welcome | None = None
        self.connected = False
        self.rtt_ms = 0.0
        self._goodbye_sent = trio.Event()

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
        """Connect and say hello; the Welcome, or PeerError with the reason."""
        host, port = self.address
        stream: trio.abc.Stream
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                stream = await trio.open_tcp_stream(host, port)
        except trio.TooSlowError:
            raise PeerError(f"cannot reach the tracker at {host}:{port}: timed out") from None
        except OSError as exc:
            reason = connect_failure(exc)
            raise PeerError(f"cannot reach the tracker at {host}:{port}: {reason}") from None
        if self.tls is not None:
            stream = trio.SSLStream(stream, self.tls, server_hostname=host)
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    await stream.do_handshake()
            except (trio.TooSlowError, trio.BrokenResourceError) as exc:
                await trio.aclose_forcefully(stream)
                cause = exc.__cause__ or exc
                raise PeerError(f"TLS with the tracker at {host}:{port} failed: {cause}") from None
        self._decoder = p.MessageDecoder(accept=FROM_TRACKER, max_frame_payload_bytes=0)
        try:
            with trio.fail_after(WELCOME_TIMEOUT_S):
                await stream.send_all(p.encode(self._hello()))
                answer = await receive_message(stream, self._decoder)
        except (trio.TooSlowError, trio.BrokenResourceError, p.ProtocolError) as exc:
            await trio.aclose_forcefully(stream)
            raise PeerError(f"the tracker at {host}:{port} did not welcome us: {exc}") from None
        if isinstance(answer, p.Reject):
            await trio.aclose_forcefully(stream)
            raise PeerError(answer.message)
        if not isinstance(answer, p.Welcome):
            await trio.aclose_forcefully(stream)
            hint = "" if self.tls else " (if it serves TLS, give --tls-ca)"
            raise PeerError(f"the tracker at {host}:{port} closed the connection{hint}")
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
            self._on_notice("lost the tracker connection; video continues, reconnecting")

    async def _reconnect(self) -> None:
        for attempt in itertools.count():
            delay = RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
            await trio.sleep(delay)
            try:
                welcome = await self.register()
            except PeerError as exc:
                if attempt % 5 == 0:
                    self._on_notice(f"tracker not back yet ({exc}); retrying")
                continue
            self._on_notice("re-registered with the tracker")
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
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while True:
                with trio.move_on_after(silence_limit_s) as scope:
                    try:
                        message = await receive_message(stream, self._decoder)
                    except p.ProtocolError as exc:
                        self._on_notice(f"tracker sent bad data ({exc}); reconnecting")
                        return
                if scope.cancelled_caught or message is None:
                    return
                if isinstance(message, p.HeartbeatAck):
                    sent = self._sent_at.pop(message.seq, None)
                    if sent is not None:
                        self.rtt_ms = (trio.current_time() - sent) * 1000
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
            seq = next(self._seq)
            self._sent_at = {s: t for s, t in self._sent_at.items() if s > seq - 10}
            self._sent_at[seq] = trio.current_time()
            self.send(p.Heartbeat(seq=seq, stats=self._stats()))
            await trio.sleep(interval_s)

    async def leave(self, reason: str = "leaving") -> None:
        """Say goodbye to the tracker and wait (briefly) until it is on the wire."""
        self._goodbye_sent = trio.Event()
        if self.send(p.Goodbye(reason=reason)):
            with trio.move_on_after(GOODBYE_TIMEOUT_S):
                await self._goodbye_sent.wait()
