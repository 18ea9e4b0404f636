"""The one table from wire type codes to message classes, and encoding by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol.control import (
    Assign,
    BackupUpdate,
    ChatHistory,
    ChatMessage,
    ChatSend,
    ChildDropped,
    Error,
    Goodbye,
    Heartbeat,
    HeartbeatAck,
    Hello,
    ParentLost,
    Reject,
    StatusReply,
    StatusRequest,
    StreamEnded,
    StreamStarted,
    Waiting,
    Welcome,
)
from protocol.envelope import pack_envelope
from protocol.frames import VideoFrame, frame_wire_parts
from protocol.heartbeat_body import (
    decode_heartbeat,
    decode_heartbeat_ack,
    encode_heartbeat,
    encode_heartbeat_ack,
)
from protocol.json_body import encode_body
from protocol.limits import MAX_FRAME_PAYLOAD_BYTES
from protocol.link import (
    Accept,
    Join,
    KeyframeRequest,
    Ping,
    Pong,
    Probe,
    ProbeReply,
    Reverse,
    UplinkProbe,
    decode_uplink_probe,
    encode_uplink_probe,
)
from protocol.traversal import CheckReachability, DialChild, PunchChild, Reachability

ControlMessage = (
    Hello
    | Welcome
    | Reject
    | Error
    | Goodbye
    | Assign
    | BackupUpdate
    | ParentLost
    | ChildDropped
    | StreamStarted
    | StreamEnded
    | Waiting
    | Heartbeat
    | HeartbeatAck
    | StatusRequest
    | StatusReply
    | ChatSend
    | ChatMessage
    | ChatHistory
    | Join
    | Accept
    | Ping
    | Pong
    | KeyframeRequest
    | Probe
    | ProbeReply
    | Reachability
    | CheckReachability
    | DialChild
    | PunchChild
    | Reverse
    | UplinkProbe
)
Message = ControlMessage | VideoFrame

CONTROL_TYPES: tuple[type[ControlMessage], ...] = (
    Hello,
    Welcome,
    Reject,
    Error,
    Goodbye,
    Assign,
    BackupUpdate,
    ParentLost,
    ChildDropped,
    StreamStarted,
    StreamEnded,
    Waiting,
    Heartbeat,
    HeartbeatAck,
    StatusRequest,
    StatusReply,
    ChatSend,
    ChatMessage,
    ChatHistory,
    Join,
    Accept,
    Ping,
    Pong,
    KeyframeRequest,
    Probe,
    ProbeReply,
    Reachability,
    CheckReachability,
    DialChild,
    PunchChild,
    Reverse,
    UplinkProbe,
)
MESSAGE_TYPES: tuple[type[Message], ...] = (*CONTROL_TYPES, VideoFrame)
# The messages with binary bodies (the hot ones, and probe padding); the rest are JSON.
BINARY_ENCODERS: dict[type[Any], Callable[[Any], bytes]] = {
    Heartbeat: encode_heartbeat,
    HeartbeatAck: encode_heartbeat_ack,
    UplinkProbe: encode_uplink_probe,
}
BINARY_DECODERS: dict[type[Any], Callable[[bytes | memoryview], ControlMessage]] = {
    Heartbeat: decode_heartbeat,
    HeartbeatAck: decode_heartbeat_ack,
    UplinkProbe: decode_uplink_probe,
}
BY_TYPE_CODE: dict[int, type[Message]] = {cls.TYPE_CODE: cls for cls in MESSAGE_TYPES}
assert len(BY_TYPE_CODE) == len(MESSAGE_TYPES), "duplicate type code"


def max_payload_bytes(cls: type[Message]) -> int:
    """The largest payload a message of this class may declare."""
    if cls is VideoFrame:
        return MAX_FRAME_PAYLOAD_BYTES
    limit: int = getattr(cls, "MAX_PAYLOAD_BYTES")  # noqa: B009
    return limit


def encode(message: Message) -> bytes:
    """The complete wire bytes of one message (envelope included).

    Raises ValueError if the encoded payload is larger than its type allows: that is a
    bug or misuse on our side, never something to put on the wire.
    """
    if isinstance(message, VideoFrame):
        head, jpeg = frame_wire_parts(message)
        if message.payload_bytes() > MAX_FRAME_PAYLOAD_BYTES:
            raise ValueError(f"frame payload {message.payload_bytes()} bytes is over the limit")
        return head + jpeg
    binary = BINARY_ENCODERS.get(type(message))
    body = encode_body(message) if binary is None else binary(message)
    limit = max_payload_bytes(type(message))
    if len(body) > limit:
        raise ValueError(f"{type(message).__name__} body is {len(body)} bytes, limit is {limit}")
    return pack_envelope(message.TYPE_CODE, 0, len(body)) + body


def type_name(code: int) -> str:
    """Human name of a type code, for logs."""
    cls: Any = BY_TYPE_CODE.get(code)
    return cls.__name__ if cls is not None else f"0x{code:02x}"
