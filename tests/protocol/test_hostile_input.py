"""Whatever arrives from the network, the decoder raises ProtocolError and nothing else."""

from __future__ import annotations

import contextlib
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol as p
from protocol.envelope import pack_envelope
from protocol.limits import (
    MAGIC,
    MAX_CONTROL_PAYLOAD_BYTES,
    MAX_FRAME_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
)
from tests.protocol.strategies import any_message


def drain(
    data: bytes,
    chunk: int = 7,
    *,
    accept: list[type[p.Message]] | None = None,
    max_frame_payload_bytes: int = MAX_FRAME_PAYLOAD_BYTES,
) -> list[p.Message]:
    """Feed everything, then EOF; return messages or raise what the decoder raises."""
    decoder = p.MessageDecoder(accept=accept, max_frame_payload_bytes=max_frame_payload_bytes)
    out: list[p.Message] = []
    for start in range(0, len(data), chunk):
        decoder.receive_data(data[start : start + chunk])
        out.extend(decoder)
    decoder.receive_data(b"")
    assert decoder.next_message() is p.CLOSED
    return out


def reason_for(
    data: bytes,
    *,
    accept: list[type[p.Message]] | None = None,
    max_frame_payload_bytes: int = MAX_FRAME_PAYLOAD_BYTES,
) -> p.Reason:
    with pytest.raises(p.ProtocolError) as info:
        drain(data, accept=accept, max_frame_payload_bytes=max_frame_payload_bytes)
    return info.value.reason


def control(type_code: int, body: bytes, flags: int = 0) -> bytes:
    return pack_envelope(type_code, flags, len(body)) + body


@given(st.binary(max_size=2000), st.integers(1, 64))
@settings(max_examples=500)
def test_random_bytes_raise_only_protocol_error(data: bytes, chunk: int) -> None:
    with contextlib.suppress(p.ProtocolError):
        drain(data, chunk)


@given(
    messages=st.lists(any_message, min_size=1, max_size=4),
    edits=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.integers(0),
)
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_streams_raise_only_protocol_error(
    messages: list[p.Message], edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(b"".join(p.encode(m) for m in messages))
    for position, value in edits:
        data[position % len(data)] = value
    truncated = bytes(data[: len(data) - cut % 3])
    with contextlib.suppress(p.ProtocolError):
        drain(truncated, 5)


@given(st.integers(MAX_CONTROL_PAYLOAD_BYTES + 1, 2**32 - 1))
def test_a_lying_length_is_refused_before_anything_is_allocated(length: int) -> None:
    decoder = p.MessageDecoder()
    tracemalloc.start()
    try:
        decoder.receive_data(pack_envelope(p.ChatSend.TYPE_CODE, 0, length))
        with pytest.raises(p.ProtocolError) as info:
            decoder.next_message()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason is p.Reason.TOO_LARGE
    assert peak < 64 * 1024


def test_a_huge_frame_length_is_refused() -> None:
    data = pack_envelope(p.VideoFrame.TYPE_CODE, 0, 2**32 - 1)
    assert reason_for(data) is p.Reason.TOO_LARGE


def test_frame_limit_is_configurable_per_connection() -> None:
    header = p.FrameHeader(epoch=0, seq=0, capture_ns=0, width=1, height=1)
    frame = p.encode(p.VideoFrame(header=header, data=bytes(1000)))
    assert reason_for(frame, max_frame_payload_bytes=100) is p.Reason.TOO_LARGE


def test_wrong_magic() -> None:
    assert reason_for(b"HTTP/1.1 200 OK\r\n\r\n") is p.Reason.BAD_MAGIC


def test_unsupported_version_says_which_versions() -> None:
    data = struct.pack(">2sBBBBI", MAGIC, PROTOCOL_VERSION + 1, 0x01, 0, 0, 2) + b"{}"
    with pytest.raises(p.ProtocolError) as info:
        drain(data)
    assert info.value.reason is p.Reason.UNSUPPORTED_VERSION
    assert f"version {PROTOCOL_VERSION + 1}" in str(info.value)


def test_unknown_type() -> None:
    assert reason_for(control(0xEE, b"{}")) is p.Reason.UNKNOWN_TYPE


def test_unexpected_type_for_this_connection() -> None:
    data = p.encode(p.Ping(nonce=1, sent_ns=2))
    assert reason_for(data, accept=[p.Hello]) is p.Reason.UNEXPECTED_TYPE


def test_nonzero_reserved_byte() -> None:
    data = struct.pack(">2sBBBBI", MAGIC, PROTOCOL_VERSION, 0x05, 0, 1, 2) + b"{}"
    assert reason_for(data) is p.Reason.MALFORMED


def test_flags_on_a_control_message() -> None:
    assert reason_for(control(p.Goodbye.TYPE_CODE, b"{}", flags=1)) is p.Reason.BAD_FLAGS


def test_unknown_frame_flags() -> None:
    assert reason_for(control(p.VideoFrame.TYPE_CODE, bytes(40), flags=0x80)) is (
        p.Reason.BAD_FLAGS
    )


def test_frame_too_short_for_its_header() -> None:
    assert reason_for(control(p.VideoFrame.TYPE_CODE, bytes(20))) is p.Reason.MALFORMED
    assert reason_for(control(p.VideoFrame.TYPE_CODE, bytes(60), flags=p.FLAG_SIGNED)) is (
        p.Reason.MALFORMED
    )


def test_frame_with_zero_width() -> None:
    body = struct.pack(">IQQHHHIB", 1, 1, 1, 0, 10, 0, 0, p.Codec.JPEG) + b"jpeg"
    keyframe = p.FLAG_KEYFRAME
    assert reason_for(control(p.VideoFrame.TYPE_CODE, body, flags=keyframe)) is (
        p.Reason.OUT_OF_RANGE
    )


@pytest.mark.parametrize(
    ("codec", "flags"),
    [(0, p.FLAG_KEYFRAME), (3, p.FLAG_KEYFRAME), (255, 0), (p.Codec.JPEG, 0)],
    ids=["codec 0", "codec 3", "codec 255", "a JPEG that is not a keyframe"],
)
def test_frame_with_an_unknown_codec_or_a_jpeg_not_a_keyframe(codec: int, flags: int) -> None:
    body = struct.pack(">IQQHHHIB", 1, 1, 1, 10, 10, 0, 0, codec) + b"picture"
    assert reason_for(control(p.VideoFrame.TYPE_CODE, body, flags=flags)) is (p.Reason.OUT_OF_RANGE)


def test_connection_closed_mid_message() -> None:
    data = p.encode(p.ChatSend(text="hello"))
    assert reason_for(data[:-1]) is p.Reason.TRUNCATED
    assert reason_for(data[:4]) is p.Reason.TRUNCATED


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[]",
        b'"text"',
        b"[" * 30_000 + b"]" * 30_000,
        b'{"text": NaN}',
        b'{"text": 5}',
        b"{}",
        b'{"text": "a\\ud800b"}',
    ],
    ids=["utf8", "syntax", "array", "string", "deep", "nan", "type", "missing", "surrogate"],
)
def test_malformed_control_bodies(body: bytes) -> None:
    assert reason_for(control(p.ChatSend.TYPE_CODE, body)) is p.Reason.MALFORMED


