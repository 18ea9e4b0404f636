"""Where a peer listens for children, and the addresses it tells the tracker about.

By default a peer listens on every interface: one dual-stack socket (`::`, IPv4
peers reach it as ::ffff:a.b.c.d) where the system allows it, else every IPv4
interface. The tracker decides which address a child dials (protocol/addresses.py);
the peer only lists its interface addresses, and `--advertise` overrides the choice
for a forwarded port.
"""

from __future__ import annotations

import ipaddress
import socket

import psutil
import trio

from protocol.addresses import usable_candidates
from protocol.limits import MAX_ADVERTISED_ADDRESSES

ALL_INTERFACES = "::"
IPV4_ANY = "0.0.0.0"


async def open_listener(host: str, port: int) -> trio.SocketListener:
    """One TCP listener on host:port (`::`: dual stack, or 0.0.0.0 without IPv6).

    Raises OSError when the address cannot be bound.
    """
    if host in (ALL_INTERFACES, ""):
        if socket.has_dualstack_ipv6():
            server = socket.create_server(
                (ALL_INTERFACES, port),
                family=socket.AF_INET6,
                dualstack_ipv6=True,
                backlog=socket.SOMAXCONN,
            )
            return trio.SocketListener(trio.socket.from_stdlib_socket(server))
        host = IPV4_ANY
    (listener,) = await trio.open_tcp_listeners(port, host=host)
    return listener


def interface_addresses(bound_host: str) -> list[str]:
    """The addresses a listener bound to `bound_host` answers on that another host could
    dial (no loopback or link-local ones), at most MAX_ADVERTISED_ADDRESSES."""
    if bound_host in (ALL_INTERFACES, "", IPV4_ANY):
        dual = bound_host != IPV4_ANY and socket.has_dualstack_ipv6()  # as open_listener binds
        families = {socket.AF_INET, socket.AF_INET6} if dual else {socket.AF_INET}
        found = [
            entry.address
            for entries in psutil.net_if_addrs().values()
            for entry in entries
            if entry.family in families
        ]
    else:
        try:
            found = [str(ipaddress.ip_address(bound_host))]
        except ValueError:
            found = []  # a name: the address the tracker sees has to do
    return usable_candidates(found, MAX_ADVERTISED_ADDRESSES)
