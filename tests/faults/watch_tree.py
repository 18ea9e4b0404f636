"""A process that watches the tracker's tree and prints it, for tests inside namespaces.

    python -m tests.faults.watch_tree --tracker HOST:PORT [--interval 0.05]

The test process lives outside the lab's namespaces and cannot reach the tracker, so
this runs inside one (`ip netns exec`) and prints one JSON line per status reply:
{"parents": {viewer: parent or null}, "capacity": {name: max_children}}. It keeps one
observer session and reconnects if it breaks.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys

import trio

import protocol as p
from protocol.addresses import parse_address
from tests.tracker.client import Client

RECONNECT_DELAY_S = 0.2


def describe(reply: p.StatusReply) -> dict[str, object]:
    """The parts of a status reply the fault tests look at."""
    return {
        "parents": {peer.name: peer.parent for peer in reply.peers if peer.role == "viewer"},
        "capacity": {peer.name: peer.max_children for peer in reply.peers},
    }


async def watch(address: tuple[str, int], interval_s: float) -> None:
    """Print the tree every `interval_s` seconds, forever."""
    while True:
        try:
            client = await Client.connect(address)
            answer = await client.hello(f"watch-{secrets.token_hex(3)}", "observer")
            if not isinstance(answer, p.Welcome):
                raise OSError(f"refused: {answer}")
            while True:
                await client.send(p.StatusRequest())
                reply = await client.expect(p.StatusReply, within_s=5)
                print(json.dumps(describe(reply)), flush=True)
                await trio.sleep(interval_s)
        except (
            OSError,
            trio.TooSlowError,
            trio.BrokenResourceError,
            AssertionError,
            p.ProtocolError,
        ) as exc:
            print(f"watch_tree: {exc}", file=sys.stderr, flush=True)
            await trio.sleep(RECONNECT_DELAY_S)


def main() -> None:
    """Entry point: parse the options and watch until killed."""
    parser = argparse.ArgumentParser(prog="watch_tree")
    parser.add_argument("--tracker", type=parse_address, required=True)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    trio.run(watch, args.tracker, args.interval)


if __name__ == "__main__":
    main()
