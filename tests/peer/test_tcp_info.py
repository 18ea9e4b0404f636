"""The kernel's word on who holds a TCP connection back, read the way the hub reads it."""

from __future__ import annotations

import sys

import pytest
import trio
import trio.testing

from peer.tcp_info import sending_limits
from tests.polling import eventually

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO is Linux's")


async def test_a_receiver_that_does_not_read_holds_the_sender_back() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        sender = await trio.open_tcp_stream("127.0.0.1", port)
        receiver = await listener.accept()  # and never reads
        chunk = b"x" * 65536

        async def flood() -> None:
            while True:
                await sender.send_all(chunk)

        nursery.start_soon(flood)
        await eventually(
            lambda: (
                (limits := sending_limits(sender)) is not None and limits.receiver_limited_s > 0.2
            ),
            within_s=10,
            what="0.2 s held back by the receive window",
        )
        nursery.cancel_scope.cancel()
    await sender.aclose()
    await receiver.aclose()
    await listener.aclose()


async def test_a_receiver_that_reads_holds_nothing_back() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    sender = await trio.open_tcp_stream("127.0.0.1", port)
    receiver = await listener.accept()
    received = 0
    with trio.fail_after(10):
        for _ in range(200):
            await sender.send_all(b"x" * 30_000)
            while received < 30_000:
                received += len(await receiver.receive_some(65536))
            received -= 30_000
    limits = sending_limits(sender)
    assert limits is not None and limits.receiver_limited_s < 0.05
    for stream in (sender, receiver):
        await stream.aclose()
    await listener.aclose()


def test_streams_that_are_not_tcp_sockets_have_no_limits() -> None:
    send, _ = trio.testing.memory_stream_pair()
    assert sending_limits(send) is None
