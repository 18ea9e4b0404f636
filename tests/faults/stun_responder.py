"""A STUN binding responder for the lab's "internet", so miniupnpd maps ports there.

miniupnpd (the lab's UPnP gateway, tests/faults/netlab.py) refuses to map ports while
its WAN address is private, as the lab's are (10.77.0.x), unless a STUN check shows
the WAN is not filtered: a 1:1 NAT with nothing blocking. This program answers every
Binding Request (RFC 5389) with the address and port it came from, including the
requests that ask for an answer from another address or port (CHANGE-REQUEST), which
a one-address responder answers from its own: the gateway then concludes its WAN is
open, which in the lab it is. It answers nothing else.

Run in a lab host: `python -m tests.faults.stun_responder --port 3478`; it prints
`ready` once it listens.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import struct

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
MAPPED_ADDRESS = 0x0001
XOR_MAPPED_ADDRESS = 0x0020
HEADER = struct.Struct("!HHI12s")  # type, length, cookie, transaction id
IPV4 = 0x01


def answer(request: bytes, sender: tuple[str, int]) -> bytes | None:
    """The Binding Success response to `request` from `sender` (an IPv4 address), or
    None when it is not a Binding Request."""
    if len(request) < HEADER.size:
        return None
    kind, _length, cookie, transaction = HEADER.unpack_from(request)
    if kind != BINDING_REQUEST or cookie != MAGIC_COOKIE:
        return None
    host, port = sender
    address = int(ipaddress.IPv4Address(host))
    mapped = struct.pack("!HHBBHI", MAPPED_ADDRESS, 8, 0, IPV4, port, address)
    xored = struct.pack(
        "!HHBBHI",
        XOR_MAPPED_ADDRESS,
        8,
        0,
        IPV4,
        port ^ (MAGIC_COOKIE >> 16),
        address ^ MAGIC_COOKIE,
    )
    body = mapped + xored
    return HEADER.pack(BINDING_SUCCESS, len(body), MAGIC_COOKIE, transaction) + body


def main() -> None:
    """Answer Binding Requests on --port until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3478)
    args = parser.parse_args()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", args.port))
        print("ready", flush=True)
        while True:
            request, sender = sock.recvfrom(2048)
            response = answer(request, sender)
            if response is not None:
                sock.sendto(response, sender)


if __name__ == "__main__":
    main()
