"""One peer's connection to the tracker: its outbox, its writer, and how it reads.

Scope: everything about moving bytes for one session lives here; what the bytes mean
is tracker/service.py's business, and what to do about them the Room's.

A session works over any `trio.abc.Stream` (TCP, TLS, or a `trio.testing` memory
stream in tests). Two measured fast paths apply only when the stream is a plain
`trio.SocketStream`, and fall back to the stream's own methods otherwise:

- reading waits for the socket to be readable, then reads once (`receive_message`);
- an answer to a heartbeat, when nothing is queued or being sent, is written with one
  non-blocking system call from the reader (`Session.write_now`), sparing the writer a
  wake-up.

At 2,000 peers heartbeating once a second both showed in profiles
(scripts/bench_tracker.py measures them). The outbox policy for control messages is
"never drop, never wait": a peer whose outbox fills (it stopped reading) is cut off,
so it cannot slow anyone else, and a send that takes longer than WRITE_TIMEOUT_S ends
the session too.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import struct

import attrs
import trio

import protocol as p

WRITE_TIMEOUT_S = 5.0
# struct tcp_info (linux/tcp.h): eight one-byte fields, then u32s; tcpi_rtt (in
# microseconds, smoothed) is the sixteenth of those.
TCP_INFO_BYTES = 104
TCP_INFO_RTT_OFFSET = 68
RECEIVE_BYTES = 64 * 1024
OUTBOX_MESSAGES = 256
WRITE_BATCH_BYTES = 64 * 1024
REFUSE_TIMEOUT_S = 1.0  # a connection we turn away gets this long to take its Reject
UNKNOWN_ADDRESS = "?"  # the peer address of a stream that is not a socket
OUTBOX_FULL = "stopped reading (outbox full)"
WRITE_TIMED_OUT = "stopped reading (a send took too long)"


@attrs.define(eq=False)
class Session:
    """One connection: its outbox, the scope that ends it, and who is registered on it."""

    outbox: trio.MemorySendChannel[bytes]
    pending: trio.MemoryReceiveChannel[bytes]
    scope: trio.CancelScope
    stream: trio.abc.Stream
    key: str | None = None
    # Who is in stream.send_all right now (the writer, or the reader answering directly).
    sending: bool = False
    send_done: trio.Event = attrs.field(factory=trio.Event)
    leave_reason: str = "connection closed"
    queued: int = 0  # messages in the outbox (cheaper to count than to ask the channel)
    # The socket when the stream is a plain trio.SocketStream, for the fast write; None
    # for any other stream. (Its fileno() is asked each time: -1 once closed, never a
    # number the system reused for another connection.)
    socket: trio.socket.SocketType | None = None
    last_heartbeat_s: float | None = None  # for the metrics' heartbeat lateness

    @classmethod
    def open(cls, stream: trio.abc.Stream) -> Session:
        """A session for `stream` with an empty outbox of OUTBOX_MESSAGES messages."""
        outbox, pending = trio.open_memory_channel[bytes](OUTBOX_MESSAGES)
        sock = stream.socket if isinstance(stream, trio.SocketStream) else None
        return cls(
            outbox=outbox, pending=pending, scope=trio.CancelScope(), stream=stream, socket=sock
        )

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

    def can_answer_now(self) -> bool:
        """Nothing queued and nobody sending on a plain socket: an answer may skip the outbox."""
        return self.socket is not None and not self.sending and self.queued == 0

    def write_now(self, data: bytes) -> None:
        """Write without waiting, when `can_answer_now()` said so.

        One non-blocking system call; what the socket does not take, or an error, goes to
        the writer through the outbox, which is empty, so the order is kept.
        """
        assert self.socket is not None, "write_now is for plain sockets (see can_answer_now)"
        try:
            sent = os.write(self.socket.fileno(), data)
        except OSError:
            sent = 0
        if sent < len(data):
            self.deliver(data[sent:])

    def deliver(self, data: bytes) -> None:
        """Queue bytes for the writer; a peer that stopped reading is cut off."""
        try:
            self.outbox.send_nowait(data)
            self.queued += 1
        except trio.WouldBlock:
            self.leave_reason = OUTBOX_FULL
            self.scope.cancel()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async def write_loop(self) -> None:
        """Drain the outbox into the stream, batching what is queued; end the session after.

        Ends when the outbox is closed and empty, the peer is gone, or one send took
        longer than WRITE_TIMEOUT_S.
        """
        pending = self.pending
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
                    self.queued -= len(batch)
                    guard.deadline = trio.current_time() + WRITE_TIMEOUT_S
                    await self.send_exclusive(data if len(batch) == 1 else b"".join(batch))
                    guard.deadline = math.inf
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        if guard.cancelled_caught:
            self.leave_reason = WRITE_TIMED_OUT
        self.scope.cancel()  # closed outbox, gone peer, or too slow: the session is over


async def receive_message(stream: trio.abc.Stream, decoder: p.MessageDecoder) -> p.Message | None:
    """The next message from a peer, or None when it closed cleanly.

    Peers send one small message at a time, so on a plain socket this waits for the
    socket to be readable, then reads once. trio's receive_some tries to read first,
    which for a peer's once-a-second heartbeat fails nearly every time and costs a
    system call; at thousands of peers that showed in profiles. Any other stream (TLS,
    memory) goes through its own receive_some.
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


async def open_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """TCP listeners on host:port. `::` (or "") is one dual-stack socket where the system
    allows it, so IPv4 peers reach a tracker told to serve IPv6; elsewhere trio's."""
    if host in ("::", "") and socket.has_dualstack_ipv6():
        server = socket.create_server(
            ("::", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=socket.SOMAXCONN
        )
        return [trio.SocketListener(trio.socket.from_stdlib_socket(server))]
    return await trio.open_tcp_listeners(port, host=host or None)


def peer_address(stream: trio.abc.Stream) -> str:
    """The remote IP address of a socket stream (also under TLS), or UNKNOWN_ADDRESS."""
    endpoint = peer_endpoint(stream)
    return endpoint[0] if endpoint is not None else UNKNOWN_ADDRESS


def peer_endpoint(stream: trio.abc.Stream) -> tuple[str, int] | None:
    """The remote address and port of a socket stream (also under TLS), or None."""
    sock = _socket_of(stream)
    if sock is None:
        return None
    try:
        address = sock.getpeername()
    except OSError:
        return None
    return str(address[0]), int(address[1])


def tcp_rtt_s(stream: trio.abc.Stream) -> float | None:
    """The round-trip time the kernel measures on a TCP stream (Linux TCP_INFO), or None
    where the system or the stream cannot tell."""
    sock = _socket_of(stream)
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
    except OSError:
        return None
    if len(info) < TCP_INFO_RTT_OFFSET + 4:
        return None
    (rtt_us,) = struct.unpack_from("I", info, TCP_INFO_RTT_OFFSET)
    return float(rtt_us) / 1e6


def _socket_of(stream: trio.abc.Stream) -> trio.socket.SocketType | None:
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return stream.socket if isinstance(stream, trio.SocketStream) else None


async def refuse_now(stream: trio.abc.Stream, code: p.RejectCode, message: str) -> None:
    """Tell a connection we will not serve it (within REFUSE_TIMEOUT_S), and close it."""
    with (
        trio.move_on_after(REFUSE_TIMEOUT_S),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
    ):
        await stream.send_all(p.encode(p.Reject(code=code, message=message)))
    await trio.aclose_forcefully(stream)
