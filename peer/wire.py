"""Reading and writing protocol messages on a trio stream, every wait bounded by the caller."""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Sequence

import trio

import protocol as p

RECEIVE_BYTES = 256 * 1024


async def receive_message(
    stream: trio.abc.ReceiveStream, decoder: p.MessageDecoder
) -> p.Message | None:
    """The next message from `stream`, or None when it closed cleanly.

    Raises ProtocolError for bad bytes and trio.BrokenResourceError for a reset.
    """
    while True:
        message = decoder.next_message()
        if message is p.CLOSED:
            return None
        if not isinstance(message, p.Sentinel):
            return message
        decoder.receive_data(await receive_chunk(stream))


async def receive_chunk(stream: trio.abc.ReceiveStream) -> bytes | bytearray:
    """Up to RECEIVE_BYTES from `stream` (b"" at its end), as `receive_some` gives them.

    On a plain socket it waits for readability first and then reads, because the next
    bytes of a live stream are almost never there yet: trio's `receive_some` tries the
    read first, so every frame would cost a failed read and its exception as well.
    """
    if type(stream) is not trio.SocketStream:
        return await stream.receive_some(RECEIVE_BYTES)
    while True:
        fd = stream.socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the socket was closed")
        await trio.lowlevel.wait_readable(fd)
        try:
            return os.read(fd, RECEIVE_BYTES)
        except BlockingIOError:
            continue  # readable, but another reader or a spurious wakeup took it
        except OSError as exc:
            raise trio.BrokenResourceError(f"connection failed: {exc.strerror}") from exc


def extend_deadline(scope: trio.CancelScope, limit_s: float, slack_s: float) -> None:
    """Keep `scope` expiring `limit_s` after the latest activity, within `slack_s`.

    The deadline moves only when less than limit_s - slack_s is left, so a busy link
    touches trio's timer heap a few times a second instead of on every message.
    """
    now = trio.current_time()
    remaining = scope.deadline - now
    if remaining < limit_s - slack_s or remaining == math.inf:  # inf: not armed yet
        scope.deadline = now + limit_s


async def send_parts(stream: trio.abc.Stream, parts: Sequence[bytes | memoryview]) -> None:
    """Send `parts` in order without joining them (no copy of a frame's bytes).

    On a socket: one scatter-gather call, and whatever it did not take through send_all,
    sliced as views. On any other stream: one send_all per part.
    """
    if not isinstance(stream, trio.SocketStream):
        for part in parts:
            await stream.send_all(part)
        return
    try:
        sent = await stream.socket.sendmsg(parts)
    except OSError as exc:  # the socket layer's errors, as the stream layer raises them
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the socket was closed") from exc
        raise trio.BrokenResourceError(f"connection failed: {exc.strerror}") from exc
    for part in parts:
        size = len(part) if isinstance(part, bytes) else part.nbytes
        if sent >= size:
            sent -= size
            continue
        await stream.send_all(memoryview(part)[sent:] if sent else part)
        sent = 0
