"""One side of one hole punch, as a program to run inside a lab host:

    python -m tests.faults.punch_once --port P --to HOST:PORT --at UNIX_S [--timeout S]

Listens on every interface at port P (as a peer does, peer/addresses.py), then at Unix
time UNIX_S connects to HOST:PORT from P (peer/punching.py), sends its name and reads
the other side's. Prints one JSON line: {"ok": true, "took_s": ..., "heard": ...} or
{"ok": false, "error": ...}. Used by scripts/nat_swarm.py --punch-trials.
"""

from __future__ import annotations

import argparse
import json
import socket
import time

import trio

from peer.addresses import open_listener
from peer.punching import punch
from protocol.addresses import parse_address

READ_TIMEOUT_S = 2.0
HELLO_BYTES = 64


async def punch_once(
    port: int, to: tuple[str, int], at_unix_s: float, name: str
) -> dict[str, object]:
    """Our half of a punch at `at_unix_s`; what came of it."""
    listener = await open_listener("::", port)
    try:
        delay_s = max(0.0, at_unix_s - time.time())
        started = trio.current_time()
        try:
            stream = await punch(to[0], to[1], port, delay_s)
        except (OSError, trio.TooSlowError) as exc:
            return {"ok": False, "error": type(exc).__name__ + (f": {exc}" if str(exc) else "")}
        took_s = trio.current_time() - started - delay_s
        async with stream:
            await stream.send_all(name.encode())
            with trio.move_on_after(READ_TIMEOUT_S):
                heard = await stream.receive_some(HELLO_BYTES)
                return {"ok": True, "took_s": round(took_s, 4), "heard": heard.decode()}
        return {"ok": False, "error": "connected, but nothing came"}
    finally:
        await listener.aclose()


def main() -> None:
    """Parse the command line, punch once, print the outcome."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to", type=parse_address, required=True)
    parser.add_argument("--at", type=float, required=True)
    parser.add_argument("--name", default=socket.gethostname())
    args = parser.parse_args()
    print(json.dumps(trio.run(punch_once, args.port, args.to, args.at, args.name)), flush=True)


if __name__ == "__main__":
    main()
