"""One latest-picture slot per HTTP client: a slow client skips pictures, nobody waits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from peer.pictures import Picture
from peer.queues import LatestFrameSlot


class FrameFanout:
    """Hands each picture to every subscriber's own slot, and keeps the newest for snapshots.

    `publish` is called from the peer's receive path for every picture (every JPEG frame,
    the newest of each decoded H.264 batch), so it only swaps a reference per subscriber:
    no copy, no decode, no waiting.
    """

    def __init__(self) -> None:
        self.latest: Picture | None = None
        self._slots: set[LatestFrameSlot[Picture]] = set()

    def publish(self, picture: Picture) -> None:
        """A new picture: every subscriber will see it (or a newer one)."""
        self.latest = picture
        for slot in self._slots:
            slot.put(picture)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[LatestFrameSlot[Picture]]:
        """A slot of this client's own, primed with the newest picture, removed on exit."""
        slot: LatestFrameSlot[Picture] = LatestFrameSlot()
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
