"""One request to the tracker and its answer, for `chat`, `status` and the desktop app.

Registers as an observer (no place in the tree, no video), sends the request, collects
what the tracker answers until the answer that ends it, and leaves.
"""

from __future__ import annotations

import ssl

import trio

import protocol as p
from peer.errors import TrackerError
from peer.tracker_link import TrackerLink

ANSWER_TIMEOUT_S = 5.0


async def one_shot(
    address: tuple[str, int],
    name: str,
    request: p.Message,
    *,
    join_key: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> list[p.Message]:
    """Register as an observer, send one request, and collect the answer."""
    answers: list[p.Message] = []
    done = trio.Event()

    def on_message(message: p.Message) -> None:
        if isinstance(message, p.ChatHistory | p.HeartbeatAck):
            return
        answers.append(message)
        if isinstance(message, p.StatusReply | p.Error | p.Reject):
            done.set()
        if isinstance(message, p.ChatMessage) and message.sender == name:
            done.set()

    def hello() -> p.Hello:
        return p.Hello(
            protocol_version=p.PROTOCOL_VERSION, name=name, role="observer", join_key=join_key
        )

    link = TrackerLink(address, hello=hello, on_message=on_message, stats=p.PeerStats, tls=tls)
    await link.register()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.run)
        link.send(request)
        with trio.move_on_after(ANSWER_TIMEOUT_S) as scope:
            await done.wait()
        if scope.cancelled_caught:
            raise TrackerError("the tracker did not answer in time")
        await link.leave("done")
        nursery.cancel_scope.cancel()
    return answers
