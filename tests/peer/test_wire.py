"""The wire helpers: deadlines that follow activity (a silent link is noticed on time, a
busy one never), addresses, and scatter-gather writes that fail like streams do."""

from __future__ import annotations

import socket
import struct

import pytest
import trio
import trio.testing

from peer.wire import extend_deadline, send_parts
from protocol.addresses import parse_address


async def test_a_silent_link_times_out_after_the_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    with trio.CancelScope() as silence:
        extend_deadline(silence, 1.5, 0.25)
        await trio.sleep_forever()
    assert silence.cancelled_caught
    assert 1.25 <= trio.current_time() - start <= 1.5


async def test_a_busy_link_never_times_out(autojump_clock: trio.testing.MockClock) -> None:
    with trio.CancelScope() as silence:
        for _ in range(100):  # a message every 0.1 s for 10 s
            extend_deadline(silence, 1.5, 0.25)
            await trio.sleep(0.1)
    assert not silence.cancelled_caught


def test_addresses() -> None:
    assert parse_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_address("9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:80") == ("::1", 80)


async def test_send_parts_to_a_reset_connection_raises_the_stream_error() -> None:
    # The socket layer raises ConnectionResetError or BrokenPipeError; callers of a
    # stream expect trio's BrokenResourceError, as send_all gives (a client that hangs
    # up on the MJPEG tap mid-frame is a client gone, not a crash).
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    sender = await trio.open_tcp_stream("127.0.0.1", listener.socket.getsockname()[1])
    receiver = await listener.accept()
    assert isinstance(receiver, trio.SocketStream)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await receiver.aclose()  # with linger 0: a reset, not a goodbye
    with trio.fail_after(10), pytest.raises(trio.BrokenResourceError):
        while True:
            await send_parts(sender, [b"head", memoryview(b"x" * 65536)])
            await trio.lowlevel.checkpoint()
    await sender.aclose()
    await listener.aclose()
