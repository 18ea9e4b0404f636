"""One latest-frame slot per HTTP client: a slow client skips frames, nobody waits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import protocol as p
from peer.queues import LatestFrameSlot


class FrameFanout:
    """Hands each frame to every subscriber's own slot, and keeps the newest for snapshots.

    `publish` is called from the peer's receive path for every frame, so it only swaps a
    reference per subscriber: no copy, no decode, no waiting.
    """

    def __init__(self) -> None:
        self.latest: p.VideoFrame | None = None
        self._slots: set[LatestFrameSlot[p.VideoFrame]] = set()

    def publish(self, frame: p.VideoFrame) -> None:
        """A new frame: every subscriber will see it (or a newer one)."""
        self.latest = frame
        for slot in self._slots:
            slot.put(frame)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[LatestFrameSlot[p.VideoFrame]]:
        """A slot of this client's own, primed with the newest frame, removed on exit."""
        slot: LatestFrameSlot[p.VideoFrame] = LatestFrameSlot()
        if self.latest is not None:
            slot.put(self.latest)
        self._slots.add(slot)
        try:
            yield slot
        finally:
            self._slots.discard(slot)

    @property
    def subscribers(self) -> int:
        """How many clients are watching now."""
        return len(self._slots)
