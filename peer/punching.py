"""Hole punching: connections that leave from our listen port, so that a router between
us and the world maps them all to one public port.

Two uses:
- the connection to the tracker (`ListenPortDialer.connect_tracker`): the address and
  port the tracker sees it come from are our router's mapping of our listen port,
  which the tracker hands to a peer behind another router;
- a punch (`punch`): parent and child each connect to the other's router at the port
  the tracker saw, from their listen ports, at about the same moment. Each router
  takes the other's SYN as the answer to its own (TCP simultaneous open), and both
  ends get one ordinary connection. A router that maps each destination to another
  port (MASQUERADE --random-fully) would let neither SYN in, so the tracker punches
  only to peers whose router kept their port (tracker/members.py); a punch that fails
  anyway (a firewall that drops every SYN from outside) times out, and the tracker
  does not try that pair again.

Binding a port someone listens on needs SO_REUSEADDR and SO_REUSEPORT on every socket
involved, the listener's too (peer/addresses.py).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import attrs
import trio

# A SYN a router dropped (it came before the other side's left) is sent again after
# 1 s: this covers that, and the wait and an RTT or two besides.
PUNCH_TIMEOUT_S = 3.0
REFUSED_RETRY_S = 0.05  # after a reset, while the other side's SYN is on its way
WILDCARD = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}
# Our half of a hole punch to (host, port) after a delay in seconds (`ListenPortDialer.punch`).
Punch = Callable[[str, int, float], Awaitable[trio.abc.Stream]]


async def connect_from_port(host: str, port: int, local_port: int) -> trio.SocketStream:
    """A TCP connection to host:port that leaves from our port `local_port`.

    Raises OSError when the address does not resolve, the port cannot be shared, or
    the connection fails.
    """
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} has no address")
    family, kind, proto, _, address = infos[0]
    sock = trio.socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        await sock.bind((WILDCARD[family], local_port))
        await sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


class PunchFailed(Exception):
    """A hole punch did not meet; `detail` says how, for people."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def punch(host: str, port: int, local_port: int, delay_s: float) -> trio.SocketStream:
    """Our half of a hole punch: after `delay_s`, connect to host:port from our listen
    port until the other side's half meets it. A router that answers a SYN it has no
    mapping for with a reset (many do; Linux's MASQUERADE behind a DROP does not) only
    says the other side's SYN has not left yet: we try again until the deadline.

    Raises PunchFailed after PUNCH_TIMEOUT_S (`hole punch timed out`), or sooner when
    the connection fails otherwise.
    """
    await trio.sleep(delay_s)
    try:
        with trio.fail_after(PUNCH_TIMEOUT_S):
            while True:
                try:
                    return await connect_from_port(host, port, local_port)
                except ConnectionRefusedError:
                    await trio.sleep(REFUSED_RETRY_S)
    except trio.TooSlowError:
        raise PunchFailed("hole punch timed out") from None
    except OSError as exc:
        raise PunchFailed(f"hole punch failed: {exc.strerror or exc}") from None


@attrs.define
class ListenPortDialer:
    """Our connections that leave from our listen port, and whether the newest to the
    tracker did (its Hello says so: `from_listen_port`)."""

    listen_port: int = 0  # 0: not listening where a router could map it; plain dials
    tracker_from_listen_port: bool = False

    async def connect_tracker(self, host: str, port: int) -> trio.abc.Stream:
        """A connection to the tracker, from our listen port when it can be shared for
        that destination (not while an old connection to it lingers in TIME_WAIT),
        else from any port."""
        self.tracker_from_listen_port = False
        if self.listen_port:
            try:
                stream = await connect_from_port(host, port, self.listen_port)
            except OSError:
                pass  # punching is off for this session; the rest works the same
            else:
                self.tracker_from_listen_port = True
                return stream
        return await trio.open_tcp_stream(host, port)

    async def punch(self, host: str, port: int, delay_s: float) -> trio.SocketStream:
        """Our half of a hole punch to host:port (see `punch`); PunchFailed if not."""
        if not self.listen_port:
            raise PunchFailed("hole punch failed: not listening where a router maps us")
        return await punch(host, port, self.listen_port, delay_s)
