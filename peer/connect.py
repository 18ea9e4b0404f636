"""Opening a connection to another peer or the tracker, and saying why it failed."""

from __future__ import annotations

import contextlib
import os
import socket

import trio

# The link to a parent carries only our pings, the Join, keyframe requests and the TCP
# acknowledgements of the video coming down: a trickle, every byte of it waited for.
# Marked for low delay, a priority queue sends it ahead of our video to children on a
# saturated uplink: routers by the DSCP, Linux's own qdiscs (pfifo_fast, prio) by the
# socket priority. The parent's pongs ride its video socket and cannot be marked apart.
LOW_DELAY_DSCP = 46  # EF, Expedited Forwarding (RFC 3246)
LOW_DELAY_TOS = LOW_DELAY_DSCP << 2  # the DSCP sits above the two ECN bits of the byte
# TC_PRIO_INTERACTIVE: the highest an unprivileged socket may ask for. Set after the
# TOS, which on Linux resets it (from EF's old TOS bits it would derive a lower one).
LOW_DELAY_SOCKET_PRIORITY = 6


def connect_failure(exc: OSError) -> str:
    """The most specific reason trio's connect error carries (e.g. Connection refused)."""
    cause: BaseException | None = exc.__cause__
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    return exc.strerror or str(exc)


def mark_low_delay(stream: trio.abc.Stream) -> None:
    """Ask for low-delay service on a TCP stream, where the system allows it.

    A refusal (another system, an option it lacks) changes nothing: the link works
    unmarked, so it is not worth a word.
    """
    if not isinstance(stream, trio.SocketStream):
        return  # a memory stream in a test, or a TLS wrapper: no socket of ours to mark
    if stream.socket.family == socket.AF_INET6:
        options = [(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, LOW_DELAY_TOS)]
    else:
        options = [(socket.IPPROTO_IP, socket.IP_TOS, LOW_DELAY_TOS)]
    if hasattr(socket, "SO_PRIORITY"):
        options.append((socket.SOL_SOCKET, socket.SO_PRIORITY, LOW_DELAY_SOCKET_PRIORITY))
    for level, option, value in options:
        with contextlib.suppress(OSError):
            stream.setsockopt(level, option, value)
