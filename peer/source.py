"""The source's own work: read the video, pace it, encode and sign each frame.

`FrameSource.run` sleeps until each frame is due (peer/pacing.py decides when, and
which frames to skip after a stall), then reads, scales, encodes and signs the next
frame in one worker thread (OpenCV and the signature release the GIL) and hands it to
`send`, which must return at once (the peer forwards it to its children). It returns
at the end of the video; the peer then ends the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import trio

import protocol as p
from peer.media import FrameReader, encode_jpeg, fit_within, open_reader, parse_source
from peer.pacing import PacingSchedule
from protocol.signing import FrameSigner


@attrs.define(eq=False)
class FrameSource:
    """An open video and what the stream makes of it: pace, size, quality, signature."""

    reader: FrameReader
    signer: FrameSigner
    quality: int = 80
    max_resolution: str | None = None
    fps: float | None = None  # None: the video's own rate
    frames_skipped: int = 0

    @classmethod
    async def open(
        cls,
        source: str,
        *,
        loop: bool,
        signer: FrameSigner,
        quality: int = 80,
        max_resolution: str | None = None,
        fps: float | None = None,
    ) -> FrameSource:
        """Open SOURCE (a file, camera, URL or testsrc) off the event loop; PeerError if not."""
        spec = parse_source(source)
        reader = await trio.to_thread.run_sync(lambda: open_reader(spec, loop=loop))
        return cls(reader, signer, quality=quality, max_resolution=max_resolution, fps=fps)

    def close(self) -> None:
        """Release the video."""
        self.reader.close()

    async def run(self, epoch: Callable[[], int], send: Callable[[p.VideoFrame], None]) -> None:
        """Send every frame on time until the video ends (skipping, counted, when behind)."""
        schedule = PacingSchedule(fps=self.fps or self.reader.fps, start_s=trio.current_time())
        seq = 0
        skip = 0
        while True:
            await trio.sleep_until(schedule.deadline())
            frame = await trio.to_thread.run_sync(self.capture, skip, epoch(), seq + 1)
            if frame is None:
                return
            seq += 1
            send(frame)
            skip = schedule.sent(trio.current_time())
            self.frames_skipped = schedule.skipped

    def capture(self, skip: int, epoch: int, seq: int) -> p.VideoFrame | None:
        """The next frame, encoded and signed (blocking: a worker thread); None at the end."""
        encoded = self.encode_next(skip)
        if encoded is None:
            return None
        jpeg, width, height, capture_ns = encoded
        header = p.FrameHeader(
            epoch=epoch, seq=seq, capture_ns=capture_ns, width=width, height=height
        )
        return p.VideoFrame(header=header, jpeg=jpeg, signature=self.signer.sign(header, jpeg))

    def encode_next(self, skip: int) -> tuple[bytes, int, int, int] | None:
        """Read (skipping `skip` frames), scale and encode: (jpeg, width, height, capture ns).

        Blocking. A benchmark overrides it to stream frames encoded beforehand.
        """
        image = self.reader.read(skip)
        if image is None:
            return None
        capture_ns = time.time_ns()
        image = fit_within(image, self.max_resolution)
        height, width = image.shape[:2]
        return encode_jpeg(image, self.quality), width, height, capture_ns
