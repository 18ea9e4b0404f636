"""Fixtures for peer tests: real video files, and real peers in the test's nursery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import cv2
import numpy as np
import pytest
import trio

import protocol as p
from peer.config import PeerConfig, PeerHooks
from peer.node import Peer

CONTAINERS = {"mp4": "mp4v", "avi": "MJPG", "mkv": "XVID"}

VideoMaker = Callable[..., Path]
PeerStarter = Callable[..., Awaitable[Peer]]


def write_video(
    path: Path, *, width: int = 640, height: int = 360, fps: float = 30.0, frames: int = 90
) -> Path:
    """Write a moving pattern with the frame number on it, in the container of `path`."""
    fourcc = cv2.VideoWriter.fourcc(*CONTAINERS[path.suffix.lstrip(".")])
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    assert writer.isOpened(), f"cannot write {path}"
    try:
        for index in range(frames):
            image = np.full((height, width, 3), (index * 3) % 256, dtype=np.uint8)
            x = (index * 9) % max(1, width - 40)
            cv2.rectangle(image, (x, height // 3), (x + 40, height // 3 + 40), (0, 0, 255), -1)
            cv2.putText(
                image, f"#{index}", (10, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.0,
                (255, 255, 255), 2,
            )  # fmt: skip
            writer.write(image)
    finally:
        writer.release()
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> VideoMaker:
    """A factory: make_video("mkv", width=..., height=..., fps=..., frames=...) -> path."""

    def make(extension: str = "avi", **kw: float) -> Path:
        return write_video(tmp_path / f"clip.{extension}", **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def start_peer(nursery: trio.Nursery, address: tuple[str, int]) -> PeerStarter:
    """A factory starting a real peer against the test tracker: start_peer(role, name, ...)."""

    async def start(role: str, name: str, hooks: PeerHooks | None = None, **kw: object) -> Peer:
        config = PeerConfig(role=role, name=name, tracker=address, **kw)  # type: ignore[arg-type]
        peer = Peer(config, hooks)
        started: Peer = await nursery.start(peer.run)
        return started

    return start


@attrs.define
class ReceivedFrames:
    """Which frames (by sequence number) a viewer received: a probe on its hooks.

    The source numbers its frames 1, 2, 3, ... as it sends them, so frames sent in a
    window are a range of numbers, whatever the machine's load did to the timing.
    """

    seqs: set[int] = attrs.Factory(set)

    def hooks(self) -> PeerHooks:
        """Hooks for start_peer(..., hooks=...) that feed this probe."""
        return PeerHooks(on_frame_received=self.note)

    def note(self, header: p.FrameHeader, arrival_ns: int) -> None:
        """A frame arrived."""
        self.seqs.add(header.seq)

    @property
    def newest(self) -> int:
        """The highest sequence number received so far (0 before any)."""
        return max(self.seqs, default=0)

    def share_of(self, first: int, last: int) -> float:
        """The share of frames first..last (inclusive) that arrived."""
        wanted = range(first, last + 1)
        return sum(1 for seq in wanted if seq in self.seqs) / len(wanted)

    def missing(self, first: int, last: int) -> list[int]:
        """The frames of first..last that did not arrive."""
        return [seq for seq in range(first, last + 1) if seq not in self.seqs]