@pytest.mark.parametrize(
    "body",
    [
        b'{"nonce": -1, "sent_ns": 0}',
        b'{"nonce": 1' + b"0" * 30 + b', "sent_ns": 0}',
        b'{"nonce": 1, "sent_ns": 1e400}',
    ],
    ids=["negative", "huge", "float-for-int"],
)
def test_out_of_range_numbers(body: bytes) -> None:
    assert reason_for(control(p.Ping.TYPE_CODE, body)) in (
        p.Reason.OUT_OF_RANGE,
        p.Reason.MALFORMED,
    )


def test_a_name_far_too_long() -> None:
    body = b'{"protocol_version":1,"name":"' + b"x" * 1000 + b'","role":"viewer"}'
    assert reason_for(control(p.Hello.TYPE_CODE, body)) is p.Reason.OUT_OF_RANGE


def test_unknown_role() -> None:
    body = b'{"protocol_version":1,"name":"eve","role":"admin"}'
    assert reason_for(control(p.Hello.TYPE_CODE, body)) is p.Reason.OUT_OF_RANGE


def test_a_huge_integer_literal_is_refused_cheaply() -> None:
    body = b'{"nonce": ' + b"9" * 60_000 + b', "sent_ns": 0}'
    assert reason_for(control(p.Ping.TYPE_CODE, body)) in (
        p.Reason.MALFORMED,
        p.Reason.OUT_OF_RANGE,
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"1", p.Reason.MALFORMED),
        (b"true", p.Reason.MALFORMED),
        (b"null", p.Reason.MALFORMED),
        (b'"sideways"', p.Reason.OUT_OF_RANGE),
    ],
    ids=["int", "bool", "null", "unknown"],
)
def test_a_link_kind_that_is_not_one_we_know(value: bytes, reason: p.Reason) -> None:
    body = b'{"backup":{"name":"r","host":"h","port":1,"token":"t","link":' + value + b"}}"
    assert reason_for(control(p.BackupUpdate.TYPE_CODE, body)) is reason


def test_an_offer_without_a_link_kind_is_dialled() -> None:
    body = b'{"backup":{"name":"r","host":"h","port":1,"token":"t"}}'
    [update] = drain(control(p.BackupUpdate.TYPE_CODE, body))
    assert isinstance(update, p.BackupUpdate) and update.backup is not None
    assert update.backup.link is p.LinkKind.DIRECT and not update.backup.reverse


