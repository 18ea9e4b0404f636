"""Real players as clients: ffmpeg reads /stream.mjpg as it would from an IP camera."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from tests.web.conftest import Tapped

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None or FFPROBE is None,
    reason="ffmpeg is not installed (scripts/test installs it with apt-get where it can)",
)


async def probe(path: Path) -> dict[str, object]:
    assert FFPROBE is not None
    result = await trio.run_process(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=width,height,nb_read_frames", "-of", "json", str(path)],
        capture_stdout=True,
    )  # fmt: skip
    streams: list[dict[str, object]] = json.loads(result.stdout)["streams"]
    return streams[0]


@needs_ffmpeg
@pytest.mark.parametrize(("query", "size"), [("", (640, 360)), ("?res=source", (960, 540))])
async def test_ffmpeg_records_sixty_frames_from_the_stream(
    tapped: Tapped, tmp_path: Path, query: str, size: tuple[int, int]
) -> None:
    assert FFMPEG is not None
    out = tmp_path / "out.mkv"
    with trio.fail_after(60):
        result = await trio.run_process(
            [FFMPEG, "-nostdin", "-v", "error", "-y", "-i", f"{tapped.url}stream.mjpg{query}",
             "-frames:v", "60", str(out)],
            capture_stderr=True,
            check=False,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    info = await probe(out)
    assert (info["width"], info["height"]) == size
    assert info["nb_read_frames"] == "60"
