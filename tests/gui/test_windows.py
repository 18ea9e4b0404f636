"""Real app windows on a private X display, driven through their widgets.

Each test is one trio run hosted by Tk's mainloop (the app's own guest-mode host), in
which a real tracker and two app windows run side by side, as two users on one machine
would; the test types into the entries, presses the buttons, and reads what the windows
show. Every wait polls with a deadline, and every test is bounded by SCENARIO_S.
"""

from __future__ import annotations

import re
import tkinter as tk
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from peer.gui.config import load_settings
from peer.gui.guest import run_in_tk
from peer.gui.streamer import StreamerScreen
from peer.gui.viewer import ViewerScreen
from peer.gui.window import App
from peer.one_shot import one_shot
from protocol import Codec, StatusReply, StatusRequest
from tests.peer.conftest import write_video
from tests.polling import eventually
from tracker.service import Tracker, TrackerConfig

SCENARIO_S = 40.0
VIDEO_S = 15.0
# What a window shows after an action or a status poll (every 2 s) takes well under 3 s;
# the deadline is a few times that, for a loaded machine.
SHOWN_S = 10.0

Scenario = Callable[..., Awaitable[None]]


def run_windows(scenario: Scenario, *args: Any) -> None:
    """Run `scenario(*args)` inside a Tk mainloop, failing it after SCENARIO_S."""

    async def bounded() -> None:
        with trio.fail_after(SCENARIO_S):
            await scenario(*args)

    run_in_tk(bounded)


@asynccontextmanager
async def desktop(
    config: TrackerConfig, settings: Path, *labels: str
) -> AsyncIterator[tuple[tuple[str, int], list[App]]]:
    """A tracker and one app window per label, all stopped on the way out."""
    async with trio.open_nursery() as nursery:
        tracker = Tracker(config)
        await nursery.start(tracker.serve)
        assert tracker.address is not None
        windows = [
            App(tk.Tk(), settings_file=settings / f"{label}.json", port_mapping=False)
            for label in labels
        ]
        for window in windows:
            await nursery.start(window.run)
        try:
            yield tracker.address, windows
        finally:
            for window in windows:
                if not window.controller.finished.is_set():
                    window.close()
            with trio.move_on_after(5):
                for window in windows:
                    await window.controller.finished.wait()
            for window in windows:
                window.destroy()
            nursery.cancel_scope.cancel()


def log_in(window: App, name: str, address: tuple[str, int], button: str) -> None:
    """Type into the login entries and press a button, as a user would."""
    login = window.login
    tracker = f"{address[0]}:{address[1]}"
    for entry, text in ((login.username_entry, name), (login.tracker_entry, tracker)):
        entry.delete(0, "end")
        entry.insert(0, text)
    getattr(login, f"{button}_button").invoke()


async def join_and_watch_480p(window: App, address: tuple[str, int], what: str) -> ViewerScreen:
    """Log `window` in as alice, join the stream, and wait for its video at 480p."""
    log_in(window, "alice", address, "join")
    await eventually(
        lambda: isinstance(window.screen, ViewerScreen), within_s=SHOWN_S, what="viewer"
    )
    viewer = window.screen
    assert isinstance(viewer, ViewerScreen)
    await eventually(lambda: viewer.video.shown_size() == (854, 480), within_s=VIDEO_S, what=what)
    return viewer


def close(window: App) -> None:
    """What the window manager's close button does (WM_DELETE_WINDOW)."""
    window.root.tk.call(window.root.protocol("WM_DELETE_WINDOW"))


async def names_at_tracker(address: tuple[str, int]) -> set[str]:
    answers = await one_shot(address, "checker", StatusRequest())
    reply = next(a for a in answers if isinstance(a, StatusReply))
    return {info.name for info in reply.peers if info.role != "observer"}


