"""Control messages for getting through home routers: the tracker's reachability
checks, connection reversal and hole punching (protocol/link.py has what the two
peers then say to each other)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from protocol.fields import int_between, optional, text
from protocol.limits import (
    MAX_CONTROL_PAYLOAD_BYTES,
    MAX_HOST_CHARS,
    MAX_PORT,
    MAX_PUNCH_DELAY_MS,
    MAX_TOKEN_CHARS,
    MAX_WIRE_NAME_CHARS,
    MAX_WIRE_TEXT_CHARS,
)

_name = text(MAX_WIRE_NAME_CHARS)
_host = text(MAX_HOST_CHARS, min_chars=1)
_port = int_between(0, MAX_PORT)
_token = text(MAX_TOKEN_CHARS)
_reason = text(MAX_WIRE_TEXT_CHARS)


@attrs.frozen
class Reachability:
    """Tracker -> peer, after each check: whether it dialled us at `address` and we
    answered. Unreachable peers take no children until a check succeeds."""

    TYPE_CODE: ClassVar[int] = 0x17
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    reachable: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    address: str = attrs.field(validator=_reason)  # HOST:PORT as dialled, for people
    detail: str = attrs.field(default="", validator=_reason)  # why not, for people


@attrs.frozen
class DialChild:
    """Tracker -> a parent nobody can dial: connect to this child yourself (connection
    reversal), open with `Reverse(token)`, then serve it as if it had connected to you."""

    TYPE_CODE: ClassVar[int] = 0x18
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    child: str = attrs.field(validator=_name)
    host: str = attrs.field(validator=_host)
    port: int = attrs.field(validator=_port)
    # Minted with the child's admission key (protocol/admission.py `mint_reverse_token`).
    token: str = attrs.field(validator=_token)


@attrs.frozen
class PunchChild:
    """Tracker -> a parent nobody can dial, for a child nobody can dial either (hole
    punching): after `delay_ms`, connect from your listen port to the child's router at
    host:port while the child connects to yours; once the two connections meet, serve
    the child as if it had connected to you (it still presents its Join token)."""

    TYPE_CODE: ClassVar[int] = 0x19
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    child: str = attrs.field(validator=_name)
    host: str = attrs.field(validator=_host)
    port: int = attrs.field(validator=int_between(1, MAX_PORT))
    delay_ms: int = attrs.field(validator=int_between(0, MAX_PUNCH_DELAY_MS))


@attrs.frozen
class CheckReachability:
    """Peer -> tracker: dial me again (a port was opened or mapped since the last check).

    `mapped_port`: our home router now forwards this port to our listener (UPnP);
    0: it no longer does; None: no change.
    """

    TYPE_CODE: ClassVar[int] = 0x24
    MAX_PAYLOAD_BYTES: ClassVar[int] = MAX_CONTROL_PAYLOAD_BYTES

    mapped_port: int | None = attrs.field(default=None, validator=optional(_port))
