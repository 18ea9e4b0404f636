"""The chat's lines and the stream's epoch number, kept across tracker restarts.

`ChatKeeper` owns the chat log (tracker/chat.py: rate limits, history) and the SQLite
store (tracker/chat_store.py). Lines and epochs reach the store in order through one
task (`run`), and a line is delivered to everyone only once stored, so a restart never
loses a line anyone saw. The queue holds STORE_QUEUE_ITEMS; when it is full a chat line
is refused with `chat_busy` (the sender may retry) and an epoch is dropped (the next
stream start stores a newer one).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import trio

import protocol as p
from protocol.limits import CHAT_HISTORY_LENGTH
from tracker.chat import ChatLog
from tracker.chat_store import ChatStore

STORE_QUEUE_ITEMS = 64
CHAT_BUSY = p.Error(code=p.ErrorCode.CHAT_BUSY, message="chat is busy, retry")
T = TypeVar("T")


@attrs.define(eq=False)
class ChatKeeper:
    """The chat log and its durable store (a file, or memory when `db` is None)."""

    db: str | None = None
    chat: ChatLog = attrs.field(factory=ChatLog)
    _store: ChatStore | None = None  # open while the tracker serves
    _limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    _send: trio.MemorySendChannel[p.ChatMessage | int] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[p.ChatMessage | int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[p.ChatMessage | int](STORE_QUEUE_ITEMS)

    @property
    def is_open(self) -> bool:
        """Whether the store is open (the tracker is serving)."""
        return self._store is not None

    async def open(self) -> int | None:
        """Open the store and restore the chat history; the epoch stored last, if any.

        Raises StoreError when the database cannot be opened.
        """
        store = self._store = await self._call(ChatStore, self.db)
        self.chat.restore(await self._call(store.recent, CHAT_HISTORY_LENGTH))
        epoch = await self._call(store.get_meta, "epoch")
        return int(epoch) % 2**32 if epoch is not None and epoch.isdigit() else None

    async def close(self) -> None:
        """Close the store (shielded: it runs on the way out)."""
        store, self._store = self._store, None
        if store is not None:
            with trio.CancelScope(shield=True):
                await self._call(store.close)

    def post(self, sender: str, text: str, now_s: float) -> p.Error | None:
        """Take a chat line from `sender` to store and deliver; the Error to send back
        when it is refused (too fast, too long, or the queue full)."""
        result = self.chat.post(sender, text, now_s, time.time_ns())
        if isinstance(result, p.Error):
            return result
        try:
            self._send.send_nowait(result)
        except trio.WouldBlock:
            return CHAT_BUSY
        return None

    def remember_epoch(self, epoch: int) -> None:
        """Store the stream's epoch number (dropped if the queue is full)."""
        with contextlib.suppress(trio.WouldBlock):
            self._send.send_nowait(epoch)

    async def run(self, deliver: Callable[[p.ChatMessage], None]) -> None:
        """Store each line durably, then `deliver` it, in id order, until cancelled."""
        async for item in self._receive:
            store = self._store
            assert store is not None
            if isinstance(item, int):
                await self._call(store.set_meta, "epoch", str(item))
                continue
            await self._call(store.append, item)
            deliver(item)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a ChatStore call: in a worker thread for a file, inline for memory.

        A file database commits with synchronous=FULL, which can wait on the disk; the
        memory database costs microseconds, less than a thread hop, and staying in the
        trio thread keeps virtual-time tests free of real waits.
        """
        if self.db is None:
            await trio.lowlevel.checkpoint()
            return function(*args)
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)
