"""The app's buttons against a real tracker, without a display: what each window would show.

Each `window` here is the trio side of one app window (an AppController and its
AppModel), driven the way its widgets drive it; the assertions read the model the
widgets draw from.
"""

from __future__ import annotations

import re
import socket

import trio

import protocol as p
from peer.config import PeerConfig
from peer.gui.config import load_settings
from peer.gui.controller import AppController
from peer.gui.viewmodel import SessionModel
from peer.node import Peer
from peer.one_shot import one_shot
from protocol import StatusReply, StatusRequest
from tests.gui.conftest import WindowOpener, log_in
from tests.polling import eventually

PATTERN = "testsrc:1280x720@20"
STREAM_S = 15.0


def session(window: AppController) -> SessionModel:
    model = window.model.session
    assert model is not None, f"no session; login says {window.model.login.error!r}"
    return model


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def streaming(
    open_window: WindowOpener, address: tuple[str, int], name: str = "cam"
) -> AppController:
    window = await open_window(name)
    await log_in(window, name, address, "source")
    assert window.model.screen == "streamer"
    await window.start_stream(PATTERN)
    assert session(window).state == "live", session(window).banner
    return window


async def watching(open_window: WindowOpener, address: tuple[str, int], name: str) -> AppController:
    window = await open_window(name)
    await log_in(window, name, address, "viewer")
    assert window.model.screen == "viewer", window.model.login.error
    model = session(window)
    await eventually(lambda: model.image.version > 0, within_s=STREAM_S, what=f"video at {name}")
    return window


async def names_at_tracker(address: tuple[str, int]) -> set[str]:
    answers = await one_shot(address, "checker", StatusRequest())
    reply = next(a for a in answers if isinstance(a, StatusReply))
    return {info.name for info in reply.peers if info.role != "observer"}


async def test_an_unreachable_tracker_is_explained_on_the_login_screen(
    open_window: WindowOpener,
) -> None:
    window = await open_window("a")
    await log_in(window, "alice", ("127.0.0.1", closed_port()), "viewer")
    login = window.model.login
    assert window.model.screen == "login"
    assert login.error.startswith("Cannot reach the tracker at 127.0.0.1:")
    assert "connection refused" in login.error
    assert not login.busy


async def test_a_name_already_taken_is_refused_in_plain_words(
    open_window: WindowOpener, address: tuple[str, int], nursery: trio.Nursery
) -> None:
    await nursery.start(Peer(PeerConfig(role="viewer", name="Alice", tracker=address)).run)
    window = await open_window("a")
    await log_in(window, "alice", address, "viewer")
    assert window.model.screen == "login"
    error = window.model.login.error
    assert error == "The name 'alice' is already taken. Choose another user name."


