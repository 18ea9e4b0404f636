"""Messages on a peer-to-peer video link (child <-> parent), besides the frames.

A child opens the TCP connection, sends `Join` with the admission token the tracker
gave it (and the last frame it has, when it switches parent mid-stream), and gets
`Accept` (then frames) or `Reject` (then close). Either side may `Ping`; the other
answers `Pong` with the same nonce, so each end measures its RTT. A child that lost part
of an H.264 stream may send `KeyframeRequest`; relays pass it up, merged and
rate-limited, and the source encodes its next frame as a keyframe.

The tracker checks that a peer can be reached the same way a child would: it dials
the peer's listening port and sends `Probe` with a fresh nonce; the peer answers
`ProbeReply` with a proof only it can make (protocol/admission.py `probe_proof`, keyed
by the admission key its Welcome carried), and the connection closes.

Connection reversal: a parent nobody can dial (behind a home router) may still feed a
child that can be dialled. The tracker tells it to (`DialChild`); it connects to the
child's listening port and sends `Reverse` with the token the tracker gave it, minted
with the child's admission key. The child checks it, and from then on the connection
is an ordinary video link: the child sends `Join`, the parent `Accept` and frames.

Uplink probe: a viewer that could relay learns what its uplink carries before anyone
depends on it by sending its parent `UplinkProbe` padding for about a second, once,
while it has no children (peer/uplink_probe.py); the parent reads and discards it, up
to MAX_UPLINK_PROBE_BYTES over the link's life. Its body is `padding_bytes` bytes of
anything, not JSON, so a chunk costs one read and no parse.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from protocol.fields import int_between, list_of, text
from protocol.limits import (
    MAX_CONTROL_PAYLOAD_BYTES,
    MAX_PROBE_PROOFS,
    MAX_TOKEN_CHARS,
    MAX_UPLINK_PROBE_CHUNK_BYTES,
    MAX_WIRE_NAME_CHARS,
)

_U32 = 2**32 - 1
_I64 = 2**63 - 1


@attrs.frozen
class Join:
    """Child -> parent, first message on a video link: admit me with this token."""

    TYPE_CODE: ClassVar[int] = 0x40
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    protocol_version: int = attrs.field(validator=int_between(0, 255))
    name: str = attrs.field(validator=text(MAX_WIRE_NAME_CHARS))
    token: str = attrs.field(validator=text(MAX_TOKEN_CHARS))
    # The newest frame the child already has (seq 0: none): the parent starts after it.
    last_epoch: int = attrs.field(default=0, validator=int_between(0, _U32))
    last_seq: int = attrs.field(default=0, validator=int_between(0, _I64))


@attrs.frozen
class Accept:
    """Parent -> child: admitted; frames follow. Tells the child where it sits."""

    TYPE_CODE: ClassVar[int] = 0x41
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    parent: str = attrs.field(validator=text(MAX_WIRE_NAME_CHARS))
    depth: int = attrs.field(validator=int_between(0, _U32))
    epoch: int = attrs.field(validator=int_between(0, _U32))


@attrs.frozen
class Ping:
    """Either end of a link -> the other: echo this nonce so I can time the round trip."""

    TYPE_CODE: ClassVar[int] = 0x42
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    nonce: int = attrs.field(validator=int_between(0, _I64))
    sent_ns: int = attrs.field(validator=int_between(0, _I64))


@attrs.frozen
class Pong:
    """Answer to a Ping, echoing its nonce and send time unchanged."""

    TYPE_CODE: ClassVar[int] = 0x43
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    nonce: int = attrs.field(validator=int_between(0, _I64))
    echo_ns: int = attrs.field(validator=int_between(0, _I64))


@attrs.frozen
class KeyframeRequest:
    """Child -> parent: I lost part of the stream of `epoch`; a keyframe would restart me."""

    TYPE_CODE: ClassVar[int] = 0x44
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    epoch: int = attrs.field(validator=int_between(0, _U32))


@attrs.frozen
class Probe:
    """Tracker -> a peer's listening port, first on the connection: are you `name`?"""

    TYPE_CODE: ClassVar[int] = 0x45
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    name: str = attrs.field(validator=text(MAX_WIRE_NAME_CHARS))
    nonce: str = attrs.field(validator=text(MAX_TOKEN_CHARS, min_chars=1))


@attrs.frozen
class ProbeReply:
    """Peer -> tracker on a probe connection: HMAC proofs of the nonce (one per admission
    key it holds, newest first; at most MAX_PROBE_PROOFS), then close."""

    TYPE_CODE: ClassVar[int] = 0x46
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    proofs: list[str] = attrs.field(validator=list_of(str, MAX_PROBE_PROOFS))


@attrs.frozen
class Reverse:
    """Parent -> child, first on a connection the parent opened (connection reversal):
    I am `parent`, the tracker sent me (`token`, protocol/admission.py
    `mint_reverse_token`); join me over this connection."""

    TYPE_CODE: ClassVar[int] = 0x47
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    parent: str = attrs.field(validator=text(MAX_WIRE_NAME_CHARS))
    token: str = attrs.field(validator=text(MAX_TOKEN_CHARS))


@attrs.frozen
class UplinkProbe:
    """Child -> parent: `padding_bytes` bytes to discard; the child times how fast its
    uplink delivers them (its binary body is the padding itself)."""

    TYPE_CODE: ClassVar[int] = 0x48
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_UPLINK_PROBE_CHUNK_BYTES

    padding_bytes: int = attrs.field(validator=int_between(0, MAX_UPLINK_PROBE_CHUNK_BYTES))


def encode_uplink_probe(probe: UplinkProbe) -> bytes:
    """The binary body of an UplinkProbe: its padding."""
    return bytes(probe.padding_bytes)


def decode_uplink_probe(body: bytes | memoryview) -> UplinkProbe:
    """An UplinkProbe from its body (any bytes: only their number counts)."""
    return UplinkProbe(padding_bytes=len(body))
