"""Addresses as people type and read them, and which of a peer's addresses to hand out.

Pure (no sockets): `parse_address` reads HOST:PORT, [v6]:PORT, a bare IPv6 address,
a name, or PORT alone; `format_address` writes an address back with IPv6 in brackets.
`usable_candidates` and `choose_candidate` are the tracker's rule for where a child
dials its parent: the LAN address when both sit behind the same public address, the
address the tracker saw otherwise, and never a loopback or unspecified address to a
peer on another host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

MAX_PORT = 65535
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(
    text: str, *, default_host: str = "127.0.0.1", default_port: int | None = None
) -> tuple[str, int]:
    """HOST:PORT, [v6]:PORT, PORT, or (with `default_port`) HOST, [v6] or a bare v6.

    Raises ValueError with a message a user can act on.
    """
    text = text.strip()
    problem = f"'{text}' is not HOST:PORT with a port from 0 to {MAX_PORT}"
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"'{text}' is not [IPv6]:PORT")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:  # a bare IPv6 address: there is no port to split off
        host, port_text = text, None
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        host = host or default_host
    elif text.isdigit():
        host, port_text = default_host, text
    else:
        host, port_text = text, None
    if port_text is None:
        if default_port is None or not host:
            raise ValueError(problem)
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= MAX_PORT:
        raise ValueError(problem)
    return host, int(port_text)


def format_address(host: str, port: int) -> str:
    """HOST:PORT, with an IPv6 host in brackets ([::1]:9000)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ip_or_none(text: str) -> IPAddress | None:
    """The IP address `text` spells (an IPv4-mapped v6 address as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def plain_host(text: str) -> str:
    """An address the way we compare and hand it out (::ffff:10.0.0.1 becomes 10.0.0.1)."""
    address = ip_or_none(text)
    return str(address) if address is not None else text


def is_local_only(text: str) -> bool:
    """Whether `text` only means something on the host that says it (loopback, any, link-local)."""
    address = ip_or_none(text)
    return address is not None and (
        address.is_loopback or address.is_unspecified or address.is_link_local
    )


def usable_candidates(addresses: Iterable[str], limit: int) -> list[str]:
    """The addresses a peer reported that another host could dial: IPs only, no
    loopback, unspecified or link-local ones, no repeats, at most `limit`."""
    kept: list[str] = []
    for text in addresses:
        address = ip_or_none(text)
        if address is None or is_local_only(text):
            continue
        host = str(address)
        if host not in kept:
            kept.append(host)
        if len(kept) >= limit:
            break
    return kept


def choose_candidate(
    *,
    parent_seen: str,
    parent_lan: Sequence[str],
    child_seen: str,
    child_lan: Sequence[str],
    advertised: str | None = None,
) -> str:
    """The host a child should dial to reach its parent.

    `*_seen` is the address the tracker saw each connection come from, `*_lan` what the
    peer reported of its own interfaces (already `usable_candidates`), `advertised` the
    parent's --advertise host. Same public address (one host, or one NAT): the parent's
    LAN address on the child's network (or its loopback, when both are this host and
    reached the tracker over it). Different public addresses: the one the tracker saw,
    if it is of the child's family (IPv4 or IPv6) and not local-only; else one of the
    parent's own addresses of the child's family (a tracker on the parent's own host,
    or a child that came over IPv6 to a parent that came over IPv4).
    """
    if advertised is not None:
        return advertised
    if parent_seen == child_seen:
        if is_local_only(parent_seen):
            return parent_seen
        return _same_network(parent_lan, child_lan) or parent_seen
    family = _family(child_seen)
    if not is_local_only(parent_seen) and _family(parent_seen) == family:
        return parent_seen
    for host in parent_lan:
        if _family(host) == family:
            return host
    if not is_local_only(parent_seen):
        return parent_seen
    return parent_lan[0] if parent_lan else parent_seen


def _same_network(parent_lan: Sequence[str], child_lan: Sequence[str]) -> str | None:
    """The parent's address that shares a network with one of the child's (/24, /64)."""
    for host in parent_lan:
        for other in child_lan:
            if _network(host) == _network(other):
                return host
    return None


def _network(host: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    address = ip_or_none(host)
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 64
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _family(host: str) -> int:
    address = ip_or_none(host)
    return address.version if address is not None else 0
