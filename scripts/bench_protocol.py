#!/usr/bin/env python3
"""Micro-benchmark of the wire protocol: encode, decode and relay-rewrite of video frames.

The relay path is what every viewer does for every frame: decode the message from the
received bytes, then build the rewritten head (hop count, path latency) for forwarding.
Target: under 20 µs of Python time per frame, independent of the payload size.

    python scripts/bench_protocol.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable

import protocol as p

SIZES = [("10 KiB", 10 * 1024), ("70 KiB (720p)", 70 * 1024), ("1 MiB", 1024 * 1024)]
RECV_CHUNK_BYTES = 64 * 1024


def make_frame(size: int) -> p.VideoFrame:
    """A frame whose JPEG part is `size` bytes of noise."""
    header = p.FrameHeader(
        epoch=1, seq=1, capture_ns=time.time_ns(), width=1280, height=720, hops=1
    )
    return p.VideoFrame(header=header, data=os.urandom(size))


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn, measured over about `seconds`."""
    calls = 0
    batch = 50
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def relay_once(chunks: list[bytes]) -> None:
    """Decode one frame from received chunks and build its forwarding parts."""
    decoder = p.MessageDecoder()
    for chunk in chunks:
        decoder.receive_data(chunk)
    frame = decoder.next_message()
    assert isinstance(frame, p.VideoFrame)
    p.relay_parts(frame, hops=frame.header.hops + 1, path_latency_us=123)


def main() -> None:
    """Run every case and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case")
    args = parser.parse_args()

    print(f"{'case':<44} {'payload':>14} {'frames/s':>12} {'MB/s':>10} {'µs/frame':>10}")
    for label, size in SIZES:
        frame = make_frame(size)
        wire = p.encode(frame)
        chunked = [wire[i : i + RECV_CHUNK_BYTES] for i in range(0, len(wire), RECV_CHUNK_BYTES)]
        cases: list[tuple[str, Callable[[], object]]] = [
            ("encode at the source (one buffer)", functools.partial(p.encode, frame)),
            (
                "relay: decode + rewrite, frame in one chunk",
                functools.partial(relay_once, [wire]),
            ),
            (
                f"relay: decode + rewrite, {RECV_CHUNK_BYTES // 1024} KiB chunks",
                functools.partial(relay_once, chunked),
            ),
        ]
        for name, fn in cases:
            per_s = rate(fn, args.seconds)
            mb_s = per_s * len(wire) / 1e6
            print(f"{name:<44} {label:>14} {per_s:>12,.0f} {mb_s:>10,.0f} {1e6 / per_s:>10.2f}")


if __name__ == "__main__":
    main()
