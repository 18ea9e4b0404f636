"""JPEG bytes of a picture at a resolution: passed through, or made once and shared.

A client asking for a JPEG stream's own size (or `source`, or more than the stream has)
gets the received bytes as they are. Any other size, and every H.264 picture, is
scaled and JPEG-encoded in a worker thread, once per picture and resolution however
many clients watch it, and only when a client actually takes that picture (a picture
nobody takes costs no encoding).
"""

from __future__ import annotations

import trio

from peer.media import encode_jpeg
from peer.pictures import Picture
from peer.resolution import plan_decode

QUALITY = 80


class Renditions:
    """The newest scaled JPEG per resolution, computed on demand."""

    def __init__(self, quality: int = QUALITY) -> None:
        self.quality = quality
        self.encoded = 0  # pictures scaled and encoded, for tests and stats
        self._done: dict[str, tuple[Picture, bytes | None]] = {}
        self._busy: dict[str, tuple[Picture, trio.Event]] = {}

    async def jpeg(self, picture: Picture, resolution: str) -> bytes | memoryview | None:
        """The picture as a JPEG at `resolution`; None if it does not decode."""
        header = picture.header
        plan = plan_decode(header.width, header.height, resolution)
        if picture.jpeg is not None and (plan.width, plan.height) == (header.width, header.height):
            return picture.jpeg
        while True:
            done = self._done.get(resolution)
            if done is not None and done[0] is picture:
                return done[1]
            busy = self._busy.get(resolution)
            if busy is None or busy[0] is not picture:
                break
            await busy[1].wait()
        finished = trio.Event()
        self._busy[resolution] = (picture, finished)
        try:
            data = await trio.to_thread.run_sync(self._scale, picture, resolution)
            self.encoded += 1
            self._done[resolution] = (picture, data)
            return data
        finally:
            if self._busy.get(resolution, (None,))[0] is picture:
                del self._busy[resolution]
            finished.set()

    def _scale(self, picture: Picture, resolution: str) -> bytes | None:
        header = picture.header
        image = picture.image(plan_decode(header.width, header.height, resolution))
        if image is None:
            return None
        return encode_jpeg(image, self.quality)
