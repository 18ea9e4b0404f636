"""StreamNest's side of the comparison: the real peers, run the way the baselines are run.

    python -m baselines.streamnest_peers source --tracker HOST:PORT --frames FILE
                                               [--codec jpeg|h264]
    python -m baselines.streamnest_peers viewers --tracker HOST:PORT --names a,b,c

Not a baseline: this is StreamNest itself, through `peer.node.Peer`, so frames take the
real relay path. The source is a Peer whose capture step returns the next pre-encoded
frame instead of encoding a camera image (everything after it, pacing included, is the
real source). Viewers relay with MAX_CHILDREN slots each and do not decode; they join
one after another, each receiving before the next joins, so the tree is built as a
growing audience would build it. The process protocol is the one of `baselines.workload`.

With --codec h264 the frames are H.264 access units with their keyframe flags, and every
relay keeps its GOP cache as it would live. Two things of a live H.264 source cannot be
done with units encoded beforehand, and neither changes what is measured: a late frame
does not skip units (the sequence must stay whole to decode; the live encoder would
likewise just encode the next picture), and a keyframe request is not honoured (only a
viewer that decodes asks, and none does here).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import trio

import protocol as p
from baselines.workload import (
    CODECS,
    FPS,
    HEIGHT,
    JPEG_QUALITY,
    WIDTH,
    DeliveryLog,
    SendLog,
    StoredFrame,
    Window,
    read_frames,
    report_on_window,
    say_ready,
    viewers_report,
)
from peer.config import PeerConfig, PeerHooks
from peer.media import TestPattern
from peer.node import Peer
from peer.source import EncodedPicture, FrameSource
from protocol.addresses import parse_address
from protocol.signing import FrameSigner

FANOUT = 3  # the source's direct children
MAX_CHILDREN = 3  # relay slots of every viewer
JOIN_TIMEOUT_S = 30.0  # for one viewer to receive its first frame


class PreEncodedFrames(FrameSource):
    """A StreamNest source's video whose camera is the benchmark's pre-encoded frames."""

    def __init__(self, frames: list[StoredFrame], log: SendLog, codec: p.Codec) -> None:
        pattern = TestPattern(WIDTH, HEIGHT, FPS)
        super().__init__(pattern, FrameSigner(), fps=FPS, codec=codec)
        self.frames = frames
        self.log = log
        self.index = -1

    def encode_next(self, skip: int) -> EncodedPicture | None:
        """The next pre-encoded frame, stamped with the time now. JPEG skips `skip`
        frames, as a late camera read does; H.264 never skips a unit (see above)."""
        self.index += 1 + (skip if self.codec is p.Codec.JPEG else 0)
        capture_ns = time.time_ns()
        self.log.record(capture_ns)
        frame = self.frames[self.index % len(self.frames)]
        return EncodedPicture(frame.data, WIDTH, HEIGHT, capture_ns, frame.keyframe)


def source(args: argparse.Namespace) -> None:
    """Stream the frame file through a real StreamNest source; then report."""
    log = SendLog()
    codec = p.CODECS_BY_LABEL[args.codec]
    config = PeerConfig(
        role="source",
        name="source",
        tracker=parse_address(args.tracker),
        max_children=FANOUT,
        fps=FPS,
        quality=JPEG_QUALITY,
        codec=codec,
    )

    def set_window(window: Window) -> None:
        log.window = window

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            video = PreEncodedFrames(read_frames(args.frames), log, codec)
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
            viewer["codec"] = peers[name].codec.label
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
    commands.choices["source"].add_argument("--codec", choices=CODECS, default="jpeg")
    commands.choices["viewers"].add_argument("--names", required=True, help="comma-separated")
    args = parser.parse_args()
    {"source": source, "viewers": viewers}[args.command](args)


if __name__ == "__main__":
    main()
