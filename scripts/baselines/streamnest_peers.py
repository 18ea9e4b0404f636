"""StreamNest's side of the comparison: the real peers, run the way the baselines are run.

    python -m baselines.streamnest_peers source --tracker HOST:PORT --frames FILE
    python -m baselines.streamnest_peers viewers --tracker HOST:PORT --names a,b,c

Not a baseline: this is StreamNest itself, through `peer.node.Peer`, so frames take the
real relay path. The source is a Peer whose capture step returns the next pre-encoded
frame instead of encoding a camera image (everything after it, pacing included, is the
real source). Viewers relay with MAX_CHILDREN slots each and do not decode; they join
one after another, each receiving before the next joins, so the tree is built as a
growing audience would build it. The process protocol is the one of `baselines.workload`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import trio

import protocol as p
from baselines.workload import (
    FPS,
    HEIGHT,
    JPEG_QUALITY,
    WIDTH,
    DeliveryLog,
    SendLog,
    Window,
    load_frames,
    report_on_window,
    say_ready,
    viewers_report,
)
from peer.addresses import parse_address
from peer.config import PeerConfig, PeerHooks
from peer.media import TestPattern
from peer.node import Peer
from peer.source import EncodedPicture, FrameSource
from protocol.signing import FrameSigner

FANOUT = 3  # the source's direct children
MAX_CHILDREN = 3  # relay slots of every viewer
JOIN_TIMEOUT_S = 30.0  # for one viewer to receive its first frame


class PreEncodedFrames(FrameSource):
    """A StreamNest source's video whose camera is the benchmark's pre-encoded frames."""

    def __init__(self, frames: list[bytes], log: SendLog) -> None:
        super().__init__(TestPattern(WIDTH, HEIGHT, FPS), FrameSigner(), fps=FPS)
        self.frames = frames
        self.log = log
        self.index = -1

    def encode_next(self, skip: int) -> EncodedPicture | None:
        """The next pre-encoded frame (skipping `skip`), stamped with the time now."""
        self.index += 1 + skip
        capture_ns = time.time_ns()
        self.log.record(capture_ns)
        return EncodedPicture(self.frames[self.index % len(self.frames)], WIDTH, HEIGHT, capture_ns)


def source(args: argparse.Namespace) -> None:
    """Stream the frame file through a real StreamNest source; then report."""
    log = SendLog()
    config = PeerConfig(
        role="source",
        name="source",
        tracker=parse_address(args.tracker),
        max_children=FANOUT,
        fps=FPS,
        quality=JPEG_QUALITY,
    )

    def set_window(window: Window) -> None:
        log.window = window

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            video = PreEncodedFrames(load_frames(args.frames), log)
            await nursery.start(Peer(config, frame_source=video).run)
            say_ready()
            await trio.to_thread.run_sync(report_on_window, set_window, log.report)

    trio.run(main)


def viewers(args: argparse.Namespace) -> None:
    """Join viewers one after another; `ready` once all receive, then report (with depths)."""
    logs = {name: DeliveryLog() for name in args.names.split(",")}
    peers: dict[str, Peer] = {}

    def hooks(log: DeliveryLog) -> PeerHooks:
        def on_frame(header: p.FrameHeader, arrival_ns: int) -> None:
            log.record(header.seq, header.capture_ns, arrival_ns)

        return PeerHooks(on_frame_received=on_frame)

    def set_window(window: Window) -> None:
        for log in logs.values():
            log.window = window

    def report() -> dict[str, Any]:
        result = viewers_report(logs)
        for name, viewer in result["viewers"].items():
            viewer["depth"] = peers[name].counters.depth
        return result

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for name, log in logs.items():
                config = PeerConfig(
                    role="viewer",
                    name=name,
                    tracker=parse_address(args.tracker),
                    max_children=MAX_CHILDREN,
                    decode=False,
                )
                peer = peers[name] = Peer(config, hooks(log))
                await nursery.start(peer.run)
                with trio.fail_after(JOIN_TIMEOUT_S):
                    await peer.receiving.wait()
            say_ready()
            await trio.to_thread.run_sync(report_on_window, set_window, report)

    trio.run(main)


def main() -> None:
    """Run the source or a group of viewers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("source", "viewers"):
        sub = commands.add_parser(command)
        sub.add_argument("--tracker", required=True, help="HOST:PORT")
    commands.choices["source"].add_argument("--frames", required=True, help="frame file")
    commands.choices["viewers"].add_argument("--names", required=True, help="comma-separated")
    args = parser.parse_args()
    {"source": source, "viewers": viewers}[args.command](args)


if __name__ == "__main__":
    main()
