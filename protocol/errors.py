"""The one error type of the protocol layer.

Anything the other side sends that we cannot accept raises `ProtocolError`, with a
`reason` code saying which rule it broke. Nothing else escapes the decoder: no
IndexError, KeyError, UnicodeDecodeError, json errors or MemoryError.
"""

from __future__ import annotations

import enum


class Reason(enum.Enum):
    """Why a byte stream was refused."""

    BAD_MAGIC = "bad_magic"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    UNEXPECTED_TYPE = "unexpected_type"
    BAD_FLAGS = "bad_flags"
    TOO_LARGE = "too_large"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    OUT_OF_RANGE = "out_of_range"


class ProtocolError(Exception):
    """The other side broke the wire protocol; the connection cannot go on."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
