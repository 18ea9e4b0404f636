"""--record FILE: the file plays, at the chosen size and the source's rate, gaps and all."""

from __future__ import annotations

import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from peer.errors import PeerError
from peer.recorder import Recorder, Timeline, check_record_path, estimate_fps
from tests.peer.conftest import PeerStarter, VideoMaker
from tests.peer.test_cli import Swarm, launch, swarm  # noqa: F401 (fixtures)
from tests.polling import eventually

# The recorder only sees the capture times of the first frames: idle, its estimate is
# within 1% and snaps to the usual 30; on a busy machine the source's capture times jitter
# (a late frame is followed at once by the next), and so does the estimate.
RECORDED_RATE_SLACK = 0.05


def read_back(path: Path) -> tuple[int, int, int, float]:
    """(frames decoded, width, height, fps) of a video file, decoding every frame."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open"
    frames = 0
    while capture.read()[0]:
        frames += 1
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, *size, fps


def frame(seq: int, *, epoch: int = 1, fps: float = 30.0) -> p.VideoFrame:
    image = np.full((360, 640, 3), seq % 256, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    header = p.FrameHeader(
        epoch=epoch, seq=seq, capture_ns=int(seq * 1e9 / fps), width=640, height=360
    )
    return p.VideoFrame(header=header, data=jpeg.tobytes())


# -- pure decisions ------------------------------------------------------------------------


@given(st.lists(st.integers(1, 200), min_size=1, max_size=60))
def test_the_timeline_writes_each_slot_once_in_order(seqs: list[int]) -> None:
    timeline = Timeline(max_fill=1000)
    written = 0
    for seq in seqs:
        fill, copies = timeline.copies(1, seq)
        written += fill + copies
    # Late and repeated frames are skipped; gaps are filled: one picture per slot.
    first = seqs[0]
    highest = max(seqs)
    assert written == highest - first + 1


def test_a_long_gap_is_filled_only_up_to_the_limit() -> None:
    timeline = Timeline(max_fill=60)
    assert timeline.copies(1, 1) == (0, 1)
    assert timeline.copies(1, 1000) == (60, 1)
    assert timeline.copies(2, 1) == (0, 1)  # a new stream: no fill across epochs


def test_the_frame_rate_comes_from_capture_times() -> None:
    assert estimate_fps([int(i * 1e9 / 25) for i in range(16)]) == 25.0
    assert estimate_fps([int(i * 1e9 / 29.96) for i in range(16)]) == 29.97
    assert estimate_fps([0, 0, 0]) == 30.0  # nothing to go on: the usual default
    assert estimate_fps([int(i * 1e9 / 12.5) for i in range(16)]) == pytest.approx(12.5)


def test_only_known_containers_in_existing_directories(tmp_path: Path) -> None:
    assert check_record_path(str(tmp_path / "a.avi")).suffix == ".avi"
    with pytest.raises(PeerError, match="must end in"):
        check_record_path(str(tmp_path / "a.gif"))
    with pytest.raises(PeerError, match="no such directory"):
        check_record_path(str(tmp_path / "missing" / "a.mp4"))


# -- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
async def test_a_gap_in_the_stream_keeps_the_file_whole_and_on_time(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"gap{suffix}"
    recorder = Recorder(path, "source")
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        for seq in [*range(1, 21), *range(31, 61)]:  # frames 21-30 never arrive
            recorder.add(frame(seq))
        # A frame that does not decode holds its slot with the previous picture.
        recorder.add(p.VideoFrame(header=frame(61).header, data=b"not a jpeg"))
        await eventually(lambda: recorder.frames_written >= 61, within_s=20, what="writing")
        nursery.cancel_scope.cancel()
    frames, width, height, fps = read_back(path)
    assert (frames, width, height) == (61, 640, 360)
    assert fps == pytest.approx(30.0, rel=0.01)


async def test_a_viewer_records_what_it_receives_at_its_resolution(
    tmp_path: Path, make_video: VideoMaker, start_peer: PeerStarter
) -> None:
    video = make_video("avi", width=960, height=540, fps=30, frames=300)
    await start_peer("source", "cam", source=str(video))
    viewer = await start_peer("viewer", "rec", resolution="360p")
    path = tmp_path / "recorded.avi"
    recorder = Recorder(path, viewer.resolution)
    received: list[int] = []
    captured_ns: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)

        def record(frame: p.VideoFrame) -> None:
            received.append(frame.header.seq)
            captured_ns.append(frame.header.capture_ns)
            recorder.add(frame)

        viewer.frame_sinks.append(record)
        await eventually(lambda: len(received) >= 90, within_s=20, what="90 frames received")
        viewer.frame_sinks.clear()
        await eventually(
            lambda: recorder.frames_written >= received[-1] - received[0] + 1 - 2,
            within_s=20,
            what="the queue written out",
        )
        nursery.cancel_scope.cancel()
    expected = received[-1] - received[0] + 1
    frames, width, height, fps = read_back(path)
    assert (width, height) == (640, 360)
    assert abs(frames - expected) <= 0.05 * expected
    # The rate the source really captured these frames at (frames it skipped under load
    # have no number, so a busy source's rate is below 30); the file plays at it.
    captured_fps = (received[-1] - received[0]) * 1e9 / (captured_ns[-1] - captured_ns[0])
    assert fps == pytest.approx(captured_fps, rel=RECORDED_RATE_SLACK), captured_fps


async def test_ctrl_c_leaves_a_file_that_plays(swarm: Swarm, tmp_path: Path) -> None:  # noqa: F811
    await swarm.join("source", "testsrc:640x360@30", name="cam")
    path = tmp_path / "cli.mp4"
    viewer = await swarm.join(
        "view", "--resolution", "360p", "--record", str(path), "--stats-json", name="rec"
    )
    await viewer.wait_for_stats(lambda stats: stats["frames_received"] >= 60)
    viewer.process.send_signal(signal.SIGINT)
    assert await viewer.exit_code() == 0
    recorded = await viewer.wait_for(r"^rec: recorded (\d+) frames to ")
    frames, width, height, _ = read_back(path)
    assert (width, height) == (640, 360)
    assert frames == int(recorded.group(1)) >= 60
