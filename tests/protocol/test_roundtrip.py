"""Every message is the bytes protocol/README.md describes, and survives encode -> decode
however the bytes are chunked."""

from __future__ import annotations

import itertools
import json
import struct

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol as p
from tests.protocol.strategies import STRATEGIES, any_message


def decode_all(data: bytes, cuts: list[int]) -> list[p.Message]:
    """Feed `data` split at `cuts`, then EOF; return every message decoded."""
    decoder = p.MessageDecoder()
    out: list[p.Message] = []
    edges = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(edges):
        decoder.receive_data(data[start:end])
        out.extend(decoder)
    decoder.receive_data(b"")
    assert decoder.next_message() is p.CLOSED
    return out


def test_every_message_type_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(p.MESSAGE_TYPES)


def test_type_codes_are_unique_and_stable() -> None:
    assert len({cls.TYPE_CODE for cls in p.MESSAGE_TYPES}) == len(p.MESSAGE_TYPES)
    assert p.BY_TYPE_CODE[0x50] is p.VideoFrame
    assert p.BY_TYPE_CODE[0x01] is p.Hello


@given(messages=st.lists(any_message, min_size=1, max_size=8), cuts=st.lists(st.integers(0)))
@settings(max_examples=300)
def test_messages_round_trip_in_any_chunking(messages: list[p.Message], cuts: list[int]) -> None:
    data = b"".join(p.encode(m) for m in messages)
    assert decode_all(data, cuts) == messages


@given(message=any_message)
def test_byte_at_a_time_decoding(message: p.Message) -> None:
    data = p.encode(message)
    decoder = p.MessageDecoder()
    got: list[p.Message] = []
    for i in range(len(data)):
        decoder.receive_data(data[i : i + 1])
        got.extend(decoder)
    assert got == [message]
    assert decoder.buffered_bytes == 0


# The type codes as protocol/README.md lists them, written out here rather than read
# from the classes, so a code that moved would be caught.
README_TYPE_CODES: dict[type[p.Message], int] = {
    p.Hello: 0x01, p.Welcome: 0x02, p.Reject: 0x03, p.Error: 0x04, p.Goodbye: 0x05,
    p.Assign: 0x10, p.BackupUpdate: 0x11, p.ParentLost: 0x12, p.ChildDropped: 0x13,
    p.StreamStarted: 0x14, p.StreamEnded: 0x15, p.Waiting: 0x16, p.Reachability: 0x17,
    p.DialChild: 0x18,
    p.PunchChild: 0x19,
    p.Heartbeat: 0x20, p.HeartbeatAck: 0x21, p.StatusRequest: 0x22, p.StatusReply: 0x23,
    p.CheckReachability: 0x24, p.ChatSend: 0x30,
    p.ChatMessage: 0x31, p.ChatHistory: 0x32, p.Join: 0x40, p.Accept: 0x41, p.Ping: 0x42,
    p.Pong: 0x43, p.KeyframeRequest: 0x44, p.Probe: 0x45, p.ProbeReply: 0x46, p.Reverse: 0x47,
    p.UplinkProbe: 0x48, p.VideoFrame: 0x50,
}  # fmt: skip
README_VERSION = 10  # the protocol version protocol/README.md describes
ENVELOPE = struct.Struct(">2sBBBBI")  # magic, version, type, flags, reserved, length
FRAME_HEADER = struct.Struct(">IQQHHHIB")
HEARTBEAT = struct.Struct(">Q7d4QB")
HEARTBEAT_ACK = struct.Struct(">QQ")
SIGNED = 0x01
KEYFRAME = 0x02


def body_as_the_readme_describes(message: p.Message) -> tuple[int, bytes | dict[str, object]]:
    """(flags, body) of `message` by the format's tables: binary bodies as bytes packed here,
    JSON bodies as the object they must parse to."""
    if isinstance(message, p.VideoFrame):
        h = message.header
        head = FRAME_HEADER.pack(
            h.epoch, h.seq, h.capture_ns, h.width, h.height, h.hops, h.path_latency_us, h.codec
        )
        flags = (SIGNED if message.signature else 0) | (KEYFRAME if h.keyframe else 0)
        return flags, head + message.signature + bytes(message.data)
    if isinstance(message, p.Heartbeat):
        s = message.stats
        resolution = s.resolution.encode()
        numbers = (s.fps, s.recv_fps, s.bandwidth_kbps, s.upload_kbps, s.latency_ms, s.rtt_ms)
        return 0, HEARTBEAT.pack(
            message.seq, *numbers, s.loss_pct, s.frames_received, s.frames_lost, s.depth,
            s.children, len(resolution),
        ) + resolution + bytes([255 if s.slots is None else s.slots])  # fmt: skip
    if isinstance(message, p.HeartbeatAck):
        return 0, HEARTBEAT_ACK.pack(message.seq, message.server_time_ns)
    if isinstance(message, p.UplinkProbe):
        return 0, bytes(message.padding_bytes)  # padding: its length is all it says
    return 0, attrs.asdict(message)


@given(message=any_message)
def test_every_message_encodes_to_the_bytes_the_format_describes(message: p.Message) -> None:
    flags, body = body_as_the_readme_describes(message)
    wire = p.encode(message)
    magic, version, code, got_flags, reserved, length = ENVELOPE.unpack_from(wire)
    assert (magic, version, reserved) == (b"SN", README_VERSION, 0)
    assert code == README_TYPE_CODES[type(message)]
    assert got_flags == flags
    assert length == len(wire) - ENVELOPE.size
    payload = wire[ENVELOPE.size :]
    if isinstance(body, bytes):
        assert payload == body
    else:
        assert json.loads(payload.decode("utf-8")) == body, "one UTF-8 JSON object"


@given(message=any_message)
def test_every_message_decodes_from_bytes_built_by_the_format(message: p.Message) -> None:
    flags, body = body_as_the_readme_describes(message)
    # JSON as another implementation might write it: spaced, keys sorted, ASCII escapes.
    payload = body if isinstance(body, bytes) else json.dumps(body, sort_keys=True).encode()
    code = README_TYPE_CODES[type(message)]
    wire = ENVELOPE.pack(b"SN", README_VERSION, code, flags, 0, len(payload)) + payload
    assert decode_all(wire, cuts=[]) == [message]


def test_bytearray_and_memoryview_input_are_copied_not_aliased() -> None:
    data = bytearray(p.encode(p.Goodbye(reason="bye")))
    decoder = p.MessageDecoder()
    decoder.receive_data(data[:5])
    decoder.receive_data(memoryview(data)[5:])
    data[:] = b"\x00" * len(data)
    assert list(decoder) == [p.Goodbye(reason="bye")]
