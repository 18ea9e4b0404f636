"""The peer's own display: the newest picture, at the peer's resolution, off the event loop.

Pictures come from peer/pictures.py (every JPEG frame, the newest picture of each H.264
batch) into a latest-only slot, so a display slower than the stream skips pictures and
never builds a backlog. Turning a picture into an image (decode or scale) and the user
interface's `prepare_image` run in one worker-thread hop; `on_image` then gets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from peer import events as ev
from peer.config import PeerHooks
from peer.pictures import Picture
from peer.queues import LatestFrameSlot
from peer.resolution import DecodePlan, plan_decode, resolution_label
from peer.stats import PeerCounters


@attrs.define(eq=False)
class Display:
    """Shows the newest picture at `resolution()` through the peer's hooks."""

    hooks: PeerHooks
    counters: PeerCounters
    resolution: Callable[[], str]
    slot: LatestFrameSlot[Picture] = attrs.field(factory=LatestFrameSlot)
    last_image_size: tuple[int, int] | None = None

    def put(self, picture: Picture) -> None:
        """A new picture to show (replacing one not shown yet)."""
        self.slot.put(picture)

    async def run(self) -> None:
        """Show pictures as they come, until cancelled."""
        while True:
            picture = await self.slot.get_newest()
            header = picture.header
            plan = plan_decode(header.width, header.height, self.resolution())
            shown = await trio.to_thread.run_sync(self._image, picture, plan)
            if shown is None:
                self.hooks.on_event(ev.FrameUndecodable(seq=header.seq))
                continue
            image, prepared = shown
            self.counters.on_frame_displayed(trio.current_time())
            self.last_image_size = (image.shape[1], image.shape[0])
            self.counters.resolution = resolution_label(image.shape[1], image.shape[0])
            self.hooks.on_image(prepared, header)

    def _image(self, picture: Picture, plan: DecodePlan) -> tuple[Any, Any] | None:
        """The image, then prepare_image (a worker thread): (image, what to show)."""
        image = picture.image(plan)
        if image is None:
            return None
        prepare = self.hooks.prepare_image
        return image, image if prepare is None else prepare(image)
