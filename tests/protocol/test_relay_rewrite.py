"""Relays rewrite hop count and path latency in O(1), leaving the JPEG bytes alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from tests.protocol.strategies import video_frames


def decode_one(data: bytes) -> p.Message:
    decoder = p.MessageDecoder()
    decoder.receive_data(data)
    message = decoder.next_message()
    assert not isinstance(message, p.Sentinel)
    return message


@given(frame=video_frames, hops=st.integers(0, 0xFFFF), latency=st.integers(0, 2**32 - 1))
def test_relay_parts_change_only_hops_and_latency(
    frame: p.VideoFrame, hops: int, latency: int
) -> None:
    head, jpeg = p.relay_parts(frame, hops=hops, path_latency_us=latency)
    relayed = decode_one(head + jpeg)
    assert isinstance(relayed, p.VideoFrame)
    assert relayed.header.hops == hops
    assert relayed.header.path_latency_us == latency
    assert relayed.header.seq == frame.header.seq
    assert relayed.header.capture_ns == frame.header.capture_ns
    assert relayed.header.epoch == frame.header.epoch
    assert bytes(relayed.data) == bytes(frame.data)
    assert relayed.signature == frame.signature


def test_relay_parts_pass_the_received_jpeg_through_without_copying() -> None:
    header = p.FrameHeader(epoch=1, seq=7, capture_ns=10, width=1280, height=720)
    wire = p.encode(p.VideoFrame(header=header, data=b"\xff\xd8" + bytes(70_000)))
    received = decode_one(wire)
    assert isinstance(received, p.VideoFrame)
    # One received chunk holding exactly one message: the payload is the chunk itself.
    assert received.data.obj is wire
    head, jpeg = p.relay_parts(received, hops=1, path_latency_us=250)
    assert jpeg.obj is received.data.obj
    assert len(head) == p.ENVELOPE_BYTES + p.FRAME_HEADER_BYTES


def test_relay_fields_saturate_instead_of_overflowing() -> None:
    header = p.FrameHeader(epoch=0, seq=0, capture_ns=0, width=1, height=1)
    frame = p.VideoFrame(header=header, data=b"x")
    head, jpeg = p.relay_parts(frame, hops=10**6, path_latency_us=10**12)
    relayed = decode_one(head + jpeg)
    assert isinstance(relayed, p.VideoFrame)
    assert relayed.header.hops == 0xFFFF
    assert relayed.header.path_latency_us == 2**32 - 1


def test_signed_frame_carries_its_signature_through_a_relay() -> None:
    header = p.FrameHeader(epoch=3, seq=1, capture_ns=5, width=2, height=2)
    frame = p.VideoFrame(header=header, data=b"jpeg", signature=bytes(range(256)))
    head, jpeg = p.relay_parts(frame, hops=4, path_latency_us=9)
    relayed = decode_one(head + jpeg)
    assert isinstance(relayed, p.VideoFrame)
    assert relayed.signature == bytes(range(256))
    assert relayed.flags == p.FLAG_SIGNED | p.FLAG_KEYFRAME
