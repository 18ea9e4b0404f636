"""The HTTP tap of an H.264 stream: the same MJPEG, made from decoded pictures."""

from __future__ import annotations

from pathlib import Path

import trio

import protocol as p
from tests.peer.conftest import PeerStarter, write_video
from tests.polling import eventually
from tests.web.client import PartCounter, count_parts, get, open_stream
from tests.web.conftest import SOURCE_FPS, start_tap
from tests.web.test_http_tap import jpeg_size


async def test_an_h264_viewer_serves_snapshots_and_mjpeg_at_any_size(
    nursery: trio.Nursery, start_peer: PeerStarter, tmp_path: Path
) -> None:
    video = write_video(tmp_path / "clip.avi", width=960, height=540, fps=SOURCE_FPS, frames=90)
    await start_peer("source", "cam", source=str(video), loop=True, codec=p.Codec.H264)
    # A relay that shows nothing itself: the tap alone makes it decode.
    viewer = await start_peer("viewer", "alice", resolution="360p", decode=False)
    tap, url = await start_tap(nursery, viewer)
    await eventually(lambda: tap.fanout.latest is not None, within_s=10, what="a picture")
    assert jpeg_size((await get(url + "snapshot.jpg")).body) == (640, 360)
    assert jpeg_size((await get(url + "snapshot.jpg?res=source")).body) == (960, 540)

    stream = await open_stream(tap_address(url), "/stream.mjpg?res=480p")
    counter = PartCounter()
    async with trio.open_nursery() as reading:
        reading.start_soon(count_parts, stream, counter)
        await eventually(lambda: counter.parts >= 30, within_s=15, what="30 MJPEG parts")
        reading.cancel_scope.cancel()
    await stream.aclose()
    assert viewer.pictures.decoded > 0 and viewer.pictures.undecodable == 0


def tap_address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)
