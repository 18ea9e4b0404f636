"""Every reason code that travels between peers and the tracker, defined once.

A code is what the receiver acts on (the tracker distrusts a parent reported as
TAMPERED, shrinks one that dropped a child as OVERLOADED; a child waits for a new key
on BAD_TOKEN); the free-text `message` or `detail` beside it is for people and is never
parsed. Codes are `StrEnum`s, so they travel as their plain string values and compare
equal to them. A code a receiver does not know is a protocol error: both ends of a
session speak the same protocol version, and the version changes with this file.
"""

from __future__ import annotations

import enum


class RejectCode(enum.StrEnum):
    """Why a session (tracker) or a video link (parent) is refused, in a Reject."""

    # Either side.
    UNSUPPORTED_VERSION = "unsupported_version"
    FULL = "full"  # the tracker has max peers / the parent has no free child slot
    BUSY = "busy"  # too many connections registering or joining; retry
    PROTOCOL_ERROR = "protocol_error"
    # The tracker.
    INVALID_NAME = "invalid_name"
    NAME_TAKEN = "name_taken"
    STREAM_LIVE = "stream_live"
    HELLO_TIMEOUT = "hello_timeout"
    EXPECTED_HELLO = "expected_hello"
    UNEXPECTED = "unexpected"
    JOIN_KEY = "join_key"
    # A parent, to a child presenting a token.
    NO_CHILDREN = "no_children"
    TOKEN_USED = "token_used"
    BAD_TOKEN = "bad_token"
    SELF = "self"  # the child dialled the parent's own address: it reached itself


class ErrorCode(enum.StrEnum):
    """Why the tracker refused one request, in an Error (the session goes on)."""

    CHAT_BUSY = "chat_busy"
    CHAT_EMPTY = "chat_empty"
    CHAT_TOO_LONG = "chat_too_long"
    CHAT_RATE_LIMITED = "chat_rate_limited"


class LossReason(enum.StrEnum):
    """Why a viewer lost its parent, in a ParentLost."""

    UNREACHABLE = "unreachable"  # the connection could not be made
    NO_ANSWER = "no_answer"  # connected, but the Join got no Accept in time
    REFUSED = "refused"  # the parent sent a Reject
    CLOSED = "closed"  # the parent closed the link or said Goodbye
    RESET = "reset"
    SILENT = "silent"  # no frame and no pong for the silence limit
    BAD_DATA = "bad_data"  # bytes that break the protocol
    TAMPERED = "tampered"  # frames that fail the source's signature


class DropReason(enum.StrEnum):
    """Why a parent cut a child off, in a ChildDropped (the tracker re-places it)."""

    STALLED = "stalled"  # accepted no bytes for the stall limit
    MISBEHAVED = "misbehaved"  # sent something a child must not send
    OVERLOADED = "overloaded"  # the parent's upload cannot carry it: shrink capacity
    GONE = "gone"  # tracker -> parent: this child is declared gone, let its slot go


class WaitReason(enum.StrEnum):
    """Why a registered viewer has no parent yet, in a Waiting."""

    NO_STREAM = "no_stream"
    STREAM_ENDED = "stream_ended"
    NO_FREE_SLOT = "no_free_slot"
    # Slots are free, but only for viewers the tracker has dialled back (connection
    # reversal): this one's check is still running.
    CHECKING = "checking_reachability"


class LinkKind(enum.StrEnum):
    """How a child reaches its parent, in a ParentOffer (and the tracker's status)."""

    DIRECT = "direct"  # the child dials the parent's own address (public, or one LAN)
    MAPPED = "mapped"  # the child dials a port the parent's home router forwards (UPnP)
    # The parent cannot be dialled: it dials the child instead (DialChild, Reverse).
    REVERSED = "reversed"
    # Neither can be dialled: both connect to each other at once through their routers
    # (TCP simultaneous open, PunchChild).
    PUNCHED = "punched"
