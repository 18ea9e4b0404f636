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
from typing import Any

import psutil
import trio

from protocol.addresses import usable_candidates
from protocol.limits import MAX_ADVERTISED_ADDRESSES

ALL_INTERFACES = "::"
IPV4_ANY = "0.0.0.0"


async def open_listener(host: str, port: int) -> trio.SocketListener:
    """One TCP listener on host:port (`::`: dual stack, or 0.0.0.0 without IPv6).

    The port is shared (SO_REUSEPORT) with our own connections that leave from it (hole
    punching, peer/punching.py). A port another program holds is still refused: it is
    tried without sharing first.

    Raises OSError when the address cannot be bound.
    """
    address: tuple[Any, ...]
    if host in (ALL_INTERFACES, "") and socket.has_dualstack_ipv6():
        family, address = socket.AF_INET6, (ALL_INTERFACES, port)
    else:
        infos = await trio.socket.getaddrinfo(
            IPV4_ANY if host in (ALL_INTERFACES, "") else host,
            port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
        if not infos:
            raise OSError(f"{host} has no address")
        family, _, _, _, address = infos[0]
    dual = family == socket.AF_INET6 and address[0] == ALL_INTERFACES
    if port:
        _refuse_if_taken(family, address, dual=dual)
    server = socket.create_server(
        address, family=family, dualstack_ipv6=dual, backlog=socket.SOMAXCONN, reuse_port=True
    )
    return trio.SocketListener(trio.socket.from_stdlib_socket(server))


def _refuse_if_taken(family: int, address: tuple[Any, ...], *, dual: bool) -> None:
    """Raise OSError (address in use) when another socket is bound to `address`: a
    sharing listener would otherwise split its connections with it."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        if dual:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        probe.bind(address)


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