def test_stream_a_file_watch_it_chat_change_resolution_and_leave(
    x_display: str, tracker_config: TrackerConfig, tmp_path: Path
) -> None:
    video = write_video(tmp_path / "clip.avi", width=1280, height=720, frames=60)

    async def scenario() -> None:
        async with desktop(tracker_config, tmp_path, "cam", "alice") as (address, windows):
            cam, alice = windows
            log_in(cam, "cam", address, "stream")
            await eventually(
                lambda: isinstance(cam.screen, StreamerScreen), within_s=SHOWN_S, what="streamer"
            )
            streamer = cam.screen
            assert isinstance(streamer, StreamerScreen)
            streamer.path_entry.insert(0, str(video))
            streamer.start_button.invoke()
            await eventually(
                lambda: streamer.preview.shown_size() == (640, 360),
                within_s=VIDEO_S,
                what="the preview of what is sent",
            )
            assert streamer.stop_button.instate(["!disabled"])
            assert streamer.start_button.instate(["disabled"])

            viewer = await join_and_watch_480p(alice, address, "video at 480p, the default")
            assert viewer.banner.cget("text") == "Watching the stream, received from cam."
            await eventually(
                lambda: viewer.stats.value("Parent") == "cam", within_s=SHOWN_S, what="stats"
            )
            assert viewer.stats.value("Depth") == "1 hop from the source"
            await eventually(
                lambda: "alice (you): depth 1, via cam" in viewer.viewers.lines(),
                within_s=SHOWN_S,
                what="the viewer list",
            )
            await eventually(
                lambda: streamer.stats.value("Viewers in the tree") == "1",
                within_s=SHOWN_S,
                what="the streamer's count of viewers",
            )

            viewer.chat.entry.insert(0, "hello from alice")
            viewer.chat.entry.focus_force()
            viewer.chat.entry.event_generate("<Return>")
            await eventually(
                lambda: "alice: hello from alice" in streamer.chat.shown_text(),
                within_s=SHOWN_S,
                what="alice's line in the streamer's window",
            )
            assert viewer.chat.entry.get() == ""

            viewer.resolution.set("360p")
            viewer.resolution.event_generate("<<ComboboxSelected>>")
            await eventually(
                lambda: viewer.video.shown_size() == (640, 360),
                within_s=SHOWN_S,
                what="the video at 360p",
            )

            assert await names_at_tracker(address) == {"cam", "alice"}
            close(alice)
            close(cam)
            with trio.fail_after(5):
                await alice.controller.finished.wait()
                await cam.controller.finished.wait()
            assert await names_at_tracker(address) == set()

    run_windows(scenario)


def test_stream_the_test_pattern_in_h264_chosen_on_the_streamer_screen_and_watch_it(
    x_display: str, tracker_config: TrackerConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with desktop(tracker_config, tmp_path, "cam", "alice") as (address, windows):
            cam, alice = windows
            log_in(cam, "cam", address, "stream")
            await eventually(
                lambda: isinstance(cam.screen, StreamerScreen), within_s=SHOWN_S, what="streamer"
            )
            streamer = cam.screen
            assert isinstance(streamer, StreamerScreen)
            assert streamer.codec.get() == "jpeg", "JPEG is chosen until the user picks another"
            streamer.pattern_choice.invoke()
            streamer.codec_choices[Codec.H264].invoke()
            streamer.start_button.invoke()
            await eventually(
                lambda: streamer.preview.shown_size() == (640, 360),
                within_s=VIDEO_S,
                what="the preview of the H.264 stream",
            )
            assert all(b.instate(["disabled"]) for b in streamer.codec_choices.values())
            await eventually(
                lambda: streamer.stats.value("Codec") == "H.264", within_s=SHOWN_S, what="stats"
            )
            assert streamer.stats.value("Encode time").endswith(" ms a frame")
            assert streamer.stats.value("Stream bitrate").endswith("b/s")

            viewer = await join_and_watch_480p(
                alice, address, "H.264 pictures at 480p in the viewer"
            )
            frames = viewer.video.frames_drawn
            await eventually(
                lambda: viewer.video.frames_drawn >= frames + 10,
                within_s=SHOWN_S,
                what="the H.264 video moving on",
            )
            assert viewer.banner.cget("text") == "Watching the stream, received from cam."
            await eventually(
                lambda: viewer.stats.value("Codec") == "H.264",
                within_s=SHOWN_S,
                what="viewer stats",
            )
            assert re.fullmatch(r"none|\d+ frames? not shown", viewer.stats.value("Undecodable"))

            streamer.stop_button.invoke()
            await eventually(
                lambda: streamer.start_button.instate(["!disabled"]),
                within_s=SHOWN_S,
                what="stopped",
            )
            assert all(b.instate(["!disabled"]) for b in streamer.codec_choices.values())
            assert load_settings(tmp_path / "cam.json").codec == "h264", "remembered"

    run_windows(scenario)


def test_login_problems_appear_in_the_window(
    x_display: str, tracker_config: TrackerConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with desktop(tracker_config, tmp_path, "a", "b") as (address, windows):
            first, second = windows
            log_in(first, "alice", ("127.0.0.1", 1), "join")
            await eventually(
                lambda: "Cannot reach the tracker" in first.login.message.cget("text"),
                within_s=10,
                what="the unreachable tracker, explained",
            )
            assert first.login.join_button.instate(["!disabled"])

            log_in(first, "alice", address, "join")
            await eventually(
                lambda: "No stream is live right now" in first.login.message.cget("text"),
                within_s=SHOWN_S,
                what="the offer to wait",
            )
            assert first.login.wait_buttons.winfo_manager() == "grid"
            first.login.wait_button.invoke()
            await eventually(
                lambda: isinstance(first.screen, ViewerScreen), within_s=SHOWN_S, what="waiting"
            )

            log_in(second, "ALICE", address, "stream")
            await eventually(
                lambda: "already taken" in second.login.message.cget("text"),
                within_s=SHOWN_S,
                what="the name taken, explained",
            )

    run_windows(scenario)
