"""Pictures for whoever shows them: the display, the GUI's preview, the HTTP tap.

A JPEG frame is its own picture: each consumer decodes the newest one at its own size
(reducing while decoding, peer/resolution.py). An H.264 access unit is not: the peer's
one `PictureFeed` decodes every unit in order (peer/gop.DecodeGate says which may go to
the decoder), in a worker thread, and publishes the newest picture of each batch; each
consumer then scales that to its size. A peer that shows nothing never decodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import attrs
import av
import trio

import protocol as p
from peer.gop import DecodeGate
from peer.h264 import H264Decoder, picture_to_image
from peer.media import Image, decode_jpeg
from peer.resolution import DecodePlan

# H.264 units admitted but not yet decoded. More than this (about 2 s at 30 fps) means
# the decoder cannot keep up: the queue is emptied and decoding restarts at a keyframe.
MAX_PENDING_UNITS = 64


class Picture(Protocol):
    """A picture ready to be turned into an image at any size."""

    @property
    def header(self) -> p.FrameHeader:
        """The frame it came from."""

    @property
    def jpeg(self) -> memoryview | None:
        """Its JPEG bytes as received, if it is a JPEG frame."""

    def image(self, plan: DecodePlan) -> Image | None:
        """A BGR image at the plan's size (blocking: a worker thread); None if corrupt."""


@attrs.frozen
class JpegPicture:
    """A JPEG frame: decoded by each consumer at its own size."""

    frame: p.VideoFrame

    @property
    def header(self) -> p.FrameHeader:
        """The frame's header."""
        return self.frame.header

    @property
    def jpeg(self) -> memoryview | None:
        """The JPEG bytes as received."""
        return self.frame.data

    def image(self, plan: DecodePlan) -> Image | None:
        """Decode at the planned reduction and size."""
        return decode_jpeg(self.frame.data, plan)


@attrs.frozen
class DecodedPicture:
    """A picture the H.264 decoder produced, scaled on request."""

    header: p.FrameHeader
    picture: av.VideoFrame

    @property
    def jpeg(self) -> memoryview | None:
        """None: there are no JPEG bytes to pass through."""
        return None

    def image(self, plan: DecodePlan) -> Image | None:
        """The picture scaled to the plan's size."""
        return picture_to_image(self.picture, plan.width, plan.height)


@attrs.define(eq=False)
class PictureFeed:
    """Turns the frames a peer receives (or sends) into pictures, in order."""

    on_picture: Callable[[Picture], None]
    # Called while the gate waits for a keyframe (the peer asks for one, rate-limited).
    on_waiting: Callable[[], None] = lambda: None
    gate: DecodeGate = attrs.field(factory=DecodeGate)
    decoded: int = 0  # H.264 units decoded
    fed: bool = False  # whether any frame came yet
    _pending: deque[p.VideoFrame] = attrs.field(factory=deque)
    _lot: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot)
    _decoder: H264Decoder | None = None

    @property
    def undecodable(self) -> int:
        """Frames not shown because one before them was lost (or did not decode)."""
        return self.gate.undecodable

    def feed(self, frame: p.VideoFrame) -> None:
        """A frame in stream order; returns at once."""
        self.fed = True
        if frame.header.codec is p.Codec.JPEG:
            self.on_picture(JpegPicture(frame))
            return
        if not self.gate.admit(frame.header):
            if self.gate.waiting:
                self.on_waiting()  # again with every unit skipped: the peer rate-limits
            return
        if len(self._pending) >= MAX_PENDING_UNITS:
            self._pending.clear()
            self.gate.failed()
            self.on_waiting()
            return
        self._pending.append(frame)
        self._lot.unpark()

    async def run(self) -> None:
        """Decode H.264 units as they come, until cancelled."""
        while True:
            while not self._pending:
                await self._lot.park()
            batch = list(self._pending)
            self._pending.clear()
            newest, failed = await trio.to_thread.run_sync(self._decode, batch)
            self.decoded += len(batch)
            if failed:
                self._pending.clear()  # they follow the unit that failed
                self.gate.failed()
                self.on_waiting()
            if newest is not None:
                self.on_picture(newest)

    def _decode(self, batch: list[p.VideoFrame]) -> tuple[DecodedPicture | None, bool]:
        """(the newest picture, whether a unit failed) for a batch (a worker thread)."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = H264Decoder()
        newest: DecodedPicture | None = None
        for frame in batch:
            picture = decoder.decode(frame.data)
            if picture is None:  # corrupt: nothing after it decodes before a keyframe
                return newest, True
            newest = DecodedPicture(frame.header, picture)
        return newest, False