@pytest.mark.parametrize(
    ("port", "reason"),
    [
        (b"0", p.Reason.OUT_OF_RANGE),
        (b"65536", p.Reason.OUT_OF_RANGE),
        (b"-1", p.Reason.OUT_OF_RANGE),
        (b'"80"', p.Reason.MALFORMED),
    ],
)
def test_a_mapped_port_out_of_range_in_a_hello(port: bytes, reason: p.Reason) -> None:
    body = b'{"protocol_version":8,"name":"a","role":"viewer","mapped_port":' + port + b"}"
    assert reason_for(control(p.Hello.TYPE_CODE, body)) is reason


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    body = b'{"reason": "bye", "from_the_future": [1, 2, 3]}'
    assert drain(control(p.Goodbye.TYPE_CODE, body)) == [p.Goodbye(reason="bye")]


def test_a_broken_decoder_stays_broken() -> None:
    decoder = p.MessageDecoder()
    decoder.receive_data(b"garbage!!!" + p.encode(p.Goodbye()))
    for _ in range(2):
        with pytest.raises(p.ProtocolError):
            decoder.next_message()


def test_encoding_an_oversize_message_is_refused_locally() -> None:
    history = p.ChatHistory(
        messages=[
            p.ChatMessage(id=i, sender="x", time_ns=0, text="\u4e00" * 4000) for i in range(100)
        ]
    )
    with pytest.raises(ValueError):
        p.encode(history)


def test_invalid_values_cannot_be_built() -> None:
    with pytest.raises(ValueError):
        p.Ping(nonce=-1, sent_ns=0)
    with pytest.raises(ValueError):
        p.VideoFrame(
            header=p.FrameHeader(epoch=0, seq=0, capture_ns=0, width=1, height=1), data=b""
        )


# Heartbeat and HeartbeatAck have fixed binary bodies (protocol/heartbeat_body.py).
HEARTBEAT_FIXED = struct.Struct(">Q7d4QB")


def heartbeat_body(*, seq: int = 1, fps: float = 30.0, resolution: bytes = b"720p") -> bytes:
    numbers = (fps, 30.0, 1.0, 1.0, 1.0, 1.0, 0.0)
    return HEARTBEAT_FIXED.pack(seq, *numbers, 10, 0, 1, 0, len(resolution)) + resolution


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (heartbeat_body()[:50], p.Reason.MALFORMED),
        (heartbeat_body()[:-1], p.Reason.MALFORMED),
        (heartbeat_body(resolution=b"\xff\xfe"), p.Reason.MALFORMED),
        (heartbeat_body(fps=float("nan")), p.Reason.OUT_OF_RANGE),
        (heartbeat_body(fps=-1.0), p.Reason.OUT_OF_RANGE),
        (heartbeat_body(seq=2**64 - 1), p.Reason.OUT_OF_RANGE),
        (heartbeat_body(resolution=b"x" * 200), p.Reason.OUT_OF_RANGE),
        (heartbeat_body() + bytes([65]), p.Reason.OUT_OF_RANGE),
    ],
    ids=[
        "short",
        "cut-resolution",
        "utf8",
        "nan",
        "negative",
        "huge-seq",
        "long-resolution",
        "slots-past-the-limit",
    ],
)
def test_bad_binary_heartbeats(body: bytes, reason: p.Reason) -> None:
    assert reason_for(control(p.Heartbeat.TYPE_CODE, body)) is reason


def test_binary_bodies_ignore_appended_fields_for_forward_compatibility() -> None:
    body = heartbeat_body(seq=7) + bytes([5]) + b"future"
    (beat,) = drain(control(p.Heartbeat.TYPE_CODE, body))
    assert isinstance(beat, p.Heartbeat)
    assert (beat.seq, beat.stats.resolution, beat.stats.slots) == (7, "720p", 5)
    ack = struct.pack(">QQ", 7, 123) + b"future"
    assert drain(control(p.HeartbeatAck.TYPE_CODE, ack)) == [
        p.HeartbeatAck(seq=7, server_time_ns=123)
    ]


@pytest.mark.parametrize(("tail", "slots"), [(b"", None), (bytes([255]), None), (bytes([0]), 0)])
def test_heartbeat_slots_are_optional(tail: bytes, slots: int | None) -> None:
    """An older peer's body ends after the resolution; 255 says the peer does not measure."""
    (beat,) = drain(control(p.Heartbeat.TYPE_CODE, heartbeat_body() + tail))
    assert isinstance(beat, p.Heartbeat) and beat.stats.slots == slots


def test_short_heartbeat_ack() -> None:
    body = struct.pack(">Q", 7)
    assert reason_for(control(p.HeartbeatAck.TYPE_CODE, body)) is p.Reason.MALFORMED
