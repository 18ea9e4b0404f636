"""Fixtures for the HTTP tap: a real source and viewer, and the viewer's tap on a free port."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio

from peer.node import Peer
from peer.web.app import WebTap
from peer.web.server import serve_tap
from tests.peer.conftest import make_video, start_peer, write_video  # noqa: F401 (fixtures)
from tests.polling import eventually

SOURCE_FPS = 30.0


@attrs.define
class Tapped:
    """A source streaming a generated 960x540 video, and a viewer serving it over HTTP."""

    source: Peer
    viewer: Peer
    tap: WebTap
    url: str  # http://127.0.0.1:PORT/

    @property
    def host_port(self) -> tuple[str, int]:
        """The tap's address, for raw sockets."""
        host, port = self.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        return host, int(port)


async def start_tap(nursery: trio.Nursery, peer: Peer, max_clients: int = 32) -> tuple[WebTap, str]:
    """Serve `peer` over HTTP on a free loopback port, as `--http 0` would."""
    tap = WebTap(peer, max_clients=max_clients)
    url: str = await nursery.start(serve_tap, tap, "127.0.0.1", 0)
    peer.picture_sinks.append(tap.publish)
    return tap, url


@pytest.fixture
async def tapped(nursery: trio.Nursery, start_peer, tmp_path: Path) -> Tapped:  # type: ignore[no-untyped-def]  # noqa: F811
    """Source (960x540) -> viewer (resolution 360p) with the viewer's tap receiving frames."""
    video = write_video(tmp_path / "clip.avi", width=960, height=540, fps=SOURCE_FPS, frames=90)
    source = await start_peer("source", "cam", source=str(video), loop=True)
    viewer = await start_peer("viewer", "alice", resolution="360p")
    tap, url = await start_tap(nursery, viewer)
    await eventually(lambda: tap.fanout.latest is not None, within_s=10, what="first frame")
    return Tapped(source=source, viewer=viewer, tap=tap, url=url)
