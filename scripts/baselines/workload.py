"""The workload every system in scripts/bench_compare.py carries, and how its processes report.

Every source sends the same pre-encoded frames (a file the orchestrator writes once)
round-robin at FPS on an absolute schedule (`peer.pacing.PacingSchedule`, the one the
StreamNest source uses), stamping each frame with a sequence number and its capture time
(Unix ns, taken just before it is sent) in its own system's framing.

The frames are JPEG (each stands alone) or H.264 access units from StreamNest's own
encoder (peer.h264: libx264, its default settings), with their keyframe flags. An
H.264 sequence is a whole number of GOPs starting on a keyframe (an IDR picture with
its SPS and PPS), so when the list wraps around, the unit after the last is a keyframe
and the looped stream stays decodable for anyone who decodes it.

Every benchmark process speaks one small line protocol with the orchestrator:

    process -> stdout "ready[ PORT]"      serving (viewers: every viewer has had a frame)
    orchestrator -> stdin "window A B"    the measured window, Unix ns, a little ahead
    process -> stdout one JSON object     at B + GRACE_S: what it sent or received in it
    orchestrator closes stdin             the process exits

A frame counts when its capture time is inside the window and it arrives at most GRACE_S
after the window ends. All processes share one machine and one clock, so arrival minus
capture is the true end-to-end latency.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

import protocol as p
from peer.pacing import PacingSchedule

if TYPE_CHECKING:  # imported where used: a process that only loads the frames needs neither
    from peer.h264 import H264Settings
    from peer.media import TestPattern

WIDTH = 1280
HEIGHT = 720
FPS = 30.0
JPEG_QUALITY = 80
FRAME_COUNT = 60  # distinct frames, sent round-robin (2 s of the test pattern: one H.264 GOP)
GRACE_S = 1.0  # a frame of the window still counts if it arrives this long after it
REPORT_MARGIN_S = 0.1  # reports are written this long after the grace period
POLL_INTERVAL_S = 0.01
NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
CODECS = tuple(p.CODECS_BY_LABEL)  # jpeg, h264
_FRAME_HEADER = struct.Struct(">?I")  # keyframe, length


# -- the frames ------------------------------------------------------------------------


@attrs.frozen
class StoredFrame:
    """One pre-encoded frame: its bytes, and whether a decoder can start at it."""

    data: bytes
    keyframe: bool = True


def encode_frames(path: Path, codec: str = "jpeg", count: int = FRAME_COUNT) -> list[StoredFrame]:
    """Encode at least `count` frames of StreamNest's test pattern, save them to `path`,
    return them. H.264: rounded up to whole GOPs, the first frame a keyframe."""
    from peer.media import TestPattern, encode_jpeg

    pattern = TestPattern(WIDTH, HEIGHT, FPS)
    if codec == "jpeg":
        frames = [StoredFrame(encode_jpeg(pattern.read(0), JPEG_QUALITY)) for _ in range(count)]
    else:
        frames = _encode_h264(pattern, count)
    with path.open("wb") as file:
        for frame in frames:
            file.write(_FRAME_HEADER.pack(frame.keyframe, len(frame.data)))
            file.write(frame.data)
    return frames


def h264_settings() -> H264Settings:
    """The H.264 settings of the workload: StreamNest's defaults (peer.h264.H264Settings)."""
    from peer.h264 import H264Settings

    return H264Settings()


def gop_frames() -> int:
    """Frames from one H.264 keyframe to the next in the workload."""
    return max(1, round(FPS * h264_settings().keyint_s))


