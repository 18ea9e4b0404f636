"""Every limit on what a peer may send us, in one place.

These bound memory and CPU per connection: a decoder never buffers more than one
message of the largest size its connection accepts, plus one received chunk.
"""

from __future__ import annotations

PROTOCOL_VERSION = 10
MAGIC = b"SN"

# Control messages are small JSON objects; a few list-carrying replies get more room.
MAX_CONTROL_PAYLOAD_BYTES = 64 * 1024
MAX_UPLINK_PROBE_CHUNK_BYTES = 64 * 1024  # one UplinkProbe's padding
MAX_UPLINK_PROBE_BYTES = 32 * 1024 * 1024  # all a child may probe with on one link
MAX_CHAT_HISTORY_PAYLOAD_BYTES = 1024 * 1024
MAX_STATUS_PAYLOAD_BYTES = 4 * 1024 * 1024
# One encoded frame plus its binary header; 8 MiB holds a 4K JPEG at high quality.
MAX_FRAME_PAYLOAD_BYTES = 8 * 1024 * 1024

# Strings on the wire. Policy (for example the 1-32 character rule for peer names, or
# the 500 character rule for chat) is applied by the tracker, which answers with a
# clear error; these only keep hostile input small.
MAX_WIRE_NAME_CHARS = 128
MAX_WIRE_TEXT_CHARS = 4096
MAX_HOST_CHARS = 255
# Interface addresses a peer may list in its Hello (the tracker keeps the dialable ones).
MAX_ADVERTISED_ADDRESSES = 16
# Proofs in a ProbeReply: one per admission key a peer remembers (peer/gate.py keeps 4).
MAX_PROBE_PROOFS = 4
MAX_TOKEN_CHARS = 512
# How long a peer may be told to wait before its half of a hole punch.
MAX_PUNCH_DELAY_MS = 5000

# The peer-name rule shared by the tracker and the command line.
MIN_NAME_CHARS = 1
MAX_NAME_CHARS = 32
# Chat text after control characters are stripped.
MAX_CHAT_CHARS = 500
CHAT_HISTORY_LENGTH = 100

MAX_PORT = 65535
MAX_CHILDREN = 64
MAX_FRAME_DIMENSION = 16384
SIGNATURE_BYTES = 256  # an RSA-2048 signature (protocol/signing.py)
