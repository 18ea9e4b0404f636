"""The reachability probe on the wire: dial a peer's listening port and ask for its proof.

One connection per probe, to an IP address the Room chose (the peer's own connection
came from it, tracker/reachability.py), so there is no name to resolve. Whatever goes
wrong (refused, silent, the wrong program, garbage) is one short reason for people;
the proof itself is checked by the Room, which holds the admission key.
"""

from __future__ import annotations

import contextlib
import os
import socket

import trio

import protocol as p
from protocol.addresses import ip_or_none
from tracker.reachability import ProbeAnswer
from tracker.session import receive_message

FROM_PROBED = (p.ProbeReply, p.Reject)


async def run_probe(host: str, port: int, name: str, nonce: str, timeout_s: float) -> ProbeAnswer:
    """Dial host:port, send a Probe for `name` with `nonce`, and read the answer."""
    address = ip_or_none(host)
    if address is None:
        return ProbeAnswer(failure=f"{host!r} is not an IP address")
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    with trio.move_on_after(timeout_s):
        sock = trio.socket.socket(family, socket.SOCK_STREAM)
        try:
            await sock.connect((str(address), port))
        except OSError as exc:
            sock.close()
            return ProbeAnswer(failure=os.strerror(exc.errno) if exc.errno else str(exc))
        stream = trio.SocketStream(sock)
        try:
            await stream.send_all(p.encode(p.Probe(name=name, nonce=nonce)))
            decoder = p.MessageDecoder(accept=FROM_PROBED, max_frame_payload_bytes=0)
            answer = await receive_message(stream, decoder)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return ProbeAnswer(failure="the connection was reset")
        except p.ProtocolError as exc:
            return ProbeAnswer(failure=f"not a StreamNest peer there ({exc.reason.value})")
        finally:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await trio.aclose_forcefully(stream)
        if isinstance(answer, p.ProbeReply):
            return ProbeAnswer(proofs=answer.proofs)
        if isinstance(answer, p.Reject):
            return ProbeAnswer(failure=f"refused: {answer.message}")
        return ProbeAnswer(failure="closed without an answer")
    return ProbeAnswer(failure=f"no answer within {timeout_s:g} s")