def _encode_h264(pattern: TestPattern, count: int) -> list[StoredFrame]:
    from peer.h264 import H264Encoder

    gop = gop_frames()
    total = -(-count // gop) * gop
    encoder = H264Encoder(WIDTH, HEIGHT, FPS, h264_settings())
    try:
        frames = [
            StoredFrame(*encoder.encode(pattern.read(0), round(index * 1e6 / FPS)))
            for index in range(total)
        ]
    finally:
        encoder.close()
    if not frames[0].keyframe:
        raise RuntimeError("the H.264 workload does not start on a keyframe: it cannot loop")
    return frames


def codec_config(codec: str, frames: list[StoredFrame]) -> dict[str, Any]:
    """How the frames were encoded, for the JSON report."""
    if codec == "jpeg":
        return {"jpeg_quality": JPEG_QUALITY}
    settings = h264_settings()
    return {
        "h264_crf": settings.crf,
        "h264_bitrate_kbps": settings.bitrate_kbps,
        "h264_keyint_frames": gop_frames(),
        "keyframes": sum(frame.keyframe for frame in frames),
        "stars_carry": "the same H.264 units, as opaque bytes",
    }


def codec_label(codec: str) -> str:
    """The frames, in a few words, for each run's heading."""
    if codec == "jpeg":
        return f"JPEG q{JPEG_QUALITY}"
    settings = h264_settings()
    return (
        f"H.264 CRF {settings.crf} (cap {settings.bitrate_kbps} kb/s, keyframe every "
        f"{gop_frames()} frames; the stars relay the same units as opaque bytes)"
    )


def read_frames(path: str | Path) -> list[StoredFrame]:
    """The frames `encode_frames` saved, with their keyframe flags."""
    data = Path(path).read_bytes()
    frames = []
    offset = 0
    while offset < len(data):
        keyframe, length = _FRAME_HEADER.unpack_from(data, offset)
        offset += _FRAME_HEADER.size
        frames.append(StoredFrame(data[offset : offset + length], keyframe))
        offset += length
    if not frames:
        raise SystemExit(f"no frames in {path}")
    return frames


def load_frames(path: str | Path) -> list[bytes]:
    """The bytes of the frames `encode_frames` saved (what a star sends, opaque)."""
    return [frame.data for frame in read_frames(path)]


# -- the measured window and what is logged in it --------------------------------------


@attrs.frozen
class Window:
    """The measured window, Unix ns: frames captured in [start_ns, end_ns) count."""

    start_ns: int
    end_ns: int

    @classmethod
    def parse(cls, line: str) -> Window:
        """Read the orchestrator's `window START END` line."""
        word, start, end = line.split()
        if word != "window":
            raise ValueError(f"expected a window line, got {line!r}")
        return cls(int(start), int(end))

    def counts(self, capture_ns: int, arrival_ns: int) -> bool:
        """Whether a frame captured and received at these times counts as delivered."""
        return (
            self.start_ns <= capture_ns < self.end_ns
            and arrival_ns <= self.end_ns + GRACE_S * NS_PER_S
        )

    def report_at_s(self) -> float:
        """When (Unix s) every frame of the window has arrived or counts as lost."""
        return self.end_ns / NS_PER_S + GRACE_S + REPORT_MARGIN_S


@attrs.define
class SendLog:
    """What a source sent: frames whose capture time falls in the window."""

    window: Window | None = None
    sent_total: int = 0
    sent_in_window: int = 0

    def record(self, capture_ns: int) -> None:
        """Count one frame sent, captured at capture_ns."""
        self.sent_total += 1
        window = self.window
        if window is not None and window.start_ns <= capture_ns < window.end_ns:
            self.sent_in_window += 1

    def report(self) -> dict[str, Any]:
        """The source's JSON report."""
        return {"pid": os.getpid(), "frames_sent": self.sent_in_window}


@attrs.define
class DeliveryLog:
    """What one viewer received: latency (ms) per sequence number captured in the window."""

    window: Window | None = None
    received_total: int = 0
    latency_ms: dict[int, float] = attrs.field(factory=dict)

    def record(self, seq: int, capture_ns: int, arrival_ns: int) -> None:
        """Log one received frame (a duplicate sequence number keeps its first arrival)."""
        self.received_total += 1
        window = self.window
        if window is not None and window.counts(capture_ns, arrival_ns):
            self.latency_ms.setdefault(seq, (arrival_ns - capture_ns) / NS_PER_MS)

    def report(self) -> dict[str, Any]:
        """This viewer's part of a JSON report."""
        latencies = sorted(self.latency_ms.values())  # one C call: safe against a writer
        return {"frames": len(latencies), "latency_ms": [round(v, 3) for v in latencies]}


def viewers_report(logs: dict[str, DeliveryLog]) -> dict[str, Any]:
    """The JSON report of a process holding these viewers."""
    return {"pid": os.getpid(), "viewers": {name: log.report() for name, log in logs.items()}}


# -- pacing and the process side of the protocol --------------------------------------


def send_paced(frames: Sequence[bytes], send: Callable[[int, int, bytes], None]) -> None:
    """Call send(seq, capture_ns, jpeg) at FPS forever, round-robin over `frames`.

    Deadlines are absolute; a frame more than one interval late is skipped, as the
    StreamNest source does.
    """
    schedule = PacingSchedule(fps=FPS, start_s=time.monotonic())
    seq = 0
    index = 0
    while True:
        delay_s = schedule.deadline() - time.monotonic()
        if delay_s > 0:
            time.sleep(delay_s)
        seq += 1
        send(seq, time.time_ns(), frames[index % len(frames)])
        index += 1 + schedule.sent(time.monotonic())


def start_daemon(target: Callable[..., None], *args: Any) -> threading.Thread:
    """Run target(*args) in a daemon thread (it dies with the process)."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; exit the process with a message after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


def run_viewer_threads(
    names: str, watch: Callable[[str, DeliveryLog], None], what: str, timeout_s: float
) -> None:
    """A group of thread-based viewers: one thread per name runs watch(name, log); say
    `ready` once each has had a frame, then report on the orchestrator's window."""
    logs = {name: DeliveryLog() for name in names.split(",")}
    for name, log in logs.items():
        start_daemon(watch, name, log)
    wait_until(
        lambda: all(log.received_total for log in logs.values()),
        timeout_s,
        f"a first frame at every {what}",
    )
    say_ready()

    def set_window(window: Window) -> None:
        for log in logs.values():
            log.window = window

    report_on_window(set_window, lambda: viewers_report(logs))


def say_ready(port: int | None = None) -> None:
    """Tell the orchestrator this process is serving."""
    print("ready" if port is None else f"ready {port}", flush=True)


def report_on_window(
    set_window: Callable[[Window], None], report: Callable[[], dict[str, Any]]
) -> None:
    """Take the window from stdin, report on it, then exit once stdin closes.

    Blocking: a thread-based process runs it in its main thread, a trio one in a worker
    thread. It ends the process with os._exit, so threads blocked in socket reads need
    no waking.
    """
    line = sys.stdin.readline()
    if not line:
        os._exit(0)  # the orchestrator went away before measuring
    window = Window.parse(line)
    set_window(window)
    time.sleep(max(0.0, window.report_at_s() - time.time()))
    print(json.dumps(report()), flush=True)
    sys.stdin.read()  # stay up, and in the audience, until every process has reported
    os._exit(0)
