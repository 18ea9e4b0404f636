"""Video frames: one encoded picture (a JPEG, or an H.264 access unit) behind a small
fixed binary header.

    offset  size  field
    0       4     stream epoch (u32; a new stream from the source bumps it)
    4       8     sequence number (u64, +1 per frame the source sends)
    12      8     capture time, Unix ns (u64)
    20      2     width  (u16, pixels of the picture)
    22      2     height (u16)
    24      2     hop count (u16; links crossed: the source's children see 1)
    26      4     accumulated path-latency estimate, µs (u32)
    30      1     codec (u8: 1 JPEG, 2 H.264)
    31      256   RSA-2048 signature, present only when envelope flag SIGNED is set
    31|287  rest  the encoded picture

Envelope flags: SIGNED (0x01), KEYFRAME (0x02: the picture decodes on its own; every
JPEG frame is one, an H.264 access unit only when it starts with an IDR picture).

Relays change only the hop count and the path latency. `relay_parts` builds a new
head for that in O(1) and hands back the picture's bytes as a view, so forwarding a
frame never copies or inspects its payload in Python.
"""

from __future__ import annotations

import enum
import struct
from typing import ClassVar

import attrs

from protocol.envelope import pack_envelope
from protocol.errors import ProtocolError, Reason
from protocol.fields import int_between
from protocol.limits import MAGIC, MAX_FRAME_DIMENSION, PROTOCOL_VERSION, SIGNATURE_BYTES

FRAME_TYPE_CODE = 0x50
FLAG_SIGNED = 0x01
FLAG_KEYFRAME = 0x02
FRAME_FLAGS_KNOWN = FLAG_SIGNED | FLAG_KEYFRAME


class Codec(enum.IntEnum):
    """How a frame's picture is encoded (one byte on the wire)."""

    JPEG = 1  # every frame stands alone
    H264 = 2  # one H.264 access unit (Annex B), decoded in order from a keyframe

    @property
    def label(self) -> str:
        """The name users type and stats print: `jpeg` or `h264`."""
        return self.name.lower()


CODECS_BY_LABEL = {codec.label: codec for codec in Codec}
_CODECS_BY_NUMBER = {int(codec): codec for codec in Codec}

FRAME_HEADER = struct.Struct(">IQQHHHIB")
FRAME_HEADER_BYTES = FRAME_HEADER.size
# Envelope and frame header in one pack: the relay's per-frame, per-child cost.
_RELAY_HEAD = struct.Struct(">2sBBBBI" + FRAME_HEADER.format.lstrip(">"))

_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF


def _check_encoding(instance: FrameHeader, _: object, keyframe: bool) -> None:
    # One check for both fields: it runs for every frame a relay receives.
    codec = instance.codec
    if codec is Codec.JPEG:
        if not keyframe:
            raise ValueError("every JPEG frame is a keyframe")
    elif codec is not Codec.H264:
        raise ValueError(f"unknown codec {codec!r}")


@attrs.frozen
class FrameHeader:
    """Where a frame sits in the stream, how it is encoded and what the path so far cost it."""

    epoch: int = attrs.field(validator=int_between(0, _U32))
    seq: int = attrs.field(validator=int_between(0, _U64))
    capture_ns: int = attrs.field(validator=int_between(0, _U64))
    width: int = attrs.field(validator=int_between(1, MAX_FRAME_DIMENSION))
    height: int = attrs.field(validator=int_between(1, MAX_FRAME_DIMENSION))
    hops: int = attrs.field(default=0, validator=int_between(0, _U16))
    path_latency_us: int = attrs.field(default=0, validator=int_between(0, _U32))
    codec: Codec = Codec.JPEG
    keyframe: bool = attrs.field(default=True, validator=_check_encoding)


def _as_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    return view if view.readonly else memoryview(bytes(view))


def _check_signature(_: object, __: object, value: bytes) -> None:
    if len(value) not in (0, SIGNATURE_BYTES):
        raise ValueError(f"signature must be empty or {SIGNATURE_BYTES} bytes, not {len(value)}")


def _check_data(_: object, __: object, value: memoryview) -> None:
    if value.nbytes == 0:
        raise ValueError("a frame carries at least one byte of picture")


