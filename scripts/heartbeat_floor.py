#!/usr/bin/env python3
"""The floor under the tracker's heartbeat cost: a bare trio server that only reads
and acknowledges heartbeats.

    python scripts/heartbeat_floor.py [--port 0]

It speaks just enough of the protocol for bench_tracker's fake peers: a Welcome for
each Hello, then a HeartbeatAck for each Heartbeat, decoded and encoded by protocol/
as the tracker does, one trio task per connection, reading and writing the way the
tracker's hot path does. No room, no tree, no metrics: what is left is what a trio
server pays, at the least, to read and answer the same messages. bench_tracker runs
the same load against it in the same run and reports the tracker's CPU as a multiple
of this one's, a figure that holds across machines where the raw percentage does not
(the same commit read 12.7-13.1% of a core on one machine and 27-30% on another).

It prints `tracker listening on HOST:PORT` as the tracker does, and stops on SIGTERM
or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import time
from functools import partial

import trio

import protocol as p
from tracker.session import receive_message

HEARTBEAT_INTERVAL_MS = 1000  # as the tracker's default
IDLE_TIMEOUT_S = 10.0  # a peer silent 10-20 s is gone
SEND_TIMEOUT_S = 5.0


def welcome(hello: p.Hello) -> p.Welcome:
    """The terms the fake peers need: who they are and how often to beat."""
    return p.Welcome(
        protocol_version=p.PROTOCOL_VERSION,
        name=hello.name,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        admission_key=secrets.token_hex(16),
    )


def answer(message: p.Message, greeted: bool) -> bytes | None:
    """The encoded answer to `message` from a peer (greeted: its Hello was answered), if
    any: a Welcome for its first Hello, an ack for each Heartbeat after it."""
    if isinstance(message, p.Hello) and not greeted:
        return p.encode(welcome(message))
    if isinstance(message, p.Heartbeat) and greeted:
        return p.encode(p.HeartbeatAck(seq=message.seq, server_time_ns=time.time_ns()))
    return None


async def serve_peer(stream: trio.SocketStream) -> None:
    """Answer one fake peer until it leaves, goes quiet or breaks the protocol.

    The reads and writes are the cheapest trio allows, as on the tracker's own hot path:
    its `receive_message` (wait until readable, read once), each small answer written
    straight to the socket, and a silence deadline moved only when less than the limit
    is left (tracker/service.py).
    """
    decoder = p.MessageDecoder(accept=(p.Hello, p.Heartbeat, p.Goodbye), max_frame_payload_bytes=0)
    greeted = False
    with (
        contextlib.suppress(trio.BrokenResourceError, p.ProtocolError),
        trio.CancelScope(deadline=trio.current_time() + IDLE_TIMEOUT_S) as idle,
    ):
        while True:
            now = trio.current_time()
            if idle.deadline - now < IDLE_TIMEOUT_S:
                idle.deadline = now + 2 * IDLE_TIMEOUT_S
            message = await receive_message(stream, decoder)
            if message is None:
                break
            reply = answer(message, greeted)
            if reply is not None:
                greeted = True
                await write(stream, reply)
    await trio.aclose_forcefully(stream)


async def write(stream: trio.SocketStream, data: bytes) -> None:
    """Write `data` at once if the socket takes it, else wait for room (bounded)."""
    try:
        sent = os.write(stream.socket.fileno(), data)
    except OSError:  # full, or broken: send_all waits, or says so
        sent = 0
    if sent < len(data):
        with trio.fail_after(SEND_TIMEOUT_S):
            await stream.send_all(data[sent:])


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:`port` (0: any free one), say where, serve until stopped."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve_peer, port, host="127.0.0.1"))
        host, bound = listeners[0].socket.getsockname()[:2]
        print(f"tracker listening on {host}:{bound}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()


def main() -> int:
    """Serve the floor until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    args = parser.parse_args()
    trio.run(serve, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
