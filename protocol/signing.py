"""Frame signatures: the source signs what it captured, every viewer checks it.

What is signed is a domain tag, the frame's identity, size and encoding (epoch, seq,
capture time, width, height, codec, keyframe flag) and the BLAKE3 digest of its
picture's bytes, so a signature costs one hash of the payload plus one RSA operation on
a fixed 90 bytes. The hop count and path
latency are not covered: relays rewrite them on every hop.

Why RSA-2048 (PSS, SHA-256, e = 65537) and not Ed25519: one source signs each frame
once, and every viewer of the stream checks it before relaying or showing it, so the
check is the cost that multiplies. An RSA check is a few multiplications (about 20 µs
here, against Ed25519's 70 µs); signing is dearer (about 250 µs, once per frame, at the
source only). The price is 256 signature bytes a frame (60 kb/s at 30 fps). The key is
made fresh for every run of a source, and 2048 bits (112-bit strength) outlasts any
stream. BLAKE3 hashes the payload about 3.5x faster than SHA-256.

Keys travel as 512 hex characters, the 2048-bit modulus (the exponent is always 65537,
so a hostile tracker cannot hand out a key that is slow to check): the source puts its
key in its Hello, and the tracker hands it to every viewer in each Assign.
"""

from __future__ import annotations

import struct

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from protocol.frames import FrameHeader, VideoFrame
from protocol.limits import SIGNATURE_BYTES

KEY_BITS = SIGNATURE_BYTES * 8
PUBLIC_EXPONENT = 65537
PUBLIC_KEY_HEX_CHARS = SIGNATURE_BYTES * 2

_SIGNED_FIELDS = struct.Struct(">4sIQQHHBB")
_DOMAIN = b"SNf3"
_PADDING = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_HASH = hashes.SHA256()


def signed_message(header: FrameHeader, data: bytes | memoryview) -> bytes:
    """The bytes a frame's signature covers."""
    fields = _SIGNED_FIELDS.pack(
        _DOMAIN,
        header.epoch,
        header.seq,
        header.capture_ns,
        header.width,
        header.height,
        header.codec,
        header.keyframe,
    )
    return fields + blake3.blake3(data).digest()


class FrameSigner:
    """The source's key pair (a fresh one per run unless given)."""

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self._key = private_key or rsa.generate_private_key(
            public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS
        )
        modulus = self._key.public_key().public_numbers().n
        self.public_key_hex = modulus.to_bytes(SIGNATURE_BYTES, "big").hex()

    def sign(self, header: FrameHeader, data: bytes | memoryview) -> bytes:
        """The SIGNATURE_BYTES-byte signature of a frame."""
        return self._key.sign(signed_message(header, data), _PADDING, _HASH)


class FrameVerifier:
    """Checks frames against one source's public key."""

    def __init__(self, public_key_hex: str) -> None:
        """Raises ValueError if `public_key_hex` is not a 2048-bit modulus in hex."""
        if len(public_key_hex) != PUBLIC_KEY_HEX_CHARS:
            raise ValueError(f"a stream key has {PUBLIC_KEY_HEX_CHARS} hex characters")
        modulus = int(public_key_hex, 16)
        if modulus.bit_length() != KEY_BITS or modulus % 2 == 0:
            raise ValueError(f"a stream key is an odd {KEY_BITS}-bit modulus")
        self._key = rsa.RSAPublicNumbers(PUBLIC_EXPONENT, modulus).public_key()

    def verify(self, frame: VideoFrame) -> bool:
        """Whether the frame carries a valid signature by this key."""
        if not frame.signature:
            return False
        try:
            self._key.verify(
                frame.signature, signed_message(frame.header, frame.data), _PADDING, _HASH
            )
        except InvalidSignature:
            return False
        return True
