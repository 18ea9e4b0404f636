"""Every limit in protocol/limits.py sits exactly where it says: the limit itself goes
through, one more is refused, whether we build the message or it comes off the wire."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import protocol as p
from protocol.control import MAX_STATUS_PEERS
from protocol.envelope import pack_envelope
from protocol.limits import (
    CHAT_HISTORY_LENGTH,
    MAX_CHAT_HISTORY_PAYLOAD_BYTES,
    MAX_CHILDREN,
    MAX_CONTROL_PAYLOAD_BYTES,
    MAX_FRAME_DIMENSION,
    MAX_FRAME_PAYLOAD_BYTES,
    MAX_HOST_CHARS,
    MAX_NAME_CHARS,
    MAX_PORT,
    MAX_STATUS_PAYLOAD_BYTES,
    MAX_TOKEN_CHARS,
    MAX_WIRE_NAME_CHARS,
    MAX_WIRE_TEXT_CHARS,
    MIN_NAME_CHARS,
    PROTOCOL_VERSION,
    SIGNATURE_BYTES,
)
from protocol.names import name_problem


def decode(data: bytes) -> list[p.Message]:
    """Every message in `data`, which must end at a message boundary."""
    decoder = p.MessageDecoder()
    decoder.receive_data(data)
    messages = list(decoder)
    decoder.receive_data(b"")
    assert decoder.next_message() is p.CLOSED
    return messages


def refusal(data: bytes) -> p.Reason:
    """The reason the decoder refuses `data`."""
    with pytest.raises(p.ProtocolError) as info:
        decode(data)
    return info.value.reason


def hello(**fields: Any) -> p.Hello:
    return p.Hello(
        **{"protocol_version": PROTOCOL_VERSION, "name": "v", "role": "viewer", **fields}
    )


def peer_info(**fields: Any) -> p.PeerInfo:
    defaults: dict[str, Any] = {
        "name": "v", "role": "viewer", "parent": None, "depth": 1, "children": [],
        "max_children": 2, "resolution": "source",
    }  # fmt: skip
    return p.PeerInfo(**{**defaults, **fields})


def status_reply(**fields: Any) -> p.StatusReply:
    defaults = {"source": "cam", "epoch": 1, "peers": [], "max_depth": 0, "source_fanout": 0}
    return p.StatusReply(**{**defaults, **fields})


def line(index: int) -> p.ChatMessage:
    return p.ChatMessage(id=index, sender="bob", time_ns=index, text="hi")


@attrs.frozen
class Bound:
    """A field with a limit: a message built around a value for it, the value at the limit
    and one past it, and where the value sits in the message's JSON body."""

    build: Callable[[Any], p.ControlMessage]
    at_limit: Any
    past_limit: Any
    path: tuple[str | int, ...]


BOUNDS = {
    "peer name": Bound(
        lambda v: hello(name=v), "n" * MAX_WIRE_NAME_CHARS, "n" * (MAX_WIRE_NAME_CHARS + 1),
        ("name",),
    ),
    "listen host": Bound(
        lambda v: hello(listen_host=v), "h" * MAX_HOST_CHARS, "h" * (MAX_HOST_CHARS + 1),
        ("listen_host",),
    ),
    "listen port": Bound(lambda v: hello(listen_port=v), MAX_PORT, MAX_PORT + 1, ("listen_port",)),
    "relay slots": Bound(
        lambda v: hello(max_children=v), MAX_CHILDREN, MAX_CHILDREN + 1, ("max_children",)
    ),
    "join key": Bound(
        lambda v: hello(join_key=v), "k" * MAX_TOKEN_CHARS, "k" * (MAX_TOKEN_CHARS + 1),
        ("join_key",),
    ),
    "admission token": Bound(
        lambda v: p.Join(protocol_version=PROTOCOL_VERSION, name="v", token=v),
        "t" * MAX_TOKEN_CHARS, "t" * (MAX_TOKEN_CHARS + 1), ("token",),
    ),
    "reversal token": Bound(
        lambda v: p.Reverse(parent="r", token=v), "t" * MAX_TOKEN_CHARS,
        "t" * (MAX_TOKEN_CHARS + 1), ("token",),
    ),
    "host of a child to dial": Bound(
        lambda v: p.DialChild(child="v", host=v, port=1, token="t"), "h" * MAX_HOST_CHARS,
        "h" * (MAX_HOST_CHARS + 1), ("host",),
    ),
    "port of a child to dial": Bound(
        lambda v: p.DialChild(child="v", host="h", port=v, token="t"), MAX_PORT, MAX_PORT + 1,
        ("port",),
    ),
    "wait before a hole punch": Bound(
        lambda v: p.PunchChild(child="v", host="h", port=1, delay_ms=v),
        p.limits.MAX_PUNCH_DELAY_MS, p.limits.MAX_PUNCH_DELAY_MS + 1, ("delay_ms",),
    ),
    "chat text": Bound(
        lambda v: p.ChatSend(text=v), "c" * MAX_WIRE_TEXT_CHARS, "c" * (MAX_WIRE_TEXT_CHARS + 1),
        ("text",),
    ),
    "goodbye reason": Bound(
        lambda v: p.Goodbye(reason=v), "r" * MAX_WIRE_TEXT_CHARS,
        "r" * (MAX_WIRE_TEXT_CHARS + 1), ("reason",),
    ),
    "children of a listed peer": Bound(
        lambda v: status_reply(peers=[peer_info(children=v)]),
        [f"c{i}" for i in range(MAX_CHILDREN)], [f"c{i}" for i in range(MAX_CHILDREN + 1)],
        ("peers", 0, "children"),
    ),
    "source fanout": Bound(
        lambda v: status_reply(source_fanout=v), MAX_CHILDREN, MAX_CHILDREN + 1, ("source_fanout",)
    ),
    "chat history": Bound(
        lambda v: p.ChatHistory(messages=v), [line(i) for i in range(CHAT_HISTORY_LENGTH)],
        [line(i) for i in range(CHAT_HISTORY_LENGTH + 1)], ("messages",),
    ),
    "peers in a status reply": Bound(
        lambda v: status_reply(peers=v), [peer_info(name=f"v{i}") for i in range(MAX_STATUS_PEERS)],
        [peer_info(name=f"v{i}") for i in range(MAX_STATUS_PEERS + 1)], ("peers",),
    ),
}  # fmt: skip