def _flags(keyframe: bool, signature: bytes) -> int:
    return (FLAG_KEYFRAME if keyframe else 0) | (FLAG_SIGNED if signature else 0)


@attrs.frozen
class VideoFrame:
    """One encoded picture. `data` is a read-only view, usually into the received bytes."""

    TYPE_CODE: ClassVar[int] = FRAME_TYPE_CODE

    header: FrameHeader
    data: memoryview = attrs.field(
        converter=_as_view,
        validator=_check_data,
        repr=lambda view: f"<{view.nbytes} bytes>",
    )
    signature: bytes = attrs.field(default=b"", validator=_check_signature)

    @property
    def flags(self) -> int:
        """The envelope flags this frame is sent with."""
        return _flags(self.header.keyframe, self.signature)

    def payload_bytes(self) -> int:
        """Length of the encoded payload (header, signature, picture)."""
        return FRAME_HEADER_BYTES + len(self.signature) + self.data.nbytes


def pack_frame_header(header: FrameHeader) -> bytes:
    """The FRAME_HEADER_BYTES fixed bytes of a frame header."""
    return FRAME_HEADER.pack(
        header.epoch,
        header.seq,
        header.capture_ns,
        header.width,
        header.height,
        header.hops,
        header.path_latency_us,
        header.codec,
    )


def frame_wire_parts(frame: VideoFrame) -> tuple[bytes, memoryview]:
    """The frame as (envelope + header + signature, picture view): send both, in order."""
    head = (
        pack_envelope(FRAME_TYPE_CODE, frame.flags, frame.payload_bytes())
        + pack_frame_header(frame.header)
        + frame.signature
    )
    return head, frame.data


def relay_parts(frame: VideoFrame, *, hops: int, path_latency_us: int) -> tuple[bytes, memoryview]:
    """Wire parts of `frame` with only the hop count and path latency replaced.

    Costs one small struct pack, whatever the frame's size: the picture view is passed
    through untouched, and the signature (which covers neither field) stays valid.
    """
    header = frame.header
    signature = frame.signature
    data = frame.data
    head = _RELAY_HEAD.pack(
        MAGIC,
        PROTOCOL_VERSION,
        FRAME_TYPE_CODE,
        (FLAG_KEYFRAME if header.keyframe else 0) | (FLAG_SIGNED if signature else 0),
        0,
        FRAME_HEADER_BYTES + len(signature) + data.nbytes,
        header.epoch,
        header.seq,
        header.capture_ns,
        header.width,
        header.height,
        min(max(hops, 0), _U16),
        min(max(path_latency_us, 0), _U32),
        header.codec,
    )
    return (head + signature if signature else head), data


def decode_frame(flags: int, payload: memoryview) -> VideoFrame:
    """Parse a frame payload (everything after the envelope) without copying the picture."""
    if flags & ~FRAME_FLAGS_KNOWN:
        raise ProtocolError(Reason.BAD_FLAGS, f"unknown frame flags 0x{flags:02x}")
    signature_bytes = SIGNATURE_BYTES if flags & FLAG_SIGNED else 0
    data_offset = FRAME_HEADER_BYTES + signature_bytes
    if len(payload) <= data_offset:
        raise ProtocolError(
            Reason.MALFORMED,
            f"frame payload of {len(payload)} bytes has no room for its header and picture",
        )
    epoch, seq, capture_ns, width, height, hops, path_latency_us, number = FRAME_HEADER.unpack_from(
        payload, 0
    )
    codec = _CODECS_BY_NUMBER.get(number)
    if codec is None:
        raise ProtocolError(Reason.OUT_OF_RANGE, f"unknown codec {number}")
    view = payload
    try:
        header = FrameHeader(
            epoch,
            seq,
            capture_ns,
            width,
            height,
            hops,
            path_latency_us,
            codec,
            bool(flags & FLAG_KEYFRAME),
        )
        return VideoFrame(
            header=header,
            data=view[data_offset:],
            signature=bytes(view[FRAME_HEADER_BYTES:data_offset]),
        )
    except ValueError as exc:
        raise ProtocolError(Reason.OUT_OF_RANGE, str(exc)) from None
