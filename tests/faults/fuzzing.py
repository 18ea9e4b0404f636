"""Hostile clients for fuzz tests: what they send (hypothesis strategies) and how.

The inputs are real protocol messages (tests/protocol/strategies.py), the same
messages mutated (a byte flipped, cut short, a length, version, type or flag changed,
a JSON field replaced by a value of another type), hand-made envelopes and raw bytes.
A session is a short conversation on one TCP connection: optionally a proper opening
(a Hello to the tracker; a Join to a peer, with a token the tracker really issued for
it when `TokenSource` is given), then a few such chunks, then a close (FIN or RST).

Sessions use blocking sockets with timeouts, so hypothesis can drive them from a worker
thread. Everything the server answers must decode cleanly: a server that answers
garbage with garbage fails the test.
"""

from __future__ import annotations

import collections
import json
import socket
import struct
import time
from typing import Any

import attrs
from hypothesis import strategies as st

import protocol as p
from protocol.limits import MAGIC
from tests.protocol.strategies import STRATEGIES, any_message

CONNECT_TIMEOUT_S = 2.0
IDLE_S = 0.08  # stop reading after this long without a byte
SESSION_LIMIT_S = 2.0  # never read for longer than this
ENVELOPE = struct.Struct(">2sBBBBI")

TRACKER_TO_PEER = (
    p.Welcome, p.Reject, p.Error, p.Goodbye, p.Assign, p.BackupUpdate, p.StreamStarted,
    p.StreamEnded, p.Waiting, p.HeartbeatAck, p.StatusReply, p.ChatMessage, p.ChatHistory,
    p.Reachability,
)  # fmt: skip
PEER_TO_TRACKER = (
    p.Hello, p.Heartbeat, p.ChatSend, p.StatusRequest, p.ParentLost, p.ChildDropped, p.Goodbye,
    p.CheckReachability,
)  # fmt: skip
PARENT_TO_CHILD = (
    p.Accept, p.Reject, p.ProbeReply, p.VideoFrame, p.Ping, p.Pong, p.StreamEnded, p.Goodbye,
)  # fmt: skip
CHILD_TO_PARENT = (p.Join, p.Probe, p.Ping, p.Pong, p.Goodbye)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def messages_of(kinds: tuple[type[p.Message], ...]) -> st.SearchStrategy[p.Message]:
    """Valid messages of the given kinds (three draws in four), or of any kind."""
    choices: list[type[p.Message] | None] = [*kinds, *kinds, *kinds, None]
    return st.sampled_from(choices).flatmap(
        lambda kind: any_message if kind is None else STRATEGIES[kind]
    )


def envelope(type_code: int, payload: bytes, **fields: int) -> bytes:
    """An envelope with the given payload; `fields` override version, flags, length."""
    return (
        ENVELOPE.pack(
            MAGIC,
            fields.get("version", p.PROTOCOL_VERSION),
            type_code,
            fields.get("flags", 0),
            fields.get("reserved", 0),
            fields.get("length", len(payload)),
        )
        + payload
    )


@st.composite
def mutated(draw: st.DrawFn, messages: st.SearchStrategy[p.Message]) -> bytes:
    """A valid message, damaged in one way."""
    data = bytearray(p.encode(draw(messages)))
    how = draw(
        st.sampled_from(["flip", "cut", "extend", "length", "version", "type", "flags", "json"])
    )
    if how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    elif how == "cut":
        del data[draw(st.integers(1, len(data))) :]
    elif how == "extend":
        data += draw(st.binary(min_size=1, max_size=32))
    elif how == "length":
        data[6:10] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    elif how == "version":
        data[2] = draw(st.integers(0, 255))
    elif how == "type":
        data[3] = draw(st.integers(0, 255))
    elif how == "flags":
        data[4] = draw(st.integers(1, 255))
    else:
        return draw(json_field_swapped(bytes(data)))
    return bytes(data)


@st.composite
def json_field_swapped(draw: st.DrawFn, data: bytes) -> bytes:
    """For a JSON-bodied message: one field replaced (or added) with any JSON value."""
    try:
        body = json.loads(data[10:])
    except (ValueError, UnicodeDecodeError):
        return data  # a binary body (frames, heartbeats)
    if not isinstance(body, dict):
        return data
    keys: list[str] = sorted(body)
    known = bool(keys) and draw(st.booleans())
    key = draw(st.sampled_from(keys)) if known else draw(st.text(max_size=8))
    body[key] = draw(json_values)
    payload = json.dumps(body).encode()
    return envelope(data[3], payload)


def raw_envelopes() -> st.SearchStrategy[bytes]:
    """Hand-made envelopes: any type code, flags and declared length, a short payload."""
    return st.builds(
        lambda code, flags, payload, declared: envelope(
            code, payload, flags=flags, length=declared if declared is not None else len(payload)
        ),
        st.integers(0, 255),
        st.sampled_from([0, 0, 0, 1, 2, 0x80]),
        st.binary(max_size=48),
        st.none() | st.integers(0, 2**32 - 1),
    )


def chunks(kinds: tuple[type[p.Message], ...]) -> st.SearchStrategy[bytes]:
    """One piece of a hostile conversation with a server expecting `kinds`."""
    return st.one_of(
        messages_of(kinds).map(p.encode),
        mutated(messages_of(kinds)),
        raw_envelopes(),
        st.binary(min_size=1, max_size=64),
    )


fuzz_names = st.integers(0, 99_999).map(lambda n: f"fz{n}")


