"""MessageDecoder: feed it bytes in any chunking, pull typed messages out.

Modelled on h11's Connection: `receive_data(chunk)` then call `next_message()` until it
returns NEED_DATA. `receive_data(b"")` means the other side closed; after that
`next_message()` returns CLOSED at a message boundary, or raises ProtocolError if the
stream stopped mid-message.

Plan and limits: received chunks are kept as a queue of views with a running byte
count, so no byte is scanned twice and the work is O(n) in the bytes received. The
envelope's length field is checked against the limit for its type *before* any of the
payload is waited for, and nothing is ever allocated from that length: the buffer
holds only bytes that actually arrived. Each payload byte is copied once, out of the
received chunks into the message, and not at all when the message arrived in one chunk
(it is then a view of that chunk).
The caller keeps memory bounded by draining messages before feeding more data.

Once a ProtocolError is raised the decoder is broken and raises it again: the byte
stream cannot be resynchronised, so the connection must be closed.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable

from protocol.envelope import ENVELOPE_BYTES, Envelope, parse_envelope
from protocol.errors import ProtocolError, Reason
from protocol.frames import VideoFrame, decode_frame
from protocol.json_body import decode_body
from protocol.limits import MAX_FRAME_PAYLOAD_BYTES
from protocol.registry import BINARY_DECODERS, BY_TYPE_CODE, Message, max_payload_bytes, type_name


class Sentinel(enum.Enum):
    """Non-message results of `next_message`."""

    NEED_DATA = "need_data"
    CLOSED = "closed"


NEED_DATA = Sentinel.NEED_DATA
CLOSED = Sentinel.CLOSED


class MessageDecoder:
    """Incremental decoder for one direction of one connection."""

    def __init__(
        self,
        *,
        accept: Iterable[type[Message]] | None = None,
        max_frame_payload_bytes: int = MAX_FRAME_PAYLOAD_BYTES,
    ) -> None:
        """`accept`: the message classes this side expects; anything else is refused."""
        self._accept = frozenset(accept) if accept is not None else None
        self._max_frame_payload_bytes = max_frame_payload_bytes
        self._chunks: deque[memoryview] = deque()
        self._buffered = 0
        self._envelope: Envelope | None = None
        self._eof = False
        self._error: ProtocolError | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as messages."""
        return self._buffered

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes; an empty chunk means the other side closed."""
        if self._eof:
            raise RuntimeError("receive_data after end of stream")
        if not data:
            self._eof = True
            return
        owned = data if isinstance(data, bytes) else bytes(data)
        self._chunks.append(memoryview(owned))
        self._buffered += len(owned)

    def next_message(self) -> Message | Sentinel:
        """The next complete message, NEED_DATA, or CLOSED; raises ProtocolError."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._error = exc
            raise

    def __iter__(self) -> MessageDecoder:
        return self

    def __next__(self) -> Message:
        """Iterate over the complete messages buffered now."""
        message = self.next_message()
        if isinstance(message, Sentinel):
            raise StopIteration
        return message

    def _next(self) -> Message | Sentinel:
        if self._envelope is None:
            if self._buffered < ENVELOPE_BYTES:
                return self._starved()
            self._envelope = self._check(parse_envelope(self._take(ENVELOPE_BYTES)))
        envelope = self._envelope
        if self._buffered < envelope.length:
            return self._starved()
        payload = self._take(envelope.length)
        self._envelope = None
        cls = BY_TYPE_CODE[envelope.type_code]
        if cls is VideoFrame:
            return decode_frame(envelope.flags, payload)
        binary = BINARY_DECODERS.get(cls)
        if binary is not None:
            return binary(payload)
        return decode_body(cls, payload)

    def _check(self, envelope: Envelope) -> Envelope:
        cls = BY_TYPE_CODE.get(envelope.type_code)
        if cls is None:
            raise ProtocolError(Reason.UNKNOWN_TYPE, f"type code 0x{envelope.type_code:02x}")
        if self._accept is not None and cls not in self._accept:
            raise ProtocolError(
                Reason.UNEXPECTED_TYPE, f"{type_name(envelope.type_code)} is not expected here"
            )
        if cls is VideoFrame:
            limit = self._max_frame_payload_bytes
        else:
            limit = max_payload_bytes(cls)
            if envelope.flags:
                raise ProtocolError(
                    Reason.BAD_FLAGS, f"{cls.__name__} has flags 0x{envelope.flags:02x}"
                )
        if envelope.length > limit:
            raise ProtocolError(
                Reason.TOO_LARGE,
                f"{cls.__name__} declares {envelope.length} bytes, limit is {limit}",
            )
        return envelope

    def _starved(self) -> Sentinel:
        if not self._eof:
            return NEED_DATA
        if self._envelope is None and self._buffered == 0:
            return CLOSED
        raise ProtocolError(Reason.TRUNCATED, "connection closed in the middle of a message")

    def _take(self, count: int) -> memoryview:
        """Remove and return exactly `count` buffered bytes (count <= buffered).

        Bytes that arrived in one chunk come back as a view of that chunk (no copy);
        bytes spread over several chunks are joined once.
        """
        self._buffered -= count
        if count == 0:
            return memoryview(b"")
        first = self._chunks[0]
        if len(first) >= count:
            if len(first) == count:
                self._chunks.popleft()
                return first
            self._chunks[0] = first[count:]
            return first[:count]
        parts: list[memoryview] = []
        missing = count
        while missing:
            chunk = self._chunks.popleft()
            if len(chunk) > missing:
                parts.append(chunk[:missing])
                self._chunks.appendleft(chunk[missing:])
                break
            parts.append(chunk)
            missing -= len(chunk)
        return memoryview(b"".join(parts))
