"""JPEG bytes of a frame at a resolution: passed through, or scaled once and shared.

A client asking for the stream's own size (or `source`, or more than the stream has)
gets the received bytes as they are. Any other size is decoded, scaled and re-encoded
in a worker thread, once per frame and resolution however many clients watch it, and
only when a client actually takes that frame (a frame nobody takes costs nothing).
"""

from __future__ import annotations

import trio

import protocol as p
from peer.media import decode_jpeg, encode_jpeg
from peer.resolution import plan_decode

QUALITY = 80


class Renditions:
    """The newest scaled JPEG per resolution, computed on demand."""

    def __init__(self, quality: int = QUALITY) -> None:
        self.quality = quality
        self.encoded = 0  # frames scaled and re-encoded, for tests and stats
        self._done: dict[str, tuple[p.VideoFrame, bytes | None]] = {}
        self._busy: dict[str, tuple[p.VideoFrame, trio.Event]] = {}

    async def jpeg(self, frame: p.VideoFrame, resolution: str) -> bytes | memoryview | None:
        """The frame's JPEG at `resolution`; None if the frame does not decode."""
        header = frame.header
        plan = plan_decode(header.width, header.height, resolution)
        if (plan.width, plan.height) == (header.width, header.height):
            return frame.jpeg
        while True:
            done = self._done.get(resolution)
            if done is not None and done[0] is frame:
                return done[1]
            busy = self._busy.get(resolution)
            if busy is None or busy[0] is not frame:
                break
            await busy[1].wait()
        finished = trio.Event()
        self._busy[resolution] = (frame, finished)
        try:
            data = await trio.to_thread.run_sync(self._scale, frame, resolution)
            self.encoded += 1
            self._done[resolution] = (frame, data)
            return data
        finally:
            if self._busy.get(resolution, (None,))[0] is frame:
                del self._busy[resolution]
            finished.set()

    def _scale(self, frame: p.VideoFrame, resolution: str) -> bytes | None:
        header = frame.header
        image = decode_jpeg(frame.jpeg, plan_decode(header.width, header.height, resolution))
        if image is None:
            return None
        return encode_jpeg(image, self.quality)
