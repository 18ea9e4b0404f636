"""Queues for video that keep the newest frames and never grow a backlog.

`FrameQueue` is the per-child send queue: bounded, and when full it drops the *oldest*
frame (counted), so a slow child sees a skip instead of an ever-growing delay. A new
child's backlog (the frames since the last keyframe) rides above the bound until it has
been sent.
Control messages (pongs, stream end) ride in front of frames and are never dropped
for video's sake. `LatestFrameSlot` holds only the newest item, for the local display:
a decoder slower than the stream skips frames.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

T = TypeVar("T")
MAX_CONTROL_MESSAGES = 32


class FrameQueue(Generic[T]):
    """Bounded queue of frames (drop-oldest) with an unbounded-by-policy control lane."""

    def __init__(self, max_frames: int) -> None:
        self._frames: deque[T] = deque()
        self._control: deque[bytes | memoryview] = deque()
        self.max_frames = max_frames  # the bound; may change (the stream's codec)
        self._backlog = 0  # backlog frames still queued, allowed above the bound
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put_frame(self, frame: T) -> bool:
        """Queue a frame; returns False if an older one had to be dropped for it."""
        if self._closed:
            return True
        kept_all = True
        if len(self._frames) >= self.max_frames + self._backlog:
            self._frames.popleft()
            self._backlog = max(0, self._backlog - 1)
            self.dropped += 1
            kept_all = False
        self._frames.append(frame)
        self._lot.unpark()
        return kept_all

    def put_backlog(self, frames: list[T]) -> None:
        """Queue what a new child needs before the live frames (allowed above the bound)."""
        if self._closed or not frames:
            return
        self._frames.extend(frames)
        self._backlog += len(frames)
        self._lot.unpark()

    def drop_frames(self) -> int:
        """Drop every queued frame (counted); how many. Control messages stay."""
        count = len(self._frames)
        self._frames.clear()
        self._backlog = 0
        self.dropped += count
        return count

    def put_control(self, data: bytes | memoryview, *, front: bool = False) -> bool:
        """Queue a control message ahead of frames; False if the lane is full.

        `front=True` puts it before everything (the unsent rest of a frame already begun),
        and is never refused.
        """
        if self._closed:
            return False
        if front:
            self._control.appendleft(data)
        elif len(self._control) >= MAX_CONTROL_MESSAGES:
            return False
        else:
            self._control.append(data)
        self._lot.unpark()
        return True

    @property
    def idle(self) -> bool:
        """Nothing queued in either lane."""
        return not self._frames and not self._control

    async def get(self) -> bytes | memoryview | T:
        """The next thing to send: control first, then the oldest frame kept."""
        while True:
            if self._control:
                return self._control.popleft()
            if self._frames:
                if self._backlog:
                    self._backlog -= 1
                return self._frames.popleft()
            if self._closed:
                raise trio.EndOfChannel
            await self._lot.park()

    def close(self) -> None:
        """No more items: `get` ends after what is queued."""
        self._closed = True
        self._lot.unpark_all()


class LatestFrameSlot(Generic[T]):
    """Holds only the newest item; `get_newest` waits for one newer than the last taken."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._version = 0
        self._taken = 0
        self._lot = trio.lowlevel.ParkingLot()

    def put(self, item: T) -> None:
        """Replace whatever is there with `item`."""
        self._item = item
        self._version += 1
        self._lot.unpark_all()

    async def get_newest(self) -> T:
        """Wait until there is an item not yet taken, and take the newest."""
        while self._version == self._taken or self._item is None:
            await self._lot.park()
        self._taken = self._version
        return self._item
