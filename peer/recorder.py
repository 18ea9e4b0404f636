"""`--record FILE`: write the received stream to a video file that always plays.

The container's frame rate is the source's, estimated from the capture times of the
first frames (the stream carries no rate). The file keeps the stream's timeline: when
frames are lost (a gap in sequence numbers), the last picture is repeated for the missing
slots, up to MAX_FILL_S, so a gap shows as a pause, not as the rest of the video running
fast. Every frame is written at the first frame's size at the chosen resolution.
Decoding, scaling and writing happen in a worker thread; the peer's receive path only
puts the frame in a bounded queue. The file is released (its index written) on every
way out, Ctrl-C included.

An H.264 stream recorded to .mp4 or .mkv at the stream's own size is written as it is,
access unit by access unit, without decoding (peer/remux.py). At any other size (or to
.avi) it is decoded in order and re-encoded like JPEG frames. Either way a unit after a
loss is skipped until the next keyframe (peer/gop.DecodeGate), so the file never shows
a broken picture: the gap plays as a pause.
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import attrs
import cv2
import trio

import protocol as p
from peer.errors import PeerError, UsageError
from peer.gop import DecodeGate
from peer.h264 import H264Decoder, picture_to_image
from peer.media import Image, decode_jpeg
from peer.remux import REMUX_SUFFIXES, H264Remuxer
from peer.resolution import DecodePlan, plan_decode

FOURCC_BY_SUFFIX = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "XVID"}
QUEUE_FRAMES = 120
FPS_SAMPLE_FRAMES = 16
# Estimates this close (1%) to a usual rate are snapped to it: 29.8 is 29.97. Capture
# times jitter with the source's encoding work, so an estimate is rarely exact.
USUAL_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0)
DEFAULT_FPS = 30.0
MIN_FPS, MAX_FPS = 1.0, 120.0
MAX_FILL_S = 2.0


def check_record_path(text: str) -> Path:
    """A path we can record to: .avi, .mp4 or .mkv in an existing directory."""
    path = Path(text)
    if path.suffix.lower() not in FOURCC_BY_SUFFIX:
        choices = ", ".join(FOURCC_BY_SUFFIX)
        raise UsageError(f"cannot record to {text!r}: the file must end in {choices}")
    if not path.parent.is_dir():
        raise UsageError(f"cannot record to {text!r}: no such directory {str(path.parent)!r}")
    return path


def estimate_fps(capture_ns: list[int]) -> float:
    """The frame rate from consecutive capture times (median interval), clamped."""
    gaps = [b - a for a, b in itertools.pairwise(capture_ns) if b > a]
    if not gaps:
        return DEFAULT_FPS
    fps = 1e9 / statistics.median(gaps)
    usual = min(USUAL_RATES, key=lambda rate: abs(rate - fps))
    if abs(usual - fps) <= 0.01 * usual:
        return usual
    return min(MAX_FPS, max(MIN_FPS, fps))


@attrs.define
class Timeline:
    """How many times to write each frame so the file keeps the stream's pace.

    Pure: fed the frame's (epoch, seq), it answers 1 for the next frame in order, 1 + the
    missing count after a gap (the previous picture fills the gap, at most max_fill
    frames), and 0 for a frame older than one already written (late or repeated).
    """

    max_fill: int
    _last: tuple[int, int] | None = None

    def copies(self, epoch: int, seq: int) -> tuple[int, int]:
        """(times to repeat the previous picture, times to write this one)."""
        last = self._last
        if last is not None and epoch == last[0] and seq <= last[1]:
            return 0, 0
        fill = 0
        if last is not None and epoch == last[0]:
            fill = min(seq - last[1] - 1, self.max_fill)
        self._last = (epoch, seq)
        return fill, 1


class Recorder:
    """Records frames handed to `add` (a Peer frame sink) until `run` is cancelled."""

    def __init__(self, path: Path, resolution: str) -> None:
        self.path = path
        self.resolution = resolution
        self.frames_written = 0
        self.frames_dropped = 0  # the queue was full: counted as lost, filled like a gap
        self.fps: float | None = None
        self._send, self._receive = trio.open_memory_channel[p.VideoFrame](QUEUE_FRAMES)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._last_image: Image | None = None
        self._timeline: Timeline | None = None
        self._gate = DecodeGate()  # H.264: which units may be decoded or written
        self._decoder: H264Decoder | None = None
        self._remuxer: H264Remuxer | None = None
        self._slot = 0  # the remuxed file's timeline: frame slots since the first
        self.remuxing = False  # H.264 written as it is, without re-encoding

    def add(self, frame: p.VideoFrame) -> None:
        """Queue a frame for writing; never waits."""
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.frames_dropped += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write queued frames; on exit (cancelled or not) finish the file."""
        task_status.started()
        try:
            sample: list[p.VideoFrame] = []
            async for frame in self._receive:
                if self._timeline is None:  # the rate is not known yet
                    sample.append(frame)
                    if len(sample) < FPS_SAMPLE_FRAMES:
                        continue
                    await self._open_and_write(sample)
                    sample = []
                    continue
                await trio.to_thread.run_sync(self._write, frame)
        finally:
            with trio.CancelScope(shield=True):
                if self._timeline is None and sample:
                    await self._open_and_write(sample)
                await trio.to_thread.run_sync(self._close)

    async def _open_and_write(self, sample: list[p.VideoFrame]) -> None:
        self.fps = estimate_fps([frame.header.capture_ns for frame in sample])
        self._timeline = Timeline(max_fill=round(self.fps * MAX_FILL_S))
        for frame in sample:
            await trio.to_thread.run_sync(self._write, frame)

    def _write(self, frame: p.VideoFrame) -> None:
        header = frame.header
        assert self._timeline is not None and self.fps is not None
        fill, copies = self._timeline.copies(header.epoch, header.seq)
        if not copies:
            return
        plan = plan_decode(header.width, header.height, self.resolution)
        if header.codec is p.Codec.H264 and self._remux_fits(plan, header):
            self._remux(frame, fill)
            return
        image = self._image(frame, plan)
        if image is None:
            fill += 1  # a frame that does not decode is a frame lost
        elif self._size is not None and (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        writer = self._writer or self._open(image)
        if writer is None:
            return
        for _ in range(fill):
            if self._last_image is not None:
                writer.write(self._last_image)
                self.frames_written += 1
        if image is not None:
            writer.write(image)
            self.frames_written += 1
            self._last_image = image

    def _remux_fits(self, plan: DecodePlan, header: p.FrameHeader) -> bool:
        """Whether this H.264 stream goes into the file as it is (decided once)."""
        if self._writer is not None:
            return False
        if self._remuxer is None:
            same_size = (plan.width, plan.height) == (header.width, header.height)
            if not (same_size and self.path.suffix.lower() in REMUX_SUFFIXES):
                return False
            assert self.fps is not None
            self._remuxer = H264Remuxer(self.path, self.fps, header.width, header.height)
            self._size = (header.width, header.height)
            self.remuxing = True
        return True

    def _remux(self, frame: p.VideoFrame, fill: int) -> None:
        """Write the unit as it is; a stream of another size (a new source) is skipped."""
        assert self._remuxer is not None
        header = frame.header
        self._slot += fill
        if (header.width, header.height) == self._size and self._gate.admit(header):
            self._remuxer.write(frame.data, self._slot, keyframe=frame.header.keyframe)
            self.frames_written += 1
        self._slot += 1

    def _image(self, frame: p.VideoFrame, plan: DecodePlan) -> Image | None:
        """The frame as an image at the plan's size; None if it does not decode (or, for
        H.264, follows a loss and waits for a keyframe)."""
        if frame.header.codec is p.Codec.JPEG:
            return decode_jpeg(frame.data, plan)
        if not self._gate.admit(frame.header):
            return None
        if self._decoder is None:
            self._decoder = H264Decoder()
        picture = self._decoder.decode(frame.data)
        if picture is None:
            self._gate.failed()
            return None
        return picture_to_image(picture, plan.width, plan.height)

    def _open(self, image: Image | None) -> cv2.VideoWriter | None:
        if image is None:
            return None
        height, width = image.shape[:2]
        fourcc = cv2.VideoWriter.fourcc(*FOURCC_BY_SUFFIX[self.path.suffix.lower()])
        assert self.fps is not None
        writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
        if not writer.isOpened():
            raise PeerError(f"cannot write the recording {str(self.path)!r}")
        self._writer = writer
        self._size = (width, height)
        return writer

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._remuxer is not None:
            self._remuxer.close()
            self._remuxer = None
