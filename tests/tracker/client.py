"""A minimal tracker client for tests: any trio stream (TCP or memory), the real protocol,
every wait bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

import protocol as p

M = TypeVar("M")
WAIT_S = 10.0


def hello_message(
    name: str, role: str = "viewer", *, capacity: int = 3, parent: str | None = None
) -> p.Hello:
    """The Hello a test peer says (it listens nowhere: nobody dials it)."""
    return p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        name=name,
        role=role,
        listen_host="127.0.0.1",
        listen_port=40000,
        max_children=capacity,
        parent=parent,
    )


class Client:
    """One connection to a tracker, speaking the protocol by hand."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = p.MessageDecoder()
        self.inbox: list[p.Message] = []
        self.welcome: p.Welcome | None = None

    @classmethod
    async def connect(cls, address: tuple[str, int]) -> Client:
        """Open a connection to the tracker at `address`."""
        with trio.fail_after(WAIT_S):
            return cls(await trio.open_tcp_stream(*address))

    async def send(self, message: p.Message) -> None:
        """Send one message."""
        with trio.fail_after(WAIT_S):
            await self.stream.send_all(p.encode(message))

    async def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes (for hostile-input tests)."""
        with trio.fail_after(WAIT_S):
            await self.stream.send_all(data)

    async def receive(self, within_s: float = WAIT_S) -> p.Message | None:
        """The next message, or None when the tracker closed the connection."""
        with trio.fail_after(within_s):
            while True:
                message = self.decoder.next_message()
                if message is p.CLOSED:
                    return None
                if not isinstance(message, p.Sentinel):
                    self.inbox.append(message)
                    return message
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    data = b""
                self.decoder.receive_data(data)

    async def expect(self, kind: type[M], within_s: float = WAIT_S) -> M:
        """Skip messages until one of type `kind` arrives."""
        return await self.expect_that(kind, lambda _: True, within_s)

    async def expect_that(
        self, kind: type[M], check: Callable[[M], bool], within_s: float = WAIT_S
    ) -> M:
        """Skip messages until one of type `kind` satisfies `check`."""
        with trio.fail_after(within_s):
            while True:
                message = await self.receive()
                if message is None:
                    raise AssertionError(
                        f"connection closed while waiting for {kind.__name__}; got {self.inbox}"
                    )
                if isinstance(message, kind) and check(message):
                    return message

    async def expect_one_of(self, *kinds: type, within_s: float = WAIT_S) -> p.Message:
        """Skip messages until one of any of `kinds` arrives."""
        with trio.fail_after(within_s):
            while True:
                message = await self.receive()
                if message is None:
                    raise AssertionError("connection closed while waiting")
                if isinstance(message, kinds):
                    return message

    async def closed(self, within_s: float = WAIT_S) -> bool:
        """Wait until the tracker closes the connection."""
        with trio.fail_after(within_s):
            while await self.receive() is not None:
                pass
        return True

    async def hello(
        self, name: str, role: str = "viewer", *, capacity: int = 3, parent: str | None = None
    ) -> p.Welcome | p.Reject:
        """Register; returns the Welcome or the Reject."""
        await self.send(hello_message(name, role, capacity=capacity, parent=parent))
        with trio.fail_after(WAIT_S):
            while True:
                message = await self.receive()
                if isinstance(message, p.Welcome | p.Reject):
                    if isinstance(message, p.Welcome):
                        self.welcome = message
                    return message
                if message is None:
                    raise AssertionError("closed before Welcome or Reject")

    async def aclose(self) -> None:
        """Close without a goodbye (as a crash would)."""
        await trio.aclose_forcefully(self.stream)


async def joined(address: tuple[str, int], name: str, role: str = "viewer", **kw: int) -> Client:
    """A client that connected and was welcomed."""
    client = await Client.connect(address)
    answer = await client.hello(name, role, **kw)  # type: ignore[arg-type]
    assert isinstance(answer, p.Welcome), answer
    return client