def as_json(value: Any) -> Any:
    """A field value as it appears in a JSON body."""
    if isinstance(value, list):
        return [as_json(item) for item in value]
    return attrs.asdict(value) if attrs.has(type(value)) else value


def body_with(message: p.ControlMessage, path: tuple[str | int, ...], value: Any) -> bytes:
    """The wire bytes of `message` with the value at `path` in its JSON body replaced."""
    wire = p.encode(message)
    body = json.loads(wire[p.ENVELOPE_BYTES :])
    holder = body
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = as_json(value)
    edited = json.dumps(body, separators=(",", ":")).encode()
    return pack_envelope(message.TYPE_CODE, 0, len(edited)) + edited


@pytest.mark.parametrize("bound", BOUNDS.values(), ids=BOUNDS.keys())
def test_a_value_at_its_limit_goes_through_and_one_more_is_refused(bound: Bound) -> None:
    at_limit = bound.build(bound.at_limit)
    assert decode(p.encode(at_limit)) == [at_limit], "the limit itself is allowed"
    with pytest.raises(ValueError):
        bound.build(bound.past_limit)
    assert refusal(body_with(at_limit, bound.path, bound.past_limit)) is p.Reason.OUT_OF_RANGE


@pytest.mark.parametrize("field", ["width", "height"])
def test_a_frame_may_be_as_large_as_the_dimension_limit_and_no_larger(field: str) -> None:
    size = {"width": 1, "height": 1, field: MAX_FRAME_DIMENSION}
    header = p.FrameHeader(epoch=1, seq=1, capture_ns=1, width=size["width"], height=size["height"])
    frame = p.VideoFrame(header=header, data=b"\xff\xd8")
    assert decode(p.encode(frame)) == [frame]

    too_large = {**size, field: MAX_FRAME_DIMENSION + 1}
    with pytest.raises(ValueError):
        p.FrameHeader(
            epoch=1, seq=1, capture_ns=1, width=too_large["width"], height=too_large["height"]
        )
    width, height = too_large["width"], too_large["height"]
    body = struct.pack(">IQQHHHIB", 1, 1, 1, width, height, 0, 0, p.Codec.JPEG)
    data = (
        pack_envelope(p.VideoFrame.TYPE_CODE, p.FLAG_KEYFRAME, len(body) + 2) + body + b"\xff\xd8"
    )
    assert refusal(data) is p.Reason.OUT_OF_RANGE


def test_a_signature_has_exactly_its_length() -> None:
    header = p.FrameHeader(epoch=1, seq=1, capture_ns=1, width=2, height=2)
    signed = p.VideoFrame(header=header, data=b"j", signature=b"s" * SIGNATURE_BYTES)
    assert decode(p.encode(signed)) == [signed]
    for length in (SIGNATURE_BYTES - 1, SIGNATURE_BYTES + 1):
        with pytest.raises(ValueError):
            p.VideoFrame(header=header, data=b"j", signature=b"s" * length)


