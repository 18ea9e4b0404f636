"""Control messages between a peer and the tracker, as frozen attrs classes.

Each class names its wire type code and the largest JSON body it may have. Field
validators bound every value; policy (name rules, chat length, rate limits) is the
tracker's to apply, with an `Error` or `Reject` the user can read.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs

from protocol.fields import (
    hex_text,
    int_between,
    list_of,
    non_negative_float,
    one_of,
    optional,
    text,
)
from protocol.limits import (
    CHAT_HISTORY_LENGTH,
    MAX_ADVERTISED_ADDRESSES,
    MAX_CHAT_HISTORY_PAYLOAD_BYTES,
    MAX_CHILDREN,
    MAX_CONTROL_PAYLOAD_BYTES,
    MAX_HOST_CHARS,
    MAX_PORT,
    MAX_PUNCH_DELAY_MS,
    MAX_STATUS_PAYLOAD_BYTES,
    MAX_TOKEN_CHARS,
    MAX_WIRE_NAME_CHARS,
    MAX_WIRE_TEXT_CHARS,
    SIGNATURE_BYTES,
)
from protocol.reasons import (
    DropReason,
    ErrorCode,
    LinkKind,
    LossReason,
    RejectCode,
    WaitReason,
)

# A source or viewer stays in the swarm; an observer only asks (status, one chat line).
STREAMING_ROLES = ("source", "viewer")
ROLES = (*STREAMING_ROLES, "observer")
U32 = 2**32 - 1
I64 = 2**63 - 1
MAX_STATUS_PEERS = 20_000

_name = text(MAX_WIRE_NAME_CHARS)
_host = text(MAX_HOST_CHARS, min_chars=1)
_port = int_between(0, MAX_PORT)
_mapped_port = int_between(1, MAX_PORT)
_token = text(MAX_TOKEN_CHARS)
_stream_key = hex_text(2 * SIGNATURE_BYTES)  # an RSA-2048 modulus
_reason = text(MAX_WIRE_TEXT_CHARS)
_count = int_between(0, I64)
_time_ns = int_between(0, I64)
_depth = int_between(0, U32)


def _code(kind: type[enum.StrEnum]) -> Any:
    """A validator: the value is a member of `kind` (decoding converts the string)."""
    return attrs.validators.instance_of(kind)


@attrs.frozen
class Hello:
    """Peer -> tracker, first message: who I am and how children reach me.

    Children dial `listen_port` at the host the tracker chooses for them
    (protocol/addresses.py): the address it sees this connection come from, or one of
    `addresses` (the peer's own interface addresses) when both sit behind the same
    public address, or `advertise` verbatim when the peer was told one
    (--advertise, for a forwarded port). `mapped_port` is the port our home router
    forwards to `listen_port` (UPnP), which children outside our LAN dial at the
    address the tracker sees us at. `listen_host` is what the listener is bound to
    (`::` for every interface), for people and logs.
    """

    TYPE_CODE: ClassVar[int] = 0x01
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    protocol_version: int = attrs.field(validator=int_between(0, 255))
    name: str = attrs.field(validator=_name)
    role: str = attrs.field(validator=one_of(ROLES))
    listen_host: str = attrs.field(default="127.0.0.1", validator=_host)
    listen_port: int = attrs.field(default=0, validator=_port)
    max_children: int = attrs.field(default=0, validator=int_between(0, MAX_CHILDREN))
    resolution: str = attrs.field(default="source", validator=text(16))
    # Re-registration after a tracker restart: the parent we are still attached to.
    parent: str | None = attrs.field(default=None, validator=optional(_name))
    join_key: str | None = attrs.field(default=None, validator=optional(_token))
    # A source: the Ed25519 public key its frames are signed with (64 hex digits).
    stream_key: str | None = attrs.field(default=None, validator=optional(_stream_key))
    addresses: list[str] = attrs.field(
        factory=list, validator=list_of(str, MAX_ADVERTISED_ADDRESSES)
    )
    advertise: str | None = attrs.field(default=None, validator=optional(_host))
    mapped_port: int | None = attrs.field(default=None, validator=optional(_mapped_port))
    # This connection leaves from `listen_port`, so the port the tracker sees it come
    # from is the one our router maps for our listener: a child behind another router
    # can reach us by hole punching (protocol/traversal.py `PunchChild`).
    from_listen_port: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )


@attrs.frozen
class Welcome:
    """Tracker -> peer: registration accepted, and the terms of the session."""

    TYPE_CODE: ClassVar[int] = 0x02
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    protocol_version: int = attrs.field(validator=int_between(0, 255))
    name: str = attrs.field(validator=_name)
    heartbeat_interval_ms: int = attrs.field(validator=int_between(1, 3_600_000))
    # Secret the peer uses to check the admission tokens its children present.
    admission_key: str = attrs.field(validator=_token)
    source: str | None = attrs.field(default=None, validator=optional(_name))
    epoch: int = attrs.field(default=0, validator=int_between(0, U32))
    # The address the tracker sees the peer's connection come from (STUN's "mapped
    # address"): behind NAT, the router's public one. None when it cannot tell.
    observed_host: str | None = attrs.field(default=None, validator=optional(_host))


@attrs.frozen
class Reject:
    """Either side -> the other, then close: the request cannot be served."""

    TYPE_CODE: ClassVar[int] = 0x03
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    code: RejectCode = attrs.field(validator=_code(RejectCode))
    message: str = attrs.field(validator=_reason)


@attrs.frozen
class Error:
    """Tracker -> peer, connection stays up: one request was refused (chat too long...)."""

    TYPE_CODE: ClassVar[int] = 0x04
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    code: ErrorCode = attrs.field(validator=_code(ErrorCode))
    message: str = attrs.field(validator=_reason)


@attrs.frozen
class Goodbye:
    """Either side -> the other: leaving on purpose; close follows."""

    TYPE_CODE: ClassVar[int] = 0x05
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    reason: str = attrs.field(default="", validator=_reason)


@attrs.frozen
class ParentOffer:
    """A parent a viewer may connect to, with the token that parent will accept."""

    name: str = attrs.field(validator=_name)
    host: str = attrs.field(validator=_host)
    port: int = attrs.field(validator=_port)
    token: str = attrs.field(validator=_token)
    # How the link is made: DIRECT and MAPPED, we dial host:port; REVERSED, the parent
    # cannot be dialled and dials us (DialChild): we wait for its Reverse on our port;
    # PUNCHED, neither can be dialled: we dial host:port from our listen port after
    # `punch_delay_ms` while the parent dials us (PunchChild), and the two meet.
    link: LinkKind = attrs.field(default=LinkKind.DIRECT, validator=_code(LinkKind))
    punch_delay_ms: int = attrs.field(default=0, validator=int_between(0, MAX_PUNCH_DELAY_MS))

    @property
    def reverse(self) -> bool:
        """Whether the parent connects to us rather than we to it."""
        return self.link is LinkKind.REVERSED


@attrs.frozen
class Assign:
    """Tracker -> viewer: your parent now, and a pre-authorised backup for when it dies."""

    TYPE_CODE: ClassVar[int] = 0x10
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    parent: ParentOffer
    depth: int = attrs.field(validator=_depth)
    epoch: int = attrs.field(validator=int_between(0, U32))
    backup: ParentOffer | None = None
    # The source's public key: every frame of this epoch must carry its signature.
    stream_key: str | None = attrs.field(default=None, validator=optional(_stream_key))


@attrs.frozen
class BackupUpdate:
    """Tracker -> viewer: the tree changed; this is your backup parent now (or none)."""

    TYPE_CODE: ClassVar[int] = 0x11
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    backup: ParentOffer | None = None


@attrs.frozen
class ParentLost:
    """Viewer -> tracker: my parent is gone; I switched to `switched_to`, or need one."""

    TYPE_CODE: ClassVar[int] = 0x12
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    parent: str = attrs.field(validator=_name)
    reason: LossReason = attrs.field(validator=_code(LossReason))
    switched_to: str | None = attrs.field(default=None, validator=optional(_name))
    detail: str = attrs.field(default="", validator=_reason)  # for people and logs


@attrs.frozen
class ChildDropped:
    """Parent -> tracker: I cut this child off (stalled, malformed data); re-place it."""

    TYPE_CODE: ClassVar[int] = 0x13
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    child: str = attrs.field(validator=_name)
    reason: DropReason = attrs.field(validator=_code(DropReason))
    detail: str = attrs.field(default="", validator=_reason)  # for people and logs


@attrs.frozen
class StreamStarted:
    """Tracker -> every peer: a source went live (viewers will get an Assign)."""

    TYPE_CODE: ClassVar[int] = 0x14
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    source: str = attrs.field(validator=_name)
    epoch: int = attrs.field(validator=int_between(0, U32))


@attrs.frozen
class StreamEnded:
    """Tracker -> every peer (and parent -> child): the stream is over."""

    TYPE_CODE: ClassVar[int] = 0x15
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    source: str = attrs.field(validator=_name)
    epoch: int = attrs.field(validator=int_between(0, U32))
    reason: str = attrs.field(default="", validator=_reason)


@attrs.frozen
class Waiting:
    """Tracker -> viewer: registered, but there is nothing to attach to yet."""

    TYPE_CODE: ClassVar[int] = 0x16
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    reason: WaitReason = attrs.field(validator=_code(WaitReason))


@attrs.frozen
class PeerStats:
    """The live statistics a peer reports with each heartbeat (see DESIGN.md)."""

    fps: float = attrs.field(default=0.0, validator=non_negative_float)
    recv_fps: float = attrs.field(default=0.0, validator=non_negative_float)
    bandwidth_kbps: float = attrs.field(default=0.0, validator=non_negative_float)
    upload_kbps: float = attrs.field(default=0.0, validator=non_negative_float)
    latency_ms: float = attrs.field(default=0.0, validator=non_negative_float)
    rtt_ms: float = attrs.field(default=0.0, validator=non_negative_float)
    loss_pct: float = attrs.field(default=0.0, validator=non_negative_float)
    frames_received: int = attrs.field(default=0, validator=_count)
    frames_lost: int = attrs.field(default=0, validator=_count)
    depth: int = attrs.field(default=0, validator=_depth)
    children: int = attrs.field(default=0, validator=_count)
    resolution: str = attrs.field(default="source", validator=text(16))
    # The child slots our upload has shown it serves now (peer/capacity.py); None from a
    # peer that does not measure them: the tracker keeps what its Hello said.
    slots: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(int_between(0, MAX_CHILDREN))
    )


@attrs.frozen
class Heartbeat:
    """Peer -> tracker, every second: I am alive, and here is how I am doing."""

    TYPE_CODE: ClassVar[int] = 0x20
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    seq: int = attrs.field(validator=_count)
    stats: PeerStats = attrs.field(factory=PeerStats)


@attrs.frozen
class HeartbeatAck:
    """Tracker -> peer: heartbeat `seq` received (the peer times the round trip)."""

    TYPE_CODE: ClassVar[int] = 0x21
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    seq: int = attrs.field(validator=_count)
    server_time_ns: int = attrs.field(validator=_time_ns)


@attrs.frozen
class StatusRequest:
    """Anyone registered -> tracker: send me a snapshot of the swarm."""

    TYPE_CODE: ClassVar[int] = 0x22
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES


@attrs.frozen
class PeerInfo:
    """One peer as the tracker sees it, inside a StatusReply."""

    name: str = attrs.field(validator=_name)
    role: str = attrs.field(validator=one_of(ROLES))
    parent: str | None = attrs.field(validator=optional(_name))
    depth: int = attrs.field(validator=_depth)
    children: list[str] = attrs.field(validator=list_of(str, MAX_CHILDREN))
    max_children: int = attrs.field(validator=int_between(0, MAX_CHILDREN))
    resolution: str = attrs.field(validator=text(16))
    stats: PeerStats | None = None
    address: str | None = attrs.field(default=None, validator=optional(_reason))  # as seen
    # Whether the tracker could dial it there (None: not checked yet, or checks are off).
    reachable: bool | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(bool))
    )
    # How it reaches its parent (None: no parent).
    link: LinkKind | None = attrs.field(default=None, validator=optional(_code(LinkKind)))
    # How a child behind another router would reach it: DIRECT or MAPPED (it can be
    # dialled), PUNCHED (by hole punching), REVERSED (it dials only children that can
    # be dialled); None: not checked yet, or not in the tree.
    reached_by: LinkKind | None = attrs.field(default=None, validator=optional(_code(LinkKind)))


@attrs.frozen
class StatusReply:
    """Tracker -> asker: the streamer, every peer with its place in the tree, and totals."""

    TYPE_CODE: ClassVar[int] = 0x23
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_STATUS_PAYLOAD_BYTES

    source: str | None = attrs.field(validator=optional(_name))
    epoch: int = attrs.field(validator=int_between(0, U32))
    peers: list[PeerInfo] = attrs.field(validator=list_of(PeerInfo, MAX_STATUS_PEERS))
    max_depth: int = attrs.field(validator=_depth)
    source_fanout: int = attrs.field(validator=int_between(0, MAX_CHILDREN))


@attrs.frozen
class ChatSend:
    """Peer -> tracker: post this text to the chat (the tracker stamps the sender)."""

    TYPE_CODE: ClassVar[int] = 0x30
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    text: str = attrs.field(validator=text(MAX_WIRE_TEXT_CHARS))


@attrs.frozen
class ChatMessage:
    """Tracker -> every peer: one chat line, in the one total order `id` gives."""

    TYPE_CODE: ClassVar[int] = 0x31
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    id: int = attrs.field(validator=_count)
    sender: str = attrs.field(validator=_name)
    time_ns: int = attrs.field(validator=_time_ns)
    text: str = attrs.field(validator=text(MAX_WIRE_TEXT_CHARS))


@attrs.frozen
class ChatHistory:
    """Tracker -> a peer that just joined: the most recent chat lines, oldest first."""

    TYPE_CODE: ClassVar[int] = 0x32
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CHAT_HISTORY_PAYLOAD_BYTES

    messages: list[ChatMessage] = attrs.field(
        factory=list, validator=list_of(ChatMessage, CHAT_HISTORY_LENGTH)
    )
