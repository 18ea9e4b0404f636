"""A watcher of the swarm over the real protocol: status snapshots and acknowledged chat."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import attrs
import trio

import protocol as p
from tests.tracker.client import Client

STATUS_TIMEOUT_S = 5.0


async def observer(address: tuple[str, int], prefix: str = "watch") -> Client:
    """A client registered as an observer (it takes no place in the tree)."""
    client = await Client.connect(address)
    answer = await client.hello(f"{prefix}-{secrets.token_hex(3)}", "observer")
    assert isinstance(answer, p.Welcome), answer
    return client


async def status(address: tuple[str, int]) -> p.StatusReply:
    """One snapshot of the swarm from the tracker at `address`."""
    client = await observer(address)
    try:
        await client.send(p.StatusRequest())
        return await client.expect(p.StatusReply, within_s=STATUS_TIMEOUT_S)
    finally:
        await client.aclose()


async def status_or_none(address: tuple[str, int]) -> p.StatusReply | None:
    """A snapshot, or None while the tracker cannot be reached or answered badly."""
    try:
        with trio.fail_after(STATUS_TIMEOUT_S):
            return await status(address)
    except (OSError, trio.TooSlowError, trio.BrokenResourceError, AssertionError):
        return None


def parents(reply: p.StatusReply) -> dict[str, str | None]:
    """Each viewer's parent, as the tracker sees it."""
    return {peer.name: peer.parent for peer in reply.peers if peer.role == "viewer"}


@attrs.define
class Chatter:
    """Posts chat lines one after another and remembers which the tracker acknowledged.

    A line is acknowledged when it comes back to its sender as a ChatMessage: the
    tracker stores each line durably before it delivers it to anyone.
    """

    name: str
    acknowledged: list[p.ChatMessage] = attrs.field(factory=list)
    sent: int = 0

    async def run(self, address: tuple[str, int], interval_s: float) -> None:
        """Post until the connection breaks (the tracker died) or the task is cancelled."""
        client = await Client.connect(address)
        answer = await client.hello(self.name, "observer")
        assert isinstance(answer, p.Welcome), answer
        try:
            while True:
                self.sent += 1
                text = f"line {self.sent} from {self.name}"
                await client.send(p.ChatSend(text=text))
                echo = await client.expect_that(p.ChatMessage, self._echo_of(text))
                self.acknowledged.append(echo)
                await trio.sleep(interval_s)
        except (trio.BrokenResourceError, AssertionError, OSError, p.ProtocolError):
            return  # the tracker went away mid-post: that line was not acknowledged
        finally:
            await client.aclose()

    def _echo_of(self, text: str) -> Callable[[p.ChatMessage], bool]:
        return lambda message: message.sender == self.name and message.text == text