@st.composite
def hellos(draw: st.DrawFn) -> p.Hello:
    """A Hello a tracker may accept: a fresh name, any role, odd but valid fields."""
    return p.Hello(
        protocol_version=draw(st.sampled_from([p.PROTOCOL_VERSION, p.PROTOCOL_VERSION, 1, 3])),
        name=draw(fuzz_names),
        role=draw(st.sampled_from(["viewer", "viewer", "observer", "source"])),
        listen_host=draw(st.sampled_from(["127.0.0.1", "localhost", "::1", "nowhere.invalid"])),
        listen_port=draw(st.integers(0, 65535)),
        max_children=draw(st.integers(0, 16)),
        parent=draw(st.none() | st.sampled_from(["relay", "cam", "viewer", "nobody"])),
    )


@attrs.define
class Session:
    """One hostile conversation: an opening, chunks, and how the connection ends."""

    opening: p.Message | None
    chunks: list[bytes]
    reset: bool


def tracker_sessions() -> st.SearchStrategy[Session]:
    """Conversations with a tracker."""
    return st.builds(
        Session,
        opening=st.none() | hellos(),
        chunks=st.lists(chunks(PEER_TO_TRACKER), max_size=6),
        reset=st.booleans(),
    )


def peer_sessions() -> st.SearchStrategy[Session]:
    """Conversations with a peer's child port (opening: a Join; its token may be real)."""
    joins = st.builds(
        p.Join,
        protocol_version=st.sampled_from([p.PROTOCOL_VERSION, p.PROTOCOL_VERSION, 1]),
        name=fuzz_names,
        token=st.text(max_size=40),
    )
    return st.builds(
        Session,
        opening=st.none() | joins,
        chunks=st.lists(chunks(CHILD_TO_PARENT), max_size=6),
        reset=st.booleans(),
    )


@attrs.define
class Tally:
    """What the servers did with the sessions (for the test's report)."""

    counts: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def add(self, outcome: str) -> None:
        """Count one session's outcome."""
        self.counts[outcome] += 1

    def __str__(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))


def converse(
    address: tuple[str, int],
    data: list[bytes],
    accept: tuple[type[p.Message], ...],
    *,
    reset: bool,
    limit_s: float = SESSION_LIMIT_S,
) -> tuple[list[p.Message], bool]:
    """Send `data`, read the answers; (decoded answers, whether the server closed).

    Raises AssertionError if the server's answer is not valid protocol.
    """
    sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT_S)
    try:
        for chunk in data:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # it closed on us: fine, read what it said
        return read_answers(sock, accept, limit_s=limit_s)
    finally:
        close(sock, reset=reset)


def read_answers(
    sock: socket.socket, accept: tuple[type[p.Message], ...], *, limit_s: float = SESSION_LIMIT_S
) -> tuple[list[p.Message], bool]:
    """Read until the server closes, stays quiet for IDLE_S, or `limit_s` passes.

    Everything it sent must decode.
    """
    decoder = p.MessageDecoder(accept=accept)
    answers: list[p.Message] = []
    closed = False
    give_up = time.monotonic() + limit_s
    sock.settimeout(IDLE_S)
    while time.monotonic() < give_up:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:  # reset: it closed with our bytes unread
            data = b""
        decoder.receive_data(data)
        try:
            while True:
                message = decoder.next_message()
                if message is p.NEED_DATA:
                    break
                if message is p.CLOSED:
                    closed = True
                    break
                assert not isinstance(message, p.Sentinel)
                answers.append(message)
        except p.ProtocolError as exc:
            if exc.reason is p.Reason.TRUNCATED and not data:
                closed = True  # cut off by a reset in the middle of a frame: not its fault
            else:
                raise AssertionError(f"the server sent invalid protocol: {exc}") from None
        if closed:
            break
    return answers, closed


def close(sock: socket.socket, *, reset: bool) -> None:
    """Close with a FIN, or with an RST (linger 0) when `reset`."""
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def outcome(answers: list[p.Message], closed: bool) -> str:
    """A one-word summary of how the server answered a session."""
    kinds = {type(a) for a in answers}
    if p.Reject in kinds:
        return "rejected"
    if closed:
        return "closed"
    return "answered" if answers else "kept-open"


def welcome_reply(answers: list[p.Message]) -> Any:
    """The first Welcome, Accept or Reject among `answers` (the answer to an opening)."""
    return next((a for a in answers if isinstance(a, p.Welcome | p.Accept | p.Reject)), None)


def admitted(
    tracker: tuple[str, int], name: str, within_s: float = SESSION_LIMIT_S
) -> tuple[socket.socket, p.ParentOffer] | None:
    """Register `name` as a leaf viewer and wait for its placement.

    Returns the open tracker connection (close it when done: the place is freed) and
    the parent offer, whose token the parent will accept; None if no place came in time.
    """
    sock = socket.create_connection(tracker, timeout=CONNECT_TIMEOUT_S)
    hello = p.Hello(
        protocol_version=p.PROTOCOL_VERSION, name=name, role="viewer",
        listen_host="127.0.0.1", listen_port=9, max_children=0,
    )  # fmt: skip
    decoder = p.MessageDecoder(accept=TRACKER_TO_PEER)
    try:
        sock.sendall(p.encode(hello))
        give_up = time.monotonic() + within_s
        while time.monotonic() < give_up:
            sock.settimeout(max(0.01, give_up - time.monotonic()))
            data = sock.recv(65536)
            decoder.receive_data(data)
            while True:
                message = decoder.next_message()
                if isinstance(message, p.Assign):
                    return sock, message.parent
                if message is p.NEED_DATA:
                    break
                if message is p.CLOSED or isinstance(message, p.Reject):
                    raise OSError("the tracker refused the fake viewer")
    except OSError:
        pass
    close(sock, reset=False)
    return None
