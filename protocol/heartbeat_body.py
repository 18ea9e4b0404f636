"""Fixed binary bodies for Heartbeat and HeartbeatAck, the two hot control messages.

Every peer sends a Heartbeat each second and gets a HeartbeatAck back, so at thousands
of peers these two are nearly all the tracker's traffic. They use a fixed struct
instead of JSON: parsing is one `unpack`, about 1/20 of the JSON path. Every other
control message stays JSON (see protocol/json_body.py).

Heartbeat body, big-endian (104 bytes for "source"):

    u64 seq
    f64 fps, recv_fps, bandwidth_kbps, upload_kbps, latency_ms, rtt_ms, loss_pct
    u64 frames_received, frames_lost, depth, children
    u8  n, then n bytes of UTF-8: resolution
    u8  slots (the child slots the peer's upload serves now; 255: not measured)

HeartbeatAck body: u64 seq, u64 server_time_ns.

A body that ends after the resolution has no slots (an older peer's). Bytes after
these fields are ignored (room for fields a newer peer may append). Values
go through the same attrs validators as every message (finite, non-negative, in range),
so a hostile body raises ProtocolError like any other.
"""

from __future__ import annotations

import struct

from protocol.control import Heartbeat, HeartbeatAck, PeerStats
from protocol.errors import ProtocolError, Reason

_HEARTBEAT = struct.Struct(">Q7d4QB")
_SLOTS = struct.Struct(">B")
NO_SLOTS = 255
_ACK = struct.Struct(">QQ")


def encode_heartbeat(beat: Heartbeat) -> bytes:
    """The binary body of a Heartbeat."""
    stats = beat.stats
    resolution = stats.resolution.encode("utf-8")
    return (
        _HEARTBEAT.pack(
            beat.seq,
            stats.fps,
            stats.recv_fps,
            stats.bandwidth_kbps,
            stats.upload_kbps,
            stats.latency_ms,
            stats.rtt_ms,
            stats.loss_pct,
            stats.frames_received,
            stats.frames_lost,
            stats.depth,
            stats.children,
            len(resolution),
        )
        + resolution
        + _SLOTS.pack(NO_SLOTS if stats.slots is None else stats.slots)
    )


def decode_heartbeat(payload: bytes | memoryview) -> Heartbeat:
    """Parse a Heartbeat body, or raise ProtocolError."""
    if len(payload) < _HEARTBEAT.size:
        raise ProtocolError(
            Reason.MALFORMED, f"Heartbeat body has {len(payload)} bytes, needs {_HEARTBEAT.size}"
        )
    (seq, fps, recv_fps, bandwidth, upload, latency, rtt, loss, received, lost, depth, children,
     length) = _HEARTBEAT.unpack_from(payload)  # fmt: skip
    end = _HEARTBEAT.size + length
    if len(payload) < end:
        raise ProtocolError(Reason.MALFORMED, "Heartbeat resolution runs past the body")
    slots: int | None = None
    if len(payload) >= end + _SLOTS.size:
        (slots,) = _SLOTS.unpack_from(payload, end)
        slots = None if slots == NO_SLOTS else slots
    try:
        resolution = str(payload[_HEARTBEAT.size : end], "utf-8")
        stats = PeerStats(
            fps=fps,
            recv_fps=recv_fps,
            bandwidth_kbps=bandwidth,
            upload_kbps=upload,
            latency_ms=latency,
            rtt_ms=rtt,
            loss_pct=loss,
            frames_received=received,
            frames_lost=lost,
            depth=depth,
            children=children,
            resolution=resolution,
            slots=slots,
        )
        return Heartbeat(seq=seq, stats=stats)
    except UnicodeDecodeError:
        raise ProtocolError(Reason.MALFORMED, "Heartbeat resolution is not UTF-8") from None
    except ValueError as exc:
        raise ProtocolError(Reason.OUT_OF_RANGE, f"Heartbeat: {exc}") from None


def encode_heartbeat_ack(ack: HeartbeatAck) -> bytes:
    """The binary body of a HeartbeatAck."""
    return _ACK.pack(ack.seq, ack.server_time_ns)


def decode_heartbeat_ack(payload: bytes | memoryview) -> HeartbeatAck:
    """Parse a HeartbeatAck body, or raise ProtocolError."""
    if len(payload) < _ACK.size:
        raise ProtocolError(
            Reason.MALFORMED, f"HeartbeatAck body has {len(payload)} bytes, needs {_ACK.size}"
        )
    seq, server_time_ns = _ACK.unpack_from(payload)
    try:
        return HeartbeatAck(seq=seq, server_time_ns=server_time_ns)
    except ValueError as exc:
        raise ProtocolError(Reason.OUT_OF_RANGE, f"HeartbeatAck: {exc}") from None