def test_a_frame_payload_may_fill_the_frame_limit_and_not_one_byte_more() -> None:
    header = p.FrameHeader(epoch=1, seq=1, capture_ns=1, width=3840, height=2160)
    room = MAX_FRAME_PAYLOAD_BYTES - p.FRAME_HEADER_BYTES
    largest = p.VideoFrame(header=header, data=b"\xab" * room)
    assert largest.payload_bytes() == MAX_FRAME_PAYLOAD_BYTES
    [decoded] = decode(p.encode(largest))
    assert isinstance(decoded, p.VideoFrame) and decoded.data.nbytes == room

    with pytest.raises(ValueError, match="over the limit"):
        p.encode(p.VideoFrame(header=header, data=b"\xab" * (room + 1)))
    # Refused from the envelope alone: nothing of the payload needs to arrive.
    assert refusal(pack_envelope(p.VideoFrame.TYPE_CODE, 0, MAX_FRAME_PAYLOAD_BYTES + 1)) is (
        p.Reason.TOO_LARGE
    )


PAYLOAD_LIMITS = {
    "control message": (p.Goodbye, MAX_CONTROL_PAYLOAD_BYTES, {"reason": "bye"}),
    "chat history": (p.ChatHistory, MAX_CHAT_HISTORY_PAYLOAD_BYTES, {"messages": []}),
    "status reply": (
        p.StatusReply,
        MAX_STATUS_PAYLOAD_BYTES,
        {"source": None, "epoch": 0, "peers": [], "max_depth": 0, "source_fanout": 0},
    ),
}


def padded_body(fields: dict[str, Any], length: int) -> bytes:
    """A JSON body of exactly `length` bytes: `fields` and an unknown key (ignored) as filler."""
    bare = json.dumps({**fields, "pad": ""}, separators=(",", ":")).encode()
    return json.dumps({**fields, "pad": "x" * (length - len(bare))}, separators=(",", ":")).encode()


@pytest.mark.parametrize(("kind", "limit", "fields"), PAYLOAD_LIMITS.values(), ids=PAYLOAD_LIMITS)
def test_a_body_may_fill_its_payload_limit_and_not_one_byte_more(
    kind: type[p.ControlMessage], limit: int, fields: dict[str, Any]
) -> None:
    body = padded_body(fields, limit)
    assert len(body) == limit
    [message] = decode(pack_envelope(kind.TYPE_CODE, 0, limit) + body)
    assert message == kind(**{k: v for k, v in fields.items()})
    assert refusal(pack_envelope(kind.TYPE_CODE, 0, limit + 1)) is p.Reason.TOO_LARGE


def history_of_body_bytes(length: int) -> p.ChatHistory:
    """A full chat history whose JSON body is exactly `length` bytes long.

    Each line's text is CJK characters (3 bytes in UTF-8, no escaping) and ASCII: the
    body grows by exactly the bytes of the texts, so they can be made to fill it.
    """
    empty = p.ChatHistory(messages=[line(i) for i in range(CHAT_HISTORY_LENGTH)])
    room = length - len(p.encode(empty)) + p.ENVELOPE_BYTES + CHAT_HISTORY_LENGTH * len("hi")
    per_line, extra = divmod(room, CHAT_HISTORY_LENGTH)
    texts = []
    for index in range(CHAT_HISTORY_LENGTH):
        size = per_line + (1 if index < extra else 0)
        wide = max(0, -(-(size - MAX_WIRE_TEXT_CHARS) // 2))  # fewest 3-byte characters
        texts.append("\u4e00" * wide + "a" * (size - 3 * wide))
        assert len(texts[-1]) <= MAX_WIRE_TEXT_CHARS
    return p.ChatHistory(
        messages=[
            p.ChatMessage(id=i, sender="bob", time_ns=i, text=text) for i, text in enumerate(texts)
        ]
    )


def test_encoding_fills_a_payload_limit_and_refuses_one_byte_more() -> None:
    fullest = history_of_body_bytes(MAX_CHAT_HISTORY_PAYLOAD_BYTES)
    wire = p.encode(fullest)
    assert len(wire) == p.ENVELOPE_BYTES + MAX_CHAT_HISTORY_PAYLOAD_BYTES
    assert decode(wire) == [fullest]
    with pytest.raises(ValueError, match="limit"):
        p.encode(history_of_body_bytes(MAX_CHAT_HISTORY_PAYLOAD_BYTES + 1))


def test_the_peer_name_rule_has_its_bounds_where_limits_py_says() -> None:
    assert name_problem("a" * MIN_NAME_CHARS) is None
    assert name_problem("a" * MAX_NAME_CHARS) is None
    assert name_problem("a" * (MIN_NAME_CHARS - 1)) is not None
    assert name_problem("a" * (MAX_NAME_CHARS + 1)) is not None
