"""Frame signatures: valid through relays, broken by any change a relay must not make."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol as p
from protocol.signing import FrameSigner, FrameVerifier

SIGNER = FrameSigner()
VERIFIER = FrameVerifier(SIGNER.public_key_hex)


def signed(header: p.FrameHeader, jpeg: bytes) -> p.VideoFrame:
    return p.VideoFrame(header=header, data=jpeg, signature=SIGNER.sign(header, jpeg))


headers = st.builds(
    p.FrameHeader,
    epoch=st.integers(0, 2**32 - 1),
    seq=st.integers(0, 2**64 - 1),
    capture_ns=st.integers(0, 2**64 - 1),
    width=st.integers(1, 16384),
    height=st.integers(1, 16384),
    codec=st.just(p.Codec.H264),
    keyframe=st.booleans(),
)


@given(
    headers, st.binary(min_size=1, max_size=2000), st.integers(0, 65535), st.integers(0, 2**32 - 1)
)
@settings(max_examples=100)
def test_a_relayed_frame_still_verifies(
    header: p.FrameHeader, jpeg: bytes, hops: int, latency_us: int
) -> None:
    frame = signed(header, jpeg)
    head, view = p.relay_parts(frame, hops=hops, path_latency_us=latency_us)
    decoder = p.MessageDecoder()
    decoder.receive_data(bytes(head) + bytes(view))
    relayed = decoder.next_message()
    assert isinstance(relayed, p.VideoFrame)
    assert relayed.header.hops == hops
    assert VERIFIER.verify(relayed)


@given(headers, st.binary(min_size=1, max_size=500), st.data())
@settings(max_examples=100)
def test_any_change_to_the_picture_or_its_identity_fails(
    header: p.FrameHeader, jpeg: bytes, data: st.DataObject
) -> None:
    frame = signed(header, jpeg)
    fields = ["data", "epoch", "seq", "capture_ns", "width", "height", "codec", "keyframe"]
    field = data.draw(st.sampled_from(fields))
    if field == "data":
        index = data.draw(st.integers(0, len(jpeg) - 1))
        changed = bytearray(jpeg)
        changed[index] ^= 0x01
        tampered = attrs.evolve(frame, data=bytes(changed))
    elif field == "codec":  # an H.264 access unit passed off as a JPEG
        jpeg_header = attrs.evolve(header, codec=p.Codec.JPEG, keyframe=True)
        tampered = attrs.evolve(frame, header=jpeg_header)
    elif field == "keyframe":
        tampered = attrs.evolve(frame, header=attrs.evolve(header, keyframe=not header.keyframe))
    else:
        value = getattr(header, field)
        other = value - 1 if value > (1 if field in ("width", "height") else 0) else value + 1
        tampered = attrs.evolve(frame, header=attrs.evolve(header, **{field: other}))
    assert not VERIFIER.verify(tampered)


def test_unsigned_and_foreign_frames_fail() -> None:
    header = p.FrameHeader(epoch=1, seq=1, capture_ns=1, width=2, height=2)
    assert not VERIFIER.verify(p.VideoFrame(header=header, data=b"x"))
    other = FrameSigner()
    forged = p.VideoFrame(header=header, data=b"x", signature=other.sign(header, b"x"))
    assert not VERIFIER.verify(forged)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "ab" * 255,  # too short
        "zz" * 256,  # not hex
        "ab" * 255 + "ac",  # even: not an RSA modulus
        "7f" + "ab" * 255,  # 2047 bits: not the key size signatures are checked with
    ],
)
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError):
        FrameVerifier(key)
