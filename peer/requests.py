"""What the peer asks the tracker and waits to have answered: a chat post (the stamped
line, or the reason it was refused) and a status snapshot of the swarm.

Each question waits at most ANSWER_TIMEOUT_S; an unreachable or silent tracker is a
TrackerError, one line for the user. The answers arrive among the tracker's other
messages (`on_message`), which the peer passes here as they come.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

import protocol as p
from peer.chat_board import ChatBoard, ChatRefused
from peer.errors import TrackerError
from peer.tracker_link import TrackerLink

ANSWER_TIMEOUT_S = 5.0


class TrackerRequests:
    """Chat posts and status requests, each waiting for its answer."""

    def __init__(
        self, tracker: TrackerLink, chat: ChatBoard, on_chat: Callable[[p.ChatMessage], None]
    ) -> None:
        """Ask over `tracker`; keep chat lines in `chat` and show each with `on_chat`."""
        self.tracker = tracker
        self.chat = chat
        self.on_chat = on_chat
        self._status_waiters: list[trio.MemorySendChannel[p.StatusReply]] = []

    async def post_chat(self, text: str) -> p.ChatMessage:
        """Post a chat message and wait for the tracker's answer: the stamped line.

        Raises ChatRefused (code and message from the tracker: empty, too long, rate
        limited) or TrackerError (tracker unreachable or silent).
        """
        pending = self.chat.expect(text)
        try:
            if not self.tracker.send(p.ChatSend(text=text)):
                raise TrackerError("the tracker is not reachable right now")
            with trio.move_on_after(ANSWER_TIMEOUT_S):
                answer = await pending.answers.receive()
                if isinstance(answer, p.Error):
                    raise ChatRefused(answer.code, answer.message)
                return answer
            raise TrackerError("the tracker did not answer the chat message in time")
        finally:
            self.chat.forget(pending)

    async def status(self) -> p.StatusReply:
        """Ask the tracker for a snapshot of the swarm; TrackerError if it does not answer."""
        send, receive = trio.open_memory_channel[p.StatusReply](1)
        self._status_waiters.append(send)
        try:
            if not self.tracker.send(p.StatusRequest()):
                raise TrackerError("the tracker is not reachable right now")
            with trio.move_on_after(ANSWER_TIMEOUT_S):
                return await receive.receive()
            raise TrackerError("the tracker did not answer the status request in time")
        finally:
            if send in self._status_waiters:
                self._status_waiters.remove(send)

    def on_message(self, message: p.Message) -> None:
        """A message from the tracker: chat lines, a chat refusal, or a status reply."""
        if isinstance(message, p.ChatMessage | p.ChatHistory):
            lines = message.messages if isinstance(message, p.ChatHistory) else [message]
            for line in lines:
                self.chat.add(line)
                self.on_chat(line)
        elif isinstance(message, p.Error):
            self.chat.refused(message)
        elif isinstance(message, p.StatusReply):
            waiters, self._status_waiters = self._status_waiters, []
            for waiter in waiters:
                waiter.send_nowait(message)
