"""The fixed 10-byte envelope in front of every message.

    offset  size  field
    0       2     magic b"SN"
    2       1     protocol version (PROTOCOL_VERSION)
    3       1     message type code
    4       1     flags (per type; unknown bits are an error)
    5       1     reserved, must be 0
    6       4     payload length, u32 big-endian

The layout of these ten bytes never changes between versions, so any peer can read
the version of any other and refuse it with a clear message.
"""

from __future__ import annotations

import struct

import attrs

from protocol.errors import ProtocolError, Reason
from protocol.limits import MAGIC, PROTOCOL_VERSION

ENVELOPE = struct.Struct(">2sBBBBI")
ENVELOPE_BYTES = ENVELOPE.size


@attrs.frozen
class Envelope:
    """The parsed envelope: which message follows and how long its payload is."""

    type_code: int
    flags: int
    length: int


def pack_envelope(type_code: int, flags: int, length: int) -> bytes:
    """Encode an envelope for a payload of `length` bytes."""
    return ENVELOPE.pack(MAGIC, PROTOCOL_VERSION, type_code, flags, 0, length)


def parse_envelope(data: bytes | memoryview) -> Envelope:
    """Decode exactly ENVELOPE_BYTES bytes, checking magic, version and reserved bits."""
    magic, version, type_code, flags, reserved, length = ENVELOPE.unpack(data)
    if magic != MAGIC:
        raise ProtocolError(Reason.BAD_MAGIC, f"expected {MAGIC!r}, got {magic!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            Reason.UNSUPPORTED_VERSION,
            f"peer speaks protocol version {version}, we speak {PROTOCOL_VERSION}",
        )
    if reserved != 0:
        raise ProtocolError(Reason.MALFORMED, f"reserved envelope byte is {reserved}, not 0")
    return Envelope(type_code=type_code, flags=flags, length=length)