async def test_a_second_streamer_is_told_a_stream_is_already_live(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    await streaming(open_window, address, "cam")
    second = await open_window("second")
    await log_in(second, "cam2", address, "source")
    assert second.model.screen == "login"
    assert second.model.login.error.startswith("A stream is already live: cam is streaming")


async def test_joining_with_nothing_live_offers_to_wait_and_shows_the_stream_when_it_starts(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    window = await open_window("alice")
    await log_in(window, "alice", address, "viewer")
    login = window.model.login
    assert login.offer_wait and "No stream is live right now" in login.info
    assert window.model.screen == "login"
    await window.wait_for_stream()
    model = session(window)
    assert window.model.screen == "viewer"
    await eventually(lambda: "No stream is live yet" in model.banner, within_s=5, what="waiting")
    await streaming(open_window, address, "cam")
    await eventually(lambda: model.image.version > 0, within_s=STREAM_S, what="video")
    assert model.banner == "Watching the stream, received from cam."


async def test_cancelling_the_wait_leaves_the_user_on_the_login_screen(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    window = await open_window("alice")
    await log_in(window, "alice", address, "viewer")
    await window.cancel_wait()
    assert not window.model.login.offer_wait and window.model.screen == "login"
    assert "alice" not in await names_at_tracker(address)


async def test_the_streamer_sees_its_preview_its_numbers_and_its_viewers(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await streaming(open_window, address)
    await watching(open_window, address, "alice")
    model = session(cam)
    assert model.image.width == 640, "the preview is decoded small (360p)"
    assert model.stream_size == (1280, 720)
    await eventually(lambda: model.viewers_in_tree == 1, within_s=10, what="one viewer")
    await eventually(
        lambda: dict(model.stats)["Direct children"] == "1 of 3", within_s=5, what="child"
    )
    assert "alice: depth 1, via cam" in model.viewers
    # A busy machine may skip frames, and the line then says how many.
    assert re.fullmatch(r"\d+\.\d fps( \(\d+ skipped\))?", dict(model.stats)["Frames sent"])


async def test_chat_reaches_the_other_window_and_refusals_show_inline(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await streaming(open_window, address)
    alice = await watching(open_window, address, "alice")
    await alice.say("hello from alice")
    await eventually(
        lambda: session(cam).chat.text().endswith("alice: hello from alice"),
        within_s=5,
        what="the line at the streamer",
    )
    await alice.say("x" * 501)
    assert session(alice).chat_error.startswith("Not sent: the message has 501 characters")
    for index in range(12):
        await alice.say(f"flood {index}")
    await eventually(
        lambda: "too many chat messages" in session(alice).chat_error,
        within_s=5,
        what="the rate limit, under the chat",
    )
    assert "too many" not in session(alice).banner


async def test_a_viewer_joining_later_gets_the_chat_history(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await streaming(open_window, address)
    await cam.say("welcome, everyone")
    await eventually(lambda: len(session(cam).chat.lines) == 1, within_s=5, what="own line")
    bob = await watching(open_window, address, "bob")
    assert session(bob).chat.text().endswith("cam: welcome, everyone")


async def test_changing_resolution_changes_the_size_of_the_next_frames(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    await streaming(open_window, address)
    alice = await watching(open_window, address, "alice")
    image = session(alice).image
    await eventually(lambda: image.width == 854, within_s=5, what="480p, the default")
    await alice.set_resolution("360p")
    await eventually(lambda: (image.width, image.height) == (640, 360), within_s=5, what="360p")
    await alice.set_resolution("1080p")
    await eventually(lambda: image.width == 1280, within_s=5, what="the stream's own 720p")
    assert load_settings(alice.settings_file).resolution == "1080p", "remembered"


async def test_viewers_are_told_when_the_stream_ends_and_see_the_next_one(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await streaming(open_window, address)
    alice = await watching(open_window, address, "alice")
    await cam.stop_stream()
    assert session(cam).state == "idle" and "Press Start" in session(cam).banner
    model = session(alice)
    await eventually(lambda: model.state == "ended", within_s=5, what="the end")
    assert "ended" in model.banner and model.warning
    await streaming(open_window, address, "cam2")
    # The old stream's last picture may still land after its end (it was being decoded),
    # so the new video is counted from the moment the viewer watches cam2.
    await eventually(lambda: model.state == "live", within_s=STREAM_S, what="watching again")
    assert model.banner == "Watching the stream, received from cam2."
    seen = model.image.version
    await eventually(lambda: model.image.version > seen, within_s=STREAM_S, what="video again")


async def test_a_file_that_cannot_be_opened_is_explained_and_start_works_again(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await open_window("cam")
    await log_in(cam, "cam", address, "source")
    await cam.start_stream("/nonexistent/movie.mp4")
    model = session(cam)
    assert model.state == "idle"
    assert model.banner == "No such video file: /nonexistent/movie.mp4."
    await cam.start_stream(PATTERN)
    assert model.state == "live"


async def test_closing_the_windows_leaves_the_tracker(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await streaming(open_window, address)
    alice = await watching(open_window, address, "alice")
    assert await names_at_tracker(address) == {"cam", "alice"}
    for window in (cam, alice):
        window.close()
    with trio.fail_after(5):
        for window in (cam, alice):
            await window.finished.wait()
    assert await names_at_tracker(address) == set()


async def test_the_login_fields_are_remembered(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    first = await open_window("same")
    await log_in(first, "cam", address, "source")
    again = await open_window("same")
    assert again.model.login.username == "cam"
    assert again.model.login.tracker == f"{address[0]}:{address[1]}"


async def test_the_codec_chosen_on_the_streamer_screen_is_streamed_and_remembered(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await open_window("cam")
    await log_in(cam, "cam", address, "source")
    model = session(cam)
    assert model.codec is p.Codec.JPEG, "JPEG until the user picks another"
    assert model.choose_codec(p.Codec.H264)
    await cam.start_stream(PATTERN)
    assert model.state == "live", model.banner
    assert cam._session is not None and cam._session.peer.config.codec is p.Codec.H264
    assert load_settings(cam.settings_file).codec == "h264"
    alice = await watching(open_window, address, "alice")
    assert alice._session is not None and alice._session.peer.stats()["codec"] == "h264"
    await cam.stop_stream()

    again = await open_window("cam")
    await log_in(again, "cam", address, "source")
    assert session(again).codec is p.Codec.H264, "offered first the next time"


async def test_children_connect_on_every_interface_where_the_tracker_sends_them(
    open_window: WindowOpener, address: tuple[str, int]
) -> None:
    cam = await streaming(open_window, address)
    assert cam._session is not None
    peer = cam._session.peer
    assert peer.config.listen == ("::", 0)  # the tracker tells each child which address
    assert peer.dial_address().startswith("127.0.0.1:")  # as this tracker sees us
