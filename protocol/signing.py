"""Frame signatures: the source signs what it captured, every viewer checks it.

What is signed is a domain tag, the frame's identity and size (epoch, seq, capture
time, width, height) and the SHA-256 of its JPEG bytes, so the signature costs one
hash of the payload plus one Ed25519 operation of a fixed 72 bytes. The hop count
and path latency are not covered: relays rewrite them on every hop.

Keys travel as 64 hex characters (the 32-byte Ed25519 public key): the source puts
its key in its Hello, and the tracker hands it to every viewer in each Assign.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.frames import FrameHeader, VideoFrame

_SIGNED_FIELDS = struct.Struct(">4sIQQHH")
_DOMAIN = b"SNf1"
PUBLIC_KEY_HEX_CHARS = 64


def signed_message(header: FrameHeader, jpeg: bytes | memoryview) -> bytes:
    """The bytes a frame's signature covers."""
    fields = _SIGNED_FIELDS.pack(
        _DOMAIN, header.epoch, header.seq, header.capture_ns, header.width, header.height
    )
    return fields + hashlib.sha256(jpeg).digest()


class FrameSigner:
    """The source's key pair (a fresh one per run unless given)."""

    def __init__(self, private_key: Ed25519PrivateKey | None = None) -> None:
        self._key = private_key or Ed25519PrivateKey.generate()
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key_hex = raw.hex()

    def sign(self, header: FrameHeader, jpeg: bytes | memoryview) -> bytes:
        """The 64-byte signature of a frame."""
        return self._key.sign(signed_message(header, jpeg))


class FrameVerifier:
    """Checks frames against one source's public key."""

    def __init__(self, public_key_hex: str) -> None:
        """Raises ValueError if `public_key_hex` is not a 32-byte key in hex."""
        if len(public_key_hex) != PUBLIC_KEY_HEX_CHARS:
            raise ValueError(f"a stream key has {PUBLIC_KEY_HEX_CHARS} hex characters")
        self._key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))

    def verify(self, frame: VideoFrame) -> bool:
        """Whether the frame carries a valid signature by this key."""
        if not frame.signature:
            return False
        try:
            self._key.verify(frame.signature, signed_message(frame.header, frame.jpeg))
        except InvalidSignature:
            return False
        return True
