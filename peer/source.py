"""The source's own work: read the video, pace it, encode and sign each frame.

`FrameSource.run` sleeps until each frame is due (peer/pacing.py decides when, and
which frames to skip after a stall), then reads, scales, encodes (JPEG through OpenCV,
or H.264 through PyAV's libx264, peer/h264.py) and signs the next frame in one worker
thread (OpenCV, FFmpeg and the signature release the GIL) and hands it to `send`, which
must return at once (the peer forwards it to its children). It returns at the end of
the video; the peer then ends the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import trio

import protocol as p
from peer.gop import KeyframeLimiter
from peer.h264 import H264Encoder, H264Settings, check_encoder
from peer.media import FrameReader, Image, encode_jpeg, fit_within, open_reader, parse_source
from peer.pacing import PacingSchedule
from protocol.signing import FrameSigner


@attrs.frozen
class EncodedPicture:
    """One encoded picture, before it is signed."""

    data: bytes
    width: int
    height: int
    capture_ns: int
    keyframe: bool = True


@attrs.define(eq=False)
class FrameSource:
    """An open video and what the stream makes of it: pace, size, codec, signature."""

    reader: FrameReader
    signer: FrameSigner
    quality: int = 80
    max_resolution: str | None = None
    fps: float | None = None  # None: the video's own rate
    codec: p.Codec = p.Codec.JPEG
    h264: H264Settings = attrs.field(factory=H264Settings)
    frames_skipped: int = 0
    last_encode_s: float = 0.0  # how long the newest frame took to encode
    keyframes_forced: int = 0  # keyframes encoded because a viewer asked
    keyframe_requests: KeyframeLimiter = attrs.field(factory=KeyframeLimiter)
    _keyframe_due: bool = False
    _encoder: H264Encoder | None = None

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
        codec: p.Codec = p.Codec.JPEG,
        h264: H264Settings | None = None,
    ) -> FrameSource:
        """Open SOURCE (a file, camera, URL or testsrc) off the event loop; PeerError if not."""
        spec = parse_source(source)
        if codec is p.Codec.H264:
            check_encoder()
        reader = await trio.to_thread.run_sync(lambda: open_reader(spec, loop=loop))
        return cls(
            reader,
            signer,
            quality=quality,
            max_resolution=max_resolution,
            fps=fps,
            codec=codec,
            h264=h264 or H264Settings(),
        )

    def close(self) -> None:
        """Release the video (and the encoder)."""
        self.reader.close()
        if self._encoder is not None:
            self._encoder.close()

    def request_keyframe(self, now_s: float) -> bool:
        """A viewer asked for a keyframe: the next frame is one, at most once a second."""
        if self.codec is not p.Codec.H264 or not self.keyframe_requests.allow(now_s):
            return False
        self._keyframe_due = True
        return True

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
        header = p.FrameHeader(
            epoch=epoch,
            seq=seq,
            capture_ns=encoded.capture_ns,
            width=encoded.width,
            height=encoded.height,
            codec=self.codec,
            keyframe=encoded.keyframe,
        )
        data = encoded.data
        return p.VideoFrame(header=header, data=data, signature=self.signer.sign(header, data))

    def encode_next(self, skip: int) -> EncodedPicture | None:
        """Read (skipping `skip` frames), scale and encode the next picture.

        Blocking. A benchmark overrides it to stream frames encoded beforehand.
        """
        image = self.reader.read(skip)
        if image is None:
            return None
        capture_ns = time.time_ns()
        image = fit_within(image, self.max_resolution)
        started = time.perf_counter()
        if self.codec is p.Codec.JPEG:
            height, width = image.shape[:2]
            picture = EncodedPicture(encode_jpeg(image, self.quality), width, height, capture_ns)
        else:
            picture = self._encode_h264(image, capture_ns)
        self.last_encode_s = time.perf_counter() - started
        return picture

    def _encode_h264(self, image: Image, capture_ns: int) -> EncodedPicture:
        encoder = self._encoder
        if encoder is None:
            height, width = image.shape[:2]
            fps = self.fps or self.reader.fps
            encoder = self._encoder = H264Encoder(width, height, fps, self.h264)
        forced, self._keyframe_due = self._keyframe_due, False
        data, keyframe = encoder.encode(image, capture_ns // 1000, keyframe=forced)
        self.keyframes_forced += forced
        return EncodedPicture(data, encoder.width, encoder.height, capture_ns, keyframe)
