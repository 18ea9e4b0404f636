"""Each viewer decodes at its own resolution, changeable live, and never upscales."""

from __future__ import annotations

import threading
from typing import Any

import protocol as p
from peer.config import PeerHooks
from tests.peer.conftest import PeerStarter
from tests.polling import eventually


async def test_changing_resolution_applies_within_two_frames(start_peer: PeerStarter) -> None:
    shown: list[tuple[int, tuple[int, int]]] = []

    def on_image(image: Any, header: p.FrameHeader) -> None:
        shown.append((header.seq, (image.shape[1], image.shape[0])))

    await start_peer("source", "cam", source="testsrc:1920x1080@15", max_children=2)
    viewer = await start_peer(
        "viewer", "v", hooks=PeerHooks(on_image=on_image), resolution="720p", max_children=0
    )
    await eventually(lambda: len(shown) >= 3, within_s=15, what="frames shown at 720p")
    assert shown[-1][1] == (1280, 720)
    changed_at = len(shown)
    viewer.set_resolution("360p")
    await eventually(
        lambda: any(size == (640, 360) for _, size in shown[changed_at:]),
        within_s=10,
        what="frames shown at 360p",
    )
    first_small = next(
        i for i, (_, size) in enumerate(shown) if i >= changed_at and size == (640, 360)
    )
    assert first_small - changed_at <= 2, "the new size shows within two frames"
    assert viewer.stats()["resolution"] == "360p"


async def test_a_1080p_request_of_a_smaller_stream_is_not_upscaled(
    start_peer: PeerStarter,
) -> None:
    await start_peer("source", "cam", source="testsrc:640x360@15", max_children=2)
    viewer = await start_peer("viewer", "v", resolution="1080p", max_children=0)
    await eventually(lambda: viewer.last_image_size is not None, within_s=15, what="a frame")
    assert viewer.last_image_size == (640, 360)


async def test_the_source_can_cap_the_stream_resolution(start_peer: PeerStarter) -> None:
    await start_peer(
        "source", "cam", source="testsrc:1280x720@15", max_resolution="480p", max_children=2
    )
    viewer = await start_peer("viewer", "v", resolution="source", max_children=0)
    await eventually(lambda: viewer.last_image_size is not None, within_s=15, what="a frame")
    assert viewer.last_image_size == (854, 480)


async def test_a_display_can_prepare_each_picture_in_the_decode_worker(
    start_peer: PeerStarter,
) -> None:
    prepared_on: list[int] = []
    shown: list[tuple[str, int, int]] = []

    def prepare(image: Any) -> tuple[str, int, int]:
        prepared_on.append(threading.get_ident())
        return "ready to draw", image.shape[1], image.shape[0]

    hooks = PeerHooks(prepare_image=prepare, on_image=lambda picture, _: shown.append(picture))
    await start_peer("source", "cam", source="testsrc:1280x720@15", max_children=2)
    viewer = await start_peer("viewer", "v", hooks=hooks, resolution="360p", max_children=0)
    await eventually(lambda: len(shown) >= 2, within_s=15, what="prepared pictures")
    assert shown[-1] == ("ready to draw", 640, 360)
    assert threading.get_ident() not in prepared_on, "never on the event loop's thread"
    assert viewer.last_image_size == (640, 360)
    assert viewer.stats()["resolution"] == "360p"
