"""H.264 through PyAV: libx264 to encode at the source, FFmpeg's decoder to show it.

Every call here is blocking and runs in a worker thread (`trio.to_thread.run_sync`);
FFmpeg releases the GIL while it works. The encoder makes one access unit per frame
(zero-latency tuning, no B-frames, no lookahead), Annex B with the SPS and PPS repeated
before every IDR picture, so a decoder can start at any keyframe. Rate control is
constant quality (`crf`) under a VBV cap (`bitrate_kbps`), so a relay can count on the
stream never exceeding the cap for long.
"""

from __future__ import annotations

import fractions
from typing import Any, cast

import attrs
import av
import numpy as np

from peer.errors import UsageError

ENCODER = "libx264"
PRESET = "veryfast"
DEFAULT_CRF = 23
# The cap a relay can plan its uplink for; CRF 23 stays under it on real 720p video.
DEFAULT_BITRATE_KBPS = 2500
DEFAULT_KEYINT_S = 2.0
MIN_BITRATE_KBPS, MAX_BITRATE_KBPS = 50, 100_000
MIN_CRF, MAX_CRF = 0, 51
MIN_KEYINT_S, MAX_KEYINT_S = 0.1, 60.0
TIME_BASE = fractions.Fraction(1, 1_000_000)  # pts in µs of the stream's own clock

Image = Any  # a numpy array, height x width x 3, uint8 BGR


def check_encoder() -> None:
    """UsageError unless this PyAV can encode H.264 with libx264."""
    if ENCODER not in av.codecs_available:
        raise UsageError(
            f"this PyAV's FFmpeg has no {ENCODER} encoder: install the av wheel from PyPI, "
            "which bundles it"
        )


@attrs.frozen
class H264Settings:
    """How the source encodes: quality, the rate cap and how often a keyframe comes."""

    crf: int = attrs.field(default=DEFAULT_CRF)
    bitrate_kbps: int = attrs.field(default=DEFAULT_BITRATE_KBPS)
    keyint_s: float = attrs.field(default=DEFAULT_KEYINT_S)

    @crf.validator
    def _check_crf(self, _: object, value: int) -> None:
        if not MIN_CRF <= value <= MAX_CRF:
            raise UsageError(f"--crf must be {MIN_CRF}..{MAX_CRF}, not {value}")

    @bitrate_kbps.validator
    def _check_bitrate(self, _: object, value: int) -> None:
        if not MIN_BITRATE_KBPS <= value <= MAX_BITRATE_KBPS:
            raise UsageError(
                f"--bitrate must be {MIN_BITRATE_KBPS}..{MAX_BITRATE_KBPS} kb/s, not {value}"
            )

    @keyint_s.validator
    def _check_keyint(self, _: object, value: float) -> None:
        if not MIN_KEYINT_S <= value <= MAX_KEYINT_S:
            raise UsageError(
                f"--keyint must be {MIN_KEYINT_S:g}..{MAX_KEYINT_S:g} seconds, not {value:g}"
            )


class H264Encoder:
    """A libx264 encoder for one picture size; `encode` gives one access unit per picture."""

    def __init__(self, width: int, height: int, fps: float, settings: H264Settings) -> None:
        """Open the encoder (UsageError if libx264 is missing). Sizes are rounded down
        to even, as 4:2:0 needs."""
        check_encoder()
        self.width, self.height = width - width % 2, height - height % 2
        self.settings = settings
        rate = fractions.Fraction(fps).limit_denominator(1001)
        keyint = max(1, round(fps * settings.keyint_s))
        context = cast(av.VideoCodecContext, av.CodecContext.create(ENCODER, "w"))
        context.width, context.height = self.width, self.height
        context.pix_fmt = "yuv420p"
        context.time_base = TIME_BASE
        context.framerate = rate
        context.gop_size = keyint
        context.max_b_frames = 0
        cap = settings.bitrate_kbps
        context.options = {
            "preset": PRESET,
            "tune": "zerolatency",
            "crf": str(settings.crf),
            "forced-idr": "1",  # a requested keyframe is an IDR: decoders can start there
            "x264-params": (
                f"keyint={keyint}:min-keyint={keyint}:bframes=0:repeat-headers=1"
                f":vbv-maxrate={cap}:vbv-bufsize={cap}"
            ),
        }
        context.open()
        self._context: av.VideoCodecContext | None = context

    def encode(self, image: Image, pts_us: int, *, keyframe: bool = False) -> tuple[bytes, bool]:
        """(access unit, whether it is a keyframe) for `image` (BGR), at `pts_us`.

        `keyframe=True` forces an IDR picture (a viewer asked for one).
        """
        if image.shape[1] != self.width or image.shape[0] != self.height:
            image = np.ascontiguousarray(image[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = pts_us
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        assert self._context is not None, "encode after close"
        packets = self._context.encode(frame)
        if len(packets) != 1:
            raise RuntimeError(f"{ENCODER} gave {len(packets)} packets for one picture")
        packet = packets[0]
        return bytes(packet), bool(packet.is_keyframe)

    def close(self) -> None:
        """Release the encoder."""
        self._context = None


class H264Decoder:
    """FFmpeg's H.264 decoder, fed access units in order (peer/gop.py says which)."""

    def __init__(self) -> None:
        """A decoder with no threads of its own beyond slices: a picture out per unit in."""
        context = av.CodecContext.create("h264", "r")
        context.thread_type = "SLICE"  # frame threads would hold pictures back
        self._context = context

    def decode(self, data: bytes | memoryview) -> av.VideoFrame | None:
        """The picture this access unit completes; None if it does not decode."""
        try:
            pictures = self._context.decode(av.Packet(bytes(data)))
        except av.FFmpegError:
            return None
        return pictures[-1] if pictures else None


def picture_to_image(picture: av.VideoFrame, width: int, height: int) -> Image:
    """A decoded picture as a BGR array of width x height (scaled by swscale)."""
    if (picture.width, picture.height) == (width, height):
        return picture.to_ndarray(format="bgr24")
    return picture.to_ndarray(format="bgr24", width=width, height=height, interpolation="AREA")
