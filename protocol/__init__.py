"""StreamNest wire protocol, sans-I/O: bytes in, typed messages out, and back.

Nothing here touches a socket, a thread or trio. See protocol/README.md for the
format and a table of every message.
"""

from protocol.control import (
    ROLES,
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
    ParentOffer,
    PeerInfo,
    PeerStats,
    Reject,
    StatusReply,
    StatusRequest,
    StreamEnded,
    StreamStarted,
    Waiting,
    Welcome,
)
from protocol.decoder import CLOSED, NEED_DATA, MessageDecoder, Sentinel
from protocol.envelope import ENVELOPE_BYTES
from protocol.errors import ProtocolError, Reason
from protocol.frames import (
    FLAG_SIGNED,
    FRAME_HEADER_BYTES,
    FrameHeader,
    VideoFrame,
    frame_wire_parts,
    relay_parts,
)
from protocol.limits import PROTOCOL_VERSION
from protocol.link import Accept, Join, Ping, Pong
from protocol.reasons import DropReason, ErrorCode, LossReason, RejectCode, WaitReason
from protocol.registry import (
    BY_TYPE_CODE,
    CONTROL_TYPES,
    MESSAGE_TYPES,
    ControlMessage,
    Message,
    encode,
)

__all__ = [
    "BY_TYPE_CODE",
    "CLOSED",
    "CONTROL_TYPES",
    "ENVELOPE_BYTES",
    "FLAG_SIGNED",
    "FRAME_HEADER_BYTES",
    "MESSAGE_TYPES",
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "ROLES",
    "Accept",
    "Assign",
    "BackupUpdate",
    "ChatHistory",
    "ChatMessage",
    "ChatSend",
    "ChildDropped",
    "ControlMessage",
    "DropReason",
    "Error",
    "ErrorCode",
    "FrameHeader",
    "Goodbye",
    "Heartbeat",
    "HeartbeatAck",
    "Hello",
    "Join",
    "LossReason",
    "Message",
    "MessageDecoder",
    "ParentLost",
    "ParentOffer",
    "PeerInfo",
    "PeerStats",
    "Ping",
    "Pong",
    "ProtocolError",
    "Reason",
    "Reject",
    "RejectCode",
    "Sentinel",
    "StatusReply",
    "StatusRequest",
    "StreamEnded",
    "StreamStarted",
    "VideoFrame",
    "WaitReason",
    "Waiting",
    "Welcome",
    "encode",
    "frame_wire_parts",
    "relay_parts",
]
