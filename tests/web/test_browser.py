"""The live page in a real headless Chromium: video moving, stats changing, chat both ways."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.peer.test_cli import collect_lines
from tests.polling import eventually
from tests.web.chromium import CHROMIUM, Page, open_page
from tests.web.conftest import Tapped

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (scripts/test installs it with apt-get where it can)",
)

# A cheap fingerprint of what the <img> shows now: draw it on a canvas and sum a sample.
PICTURE_HASH = """
(() => {
  const img = document.getElementById("video");
  if (!img || !img.naturalWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  for (let i = 0; i < data.length; i += 97) hash = (hash * 31 + data[i]) >>> 0;
  return [img.naturalWidth, img.naturalHeight, hash];
})()
"""


async def until(page: Page, expression: str, *, within_s: float, what: str) -> object:
    """Evaluate `expression` until it is truthy; its value."""
    value: list[object] = []

    async def check() -> None:
        while not value or not value[-1]:
            value.append(await page.evaluate(expression))
            if not value[-1]:
                await trio.sleep(0.1)

    with trio.move_on_after(within_s):
        await check()
        return value[-1]
    raise AssertionError(f"{what} did not happen within {within_s} s (last: {value[-1:]})")


async def test_the_page_plays_shows_stats_and_chats_with_a_cli_peer(
    tapped: Tapped, address: tuple[str, int], tmp_path: Path, nursery: trio.Nursery
) -> None:
    # A headless command-line peer in the same swarm, to hear the page's chat.
    host, port = address
    bob = await trio.lowlevel.open_process(
        [sys.executable, "-m", "peer", "view", "--no-port-mapping",
         "--tracker", f"{host}:{port}", "--name", "bob",
         "--no-decode"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    bob_lines: list[str] = []
    nursery.start_soon(collect_lines, bob.stderr, bob_lines, trio.Event())
    try:
        async with open_page(tapped.url, tmp_path / "profile") as page:
            # The video element shows frames, and they change.
            first = await until(page, PICTURE_HASH, within_s=20, what="the first picture")
            assert isinstance(first, list) and first[:2] == [640, 360]
            await until(
                page,
                f"(() => {{ const h = {PICTURE_HASH}; return h && h[2] !== {first[2]}; }})()",
                within_s=10,
                what="the picture changing",
            )
            # The statistics refresh: frames received goes up.
            frames = "Number(document.getElementById('stat-frames_received')?.textContent)"
            start = await until(page, frames, within_s=10, what="the stats table")
            assert isinstance(start, int | float)
            await until(page, f"{frames} > {start}", within_s=10, what="the stats changing")
            parent = await page.evaluate("document.getElementById('stat-parent').textContent")
            assert parent == "cam"
            # A chat message typed on the page reaches the CLI peer, and shows on the page.
            await eventually(
                lambda: any("bob: viewer registered" in line for line in bob_lines),
                within_s=20,
                what="bob registering",
            )
            await page.evaluate(
                "document.getElementById('text').value = 'hello from chromium';"
                "document.getElementById('send').requestSubmit();"
            )
            await eventually(
                lambda: any(line.endswith("alice: hello from chromium") for line in bob_lines),
                within_s=10,
                what="bob hearing the page's chat",
            )
            await until(
                page,
                "document.getElementById('chat').textContent.includes('hello from chromium')",
                within_s=10,
                what="the page showing its own line",
            )
            await until(
                page, "document.getElementById('viewers').textContent === 'viewers: 2'",
                within_s=10, what="the viewer count",
            )  # fmt: skip
            shot = await page.screenshot(tmp_path / "page.png")
            keep = os.environ.get("STREAMNEST_SCREENSHOTS")
            if keep:
                shutil.copy(shot, Path(keep) / "web-page.png")
            assert shot.stat().st_size > 10_000
    finally:
        bob.kill()
        with trio.move_on_after(10):
            await bob.wait()
