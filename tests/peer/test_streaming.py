"""A real file streams through a tree of relaying viewers, at the source's rate."""

from __future__ import annotations

import pytest
import trio

from tests.peer.conftest import PeerStarter, ReceivedFrames, VideoMaker
from tests.polling import eventually

SOURCE_FPS = 30.0
WINDOW_FRAMES = 90  # three seconds of video at the source's rate
DEADLINE_TARGETS = 5  # how many times the expected duration to wait before failing
CONTINUITY_FLOOR = 0.95  # of the frames the source sent in the window, each viewer gets this
# The source's schedule makes a frame due every 1/fps s, and each is sent or counted as
# skipped (peer/pacing.py): a busy machine makes the source skip, never lie about it.
# The slack covers a frame still being captured at either end of the window.
SCHEDULE_SLACK = 0.9


@pytest.mark.parametrize("container", ["mp4", "avi", "mkv"])
async def test_ten_viewers_in_a_deep_tree_get_every_frame_at_the_source_rate(
    start_peer: PeerStarter, make_video: VideoMaker, container: str
) -> None:
    video = make_video(container, width=854, height=480, fps=SOURCE_FPS, frames=60)
    source = await start_peer("source", "cam", source=str(video), loop=True, max_children=2)
    viewers, logs = [], []
    for i in range(10):
        resolution = "360p" if i % 2 else "source"
        logs.append(ReceivedFrames())
        viewer = await start_peer(
            "viewer", f"v{i}", logs[-1].hooks(), max_children=2, resolution=resolution
        )
        viewers.append(viewer)
    await eventually(
        lambda: all(v.counters.loss.frames_received > 0 for v in viewers),
        within_s=15,
        what="every viewer receiving frames",
    )
    assert max(v.counters.depth for v in viewers) >= 3, "max children 2 makes the tree deep"

    sent = source.counters
    first = sent.frames_sent + 1  # the source numbers its frames 1, 2, ... as it sends them
    due_before = sent.frames_sent + sent.frames_skipped
    started = trio.current_time()
    await eventually(
        lambda: sent.frames_sent >= first + WINDOW_FRAMES - 1,
        within_s=DEADLINE_TARGETS * WINDOW_FRAMES / SOURCE_FPS,
        what=f"the source sending {WINDOW_FRAMES} frames",
    )
    elapsed = trio.current_time() - started
    last = sent.frames_sent
    due = sent.frames_sent + sent.frames_skipped - due_before
    skipped = due - (last - first + 1)
    print(f"\n{last - first + 1} frames sent and {skipped} skipped in {elapsed:.2f} s")
    assert due >= SCHEDULE_SLACK * SOURCE_FPS * elapsed, "every frame due is sent or skipped"

    await eventually(
        lambda: all(log.newest >= last for log in logs),
        within_s=DEADLINE_TARGETS * 2,
        what="every viewer past the window's last frame",
    )
    for viewer, log in zip(viewers, logs, strict=True):
        share = log.share_of(first, last)
        assert share >= CONTINUITY_FLOOR, (
            f"{viewer.config.name} got {share:.0%} of the frames the source sent; "
            f"missing {log.missing(first, last)}"
        )
    await eventually(
        lambda: all(v.last_image_size is not None for v in viewers),
        within_s=5,
        what="every viewer decoding",
    )
    for i, viewer in enumerate(viewers):
        expected = (640, 360) if i % 2 else (854, 480)
        assert viewer.last_image_size == expected
