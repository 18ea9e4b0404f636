"""Where frames come from and how JPEG is made and read: OpenCV, off the event loop.

Every function here is blocking and is called through `trio.to_thread.run_sync`
(OpenCV releases the GIL while it works). Sources: a video file, a camera index, a URL
OpenCV opens, or `testsrc[:WxH@FPS]`, a moving pattern with the frame number and the
time drawn on it.
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any, Protocol

import attrs
import cv2
import numpy as np

from peer.errors import PeerError, UsageError
from peer.resolution import DecodePlan, imread_flag, target_size

TESTSRC_DEFAULT = (1280, 720, 30.0)
_TESTSRC = re.compile(r"^testsrc(?::(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?)?$")
MAX_SOURCE_FPS = 240.0
Image = Any  # a numpy array, height x width x 3, uint8 BGR


class FrameReader(Protocol):
    """A blocking source of raw frames."""

    width: int
    height: int
    fps: float

    def read(self, skip: int) -> Image | None:
        """Drop `skip` frames, then return the next one (None at the end)."""

    def close(self) -> None:
        """Release the device or file."""


@attrs.frozen
class SourceSpec:
    """What the user asked to stream."""

    kind: str  # "file" | "camera" | "url" | "testsrc"
    target: str
    width: int = 0
    height: int = 0
    fps: float = 0.0


def parse_source(text: str) -> SourceSpec:
    """Interpret the SOURCE argument; PeerError if it cannot be."""
    match = _TESTSRC.match(text)
    if match:
        width = int(match.group(1) or TESTSRC_DEFAULT[0])
        height = int(match.group(2) or TESTSRC_DEFAULT[1])
        fps = float(match.group(3) or TESTSRC_DEFAULT[2])
        if not (16 <= width <= 7680 and 16 <= height <= 4320 and 0 < fps <= MAX_SOURCE_FPS):
            raise UsageError(f"bad test pattern '{text}': use testsrc:WIDTHxHEIGHT@FPS")
        return SourceSpec("testsrc", text, width, height, fps)
    if text.startswith("testsrc"):
        raise UsageError(f"bad test pattern '{text}': use testsrc:WIDTHxHEIGHT@FPS")
    if text.isdigit():
        return SourceSpec("camera", text)
    if "://" in text:
        return SourceSpec("url", text)
    if not os.path.exists(text):
        raise UsageError(f"no such video file: {text}")
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise UsageError(f"cannot read video file: {text}")
    return SourceSpec("file", text)


def open_reader(spec: SourceSpec, *, loop: bool) -> FrameReader:
    """Open the source (blocking); PeerError if OpenCV cannot."""
    if spec.kind == "testsrc":
        return TestPattern(spec.width, spec.height, spec.fps)
    return CaptureReader(spec, loop=loop)


class CaptureReader:
    """A file, camera or URL read through cv2.VideoCapture."""

    def __init__(self, spec: SourceSpec, *, loop: bool) -> None:
        target: str | int = int(spec.target) if spec.kind == "camera" else spec.target
        self._capture = cv2.VideoCapture(target)
        self._loop = loop and spec.kind == "file"
        what = {"file": "video file", "camera": "camera", "url": "URL"}[spec.kind]
        if not self._capture.isOpened():
            raise PeerError(f"cannot open {what} {spec.target}")
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise PeerError(f"cannot read a frame from {what} {spec.target}")
        self._first: Image | None = first
        self.height, self.width = first.shape[:2]
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps <= MAX_SOURCE_FPS else 30.0

    def read(self, skip: int) -> Image | None:
        """Drop `skip` frames, then return the next (rewinding at the end with --loop)."""
        if self._first is not None and skip == 0:
            first, self._first = self._first, None
            return first
        self._first = None
        for _ in range(skip):
            if not self._capture.grab():
                break
        ok, image = self._capture.read()
        if not ok and self._loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        return image if ok else None

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()


class TestPattern:
    """A moving test pattern: colour bars, a sweeping box, frame number and clock."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.width, self.height, self.fps = width, height, fps
        self._index = 0
        bars = np.array(
            [[192, 192, 192], [0, 192, 192], [192, 192, 0], [0, 192, 0],
             [192, 0, 192], [0, 0, 192], [192, 0, 0], [16, 16, 16]],
            dtype=np.uint8,
        )  # fmt: skip
        columns = np.arange(width) * len(bars) // width
        row = bars[columns]
        self._background = np.repeat(row[np.newaxis, :, :], height, axis=0)
        ramp = np.linspace(0, 255, width, dtype=np.uint8)
        band = slice(height * 3 // 4, height)
        self._background[band] = ramp[np.newaxis, :, np.newaxis]

    def read(self, skip: int) -> Image:
        """The next pattern frame (after skipping `skip` frame numbers)."""
        self._index += skip
        index = self._index
        self._index += 1
        image = self._background.copy()
        size = max(8, self.height // 8)
        x = int((index * 7) % max(1, self.width - size))
        y = self.height // 2 - size // 2
        cv2.rectangle(image, (x, y), (x + size, y + size), (255, 255, 255), -1)
        scale = max(0.4, self.height / 720)
        label = f"StreamNest #{index}  {time.strftime('%H:%M:%S')}"
        origin = (max(4, self.width // 40), max(20, self.height // 8))
        cv2.putText(image, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 6)
        cv2.putText(image, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2)
        return image

    def close(self) -> None:
        """Nothing to release."""


def fit_within(image: Image, max_resolution: str | None) -> Image:
    """Downscale to at most `max_resolution` (never upscale)."""
    if max_resolution is None or max_resolution == "source":
        return image
    height, width = image.shape[:2]
    new_width, new_height = target_size(width, height, max_resolution)
    if (new_width, new_height) == (width, height):
        return image
    return cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_AREA)


def encode_jpeg(image: Image, quality: int) -> bytes:
    """JPEG bytes of `image` at `quality` (1-100)."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PeerError("JPEG encoding failed")
    return buffer.tobytes()


def decode_jpeg(jpeg: memoryview, plan: DecodePlan) -> Image | None:
    """Decode at the planned reduction, then resize to the plan's size; None if corrupt."""
    data = np.frombuffer(jpeg, dtype=np.uint8)
    image = cv2.imdecode(data, imread_flag(plan.reduce_factor))
    if image is None:
        return None
    height, width = image.shape[:2]
    if (width, height) != (plan.width, plan.height):
        image = cv2.resize(image, (plan.width, plan.height), interpolation=cv2.INTER_AREA)
    return image
