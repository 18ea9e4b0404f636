"""A real file streams through a tree of relaying viewers, at the source's rate."""

from __future__ import annotations

import pytest
import trio

from peer.node import Peer
from tests.peer.conftest import PeerStarter, VideoMaker
from tests.polling import eventually

SOURCE_FPS = 30.0


class Continuity:
    """Frames a viewer received vs frames the source sent while it watched."""

    def __init__(self, source: Peer, viewers: list[Peer]) -> None:
        self.source, self.viewers = source, viewers
        self.start_sent = 0
        self.start_received: list[int] = []

    def begin(self) -> None:
        self.start_sent = self.source.counters.frames_sent
        self.start_received = [v.counters.loss.frames_received for v in self.viewers]

    def ratios(self) -> list[float]:
        sent = self.source.counters.frames_sent - self.start_sent
        return [
            (v.counters.loss.frames_received - start) / sent
            for v, start in zip(self.viewers, self.start_received, strict=True)
        ]


@pytest.mark.parametrize("container", ["mp4", "avi", "mkv"])
async def test_ten_viewers_in_a_deep_tree_get_every_frame_at_the_source_rate(
    start_peer: PeerStarter, make_video: VideoMaker, container: str
) -> None:
    video = make_video(container, width=854, height=480, fps=SOURCE_FPS, frames=60)
    source = await start_peer("source", "cam", source=str(video), loop=True, max_children=2)
    viewers = []
    for i in range(10):
        resolution = "360p" if i % 2 else "source"
        viewers.append(await start_peer("viewer", f"v{i}", max_children=2, resolution=resolution))
    await eventually(
        lambda: all(v.counters.loss.frames_received > 0 for v in viewers),
        within_s=15,
        what="every viewer receiving frames",
    )
    assert max(v.counters.depth for v in viewers) >= 3, "max children 2 makes the tree deep"

    window = Continuity(source, viewers)
    window.begin()
    started = trio.current_time()
    await trio.sleep(3.0)  # measure over a fixed window of streaming
    elapsed = trio.current_time() - started
    sent = source.counters.frames_sent - window.start_sent
    assert sent >= 0.9 * SOURCE_FPS * elapsed, "the source keeps its frame rate"
    for viewer, ratio in zip(viewers, window.ratios(), strict=True):
        assert ratio >= 0.95, f"{viewer.config.name} got {ratio:.0%} of the frames"
    await eventually(
        lambda: all(v.last_image_size is not None for v in viewers),
        within_s=5,
        what="every viewer decoding",
    )
    for i, viewer in enumerate(viewers):
        expected = (640, 360) if i % 2 else (854, 480)
        assert viewer.last_image_size == expected
