"""What the kernel says limited a TCP connection's sending (Linux `TCP_INFO`).

A child that starves because it reads too slowly (its own CPU, its own downlink) and a
child that starves because our uplink is too slow look alike from the queues: in both
our writes stop being taken. The kernel tells them apart: it counts the time a
connection could not send because the *receiver's window* was full (the child is not
reading) separately from its busy time. struct tcp_info (linux/tcp.h) has carried
`tcpi_busy_time`, `tcpi_rwnd_limited` and `tcpi_sndbuf_limited` (µs, u64) at byte 168
since Linux 4.10, and `tcpi_bytes_acked` (u64) at byte 120 since Linux 4.1 (the
uplink probe times it, peer/uplink_probe.py); on other systems, or older kernels,
`sending_limits` and `bytes_acked` say None.
"""

from __future__ import annotations

import socket
import struct

import attrs
import trio

_LIMITS = struct.Struct("=QQQ")  # busy, receive-window limited, send-buffer limited (µs)
_LIMITS_OFFSET = 168
_INFO_BYTES = _LIMITS_OFFSET + _LIMITS.size
_ACKED = struct.Struct("=Q")
_ACKED_OFFSET = 120
US_PER_S = 1e6


@attrs.frozen
class SendingLimits:
    """Cumulative seconds a connection spent sending, and held back by whom."""

    busy_s: float
    receiver_limited_s: float  # the peer's receive window was full: it does not read
    sndbuf_limited_s: float  # our own send buffer was the limit


def sending_limits(stream: object) -> SendingLimits | None:
    """The kernel's counters for a trio TCP stream; None where there are none."""
    raw = _tcp_info(stream)
    if raw is None or len(raw) < _INFO_BYTES:
        return None
    busy, receiver, sndbuf = _LIMITS.unpack_from(raw, _LIMITS_OFFSET)
    return SendingLimits(busy / US_PER_S, receiver / US_PER_S, sndbuf / US_PER_S)


def bytes_acked(stream: object) -> int | None:
    """The bytes the other end has acknowledged on a trio TCP stream so far; None where
    the kernel does not say."""
    raw = _tcp_info(stream)
    if raw is None or len(raw) < _ACKED_OFFSET + _ACKED.size:
        return None
    (acked,) = _ACKED.unpack_from(raw, _ACKED_OFFSET)
    return int(acked)


def _tcp_info(stream: object) -> bytes | None:
    if type(stream) is not trio.SocketStream or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        raw: bytes = stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _INFO_BYTES)
    except OSError:
        return None
    return raw
