"""The chat as one peer sees it: recent history, and posts that wait for their answer.

The tracker stamps every line and sends it to everyone, the sender included, or answers
a refused post (empty, too long, rate limited) with an Error whose code starts with
`chat_`. So a post is confirmed by the first of: our own line coming back with the same
text, or a chat Error. The board matches them in the order the posts were sent, which
is the order the tracker answers them.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque

import attrs
import trio

import protocol as p
from peer.errors import PeerError
from protocol.limits import CHAT_HISTORY_LENGTH

MAX_PENDING_POSTS = 32


def chat_line(message: p.ChatMessage) -> str:
    """`[HH:MM:SS] name: text`, in local time."""
    stamp = time.strftime("%H:%M:%S", time.localtime(message.time_ns / 1e9))
    return f"[{stamp}] {message.sender}: {message.text}"


class ChatRefused(PeerError):
    """The tracker refused a chat post; `code` is its error code (e.g. chat_rate_limited)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@attrs.define(eq=False)
class PendingPost:
    """A post sent to the tracker and not answered yet."""

    text: str
    answer: trio.MemorySendChannel[p.ChatMessage | p.Error]
    answers: trio.MemoryReceiveChannel[p.ChatMessage | p.Error]


class ChatBoard:
    """The last CHAT_HISTORY_LENGTH lines, and the posts still waiting for an answer.

    Each kept line gets a local number, counting from 1, for readers that poll for what
    is new (`since`): the tracker's ids start again after a restart without its --db.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: deque[tuple[int, p.ChatMessage]] = deque(maxlen=CHAT_HISTORY_LENGTH)
        self.count = 0
        self._pending: deque[PendingPost] = deque()

    def add(self, message: p.ChatMessage) -> None:
        """A line from the tracker (history or live); answers our post if it is ours."""
        if any(line == message for _, line in self.lines):
            return  # history sent again after a reconnect
        self.count += 1
        self.lines.append((self.count, message))
        if message.sender == self.name:
            for index, pending in enumerate(self._pending):
                if pending.text == message.text:
                    del self._pending[index]
                    pending.answer.send_nowait(message)
                    break

    def refused(self, error: p.Error) -> bool:
        """A chat Error from the tracker answers the oldest post; False if not a chat error."""
        if not error.code.startswith("chat_"):
            return False
        if self._pending:
            self._pending.popleft().answer.send_nowait(error)
        return True

    def since(self, after: int) -> list[tuple[int, p.ChatMessage]]:
        """The kept lines numbered above `after`, oldest first, with their numbers."""
        return [(number, line) for number, line in self.lines if number > after]

    def expect(self, text: str) -> PendingPost:
        """Register a post about to be sent; its answer arrives on `pending.answers`."""
        if len(self._pending) >= MAX_PENDING_POSTS:
            raise ChatRefused("chat_busy", "too many chat messages waiting for the tracker")
        send, receive = trio.open_memory_channel[p.ChatMessage | p.Error](1)
        pending = PendingPost(text=text, answer=send, answers=receive)
        self._pending.append(pending)
        return pending

    def forget(self, pending: PendingPost) -> None:
        """Drop a post nobody waits for any more (answered, timed out or cancelled)."""
        with contextlib.suppress(ValueError):
            self._pending.remove(pending)
