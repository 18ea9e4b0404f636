"""Hold every packet of an NFQUEUE queue for a fixed delay, then let it go: a host's
latency in the network lab, where netem is not in the kernel.

Run in a host's namespace (tests/faults/netlab.py `delay` starts it and adds the
iptables rule that queues what the host sends), until killed:

    python -m tests.faults.delay_queue --queue 0 --delay-ms 50

Every packet waits the same time, so they leave in the order they came: a queue of
(due, packet) in arrival order is enough. The verdict is given after the callback has
returned (NetfilterQueue keeps the packet for it); the loop waits on the queue's socket
until the next packet is due.
"""

from __future__ import annotations

import argparse
import collections
import select
import socket
import sys
import time

from netfilterqueue import NetfilterQueue, Packet

MAX_HELD = 65536  # packets in flight at once; past that they go at once (never dropped)


def main() -> None:
    """Delay the packets of one queue until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args()
    delay_s = args.delay_ms / 1000
    held: collections.deque[tuple[float, Packet]] = collections.deque()

    def hold(packet: Packet) -> None:
        if len(held) >= MAX_HELD:
            packet.accept()
        else:
            held.append((time.monotonic() + delay_s, packet))

    queue = NetfilterQueue()
    queue.bind(args.queue, hold, max_len=MAX_HELD)
    sock = socket.fromfd(queue.get_fd(), socket.AF_NETLINK, socket.SOCK_RAW)
    print("ready", flush=True)
    try:
        while True:
            now = time.monotonic()
            while held and held[0][0] <= now:
                held.popleft()[1].accept()
            wait_s = max(0.0, held[0][0] - now) if held else None
            readable, _, _ = select.select([sock], [], [], wait_s)
            if readable:
                queue.run(block=False)
    except KeyboardInterrupt:
        pass
    finally:
        for _, packet in held:
            packet.accept()
        queue.unbind()
        sock.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
